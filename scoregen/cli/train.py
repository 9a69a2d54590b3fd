"""``scoregen train | sample | plot | suggest-sigmas``: training runs and what they produce.

A run folder ``DIR`` (``train --out DIR``) holds ``model/`` (the final model),
``checkpoints/step-XXXXXXXX/`` and ``metrics.jsonl``. Under ``torchrun`` only rank 0 writes.
"""

import json
from pathlib import Path

from scoregen._extras import require
from scoregen.errors import CheckpointError, ConfigError, DataError

PICTURE_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg")


def output_folder(path, flag: str = "--out") -> Path:
    """``path`` as a folder that can be written: not an existing file, and under no file."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{flag} {str(path)!r} is an existing file, not a folder")
    _no_file_above(path, flag)
    return path


def _no_file_above(path: Path, flag: str) -> None:
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(f"{flag} {str(path)!r} is under {str(parent)!r}, which is a file, not a folder")
            return


def output_file(path, flag: str, suffixes: tuple[str, ...]) -> Path:
    """``path`` as a file that can be written: a known suffix, not a folder, in a writable place."""
    path = Path(path)
    if path.suffix.lower() not in suffixes:
        raise ConfigError(f"{flag} {str(path)!r}: the file type must be one of {', '.join(suffixes)}")
    if path.is_dir():
        raise ConfigError(f"{flag} {str(path)!r} is a folder, not a file")
    _no_file_above(path, flag)
    return path


def load_data(spec: str, params: dict[str, str] | None = None):
    """The data ``--data spec`` names: a registered dataset (``digits``, ``gmm``, a plugin's) or a
    path (an image folder, ``.npy``, ``.npz``, ``.csv``), made with the ``--set data.*`` values
    ``params`` typed for its factory."""
    from scoregen.cli.overrides import typed_params
    from scoregen.data.named import open_data, reader_name
    from scoregen.plugins import get_registry

    registry = get_registry()
    name = reader_name(spec, registry)
    typed = typed_params("dataset", name, registry.get("dataset", name).factory, params or {})
    return open_data(spec, registry, **typed)


def hardware_options(args, verb=None) -> tuple[dict, dict]:
    """``(build keywords, TrainConfig fields)`` for ``--device``, ``--precision`` and
    ``--compile``, each passed on only when given (``verb``: the function that takes ``device``,
    :func:`scoregen.build` by default); a refusal names the option when this version of scoregen
    lacks it."""
    import inspect

    import attrs

    from scoregen import build
    from scoregen.training import TrainConfig

    build_kw, train_kw = {}, {}
    if getattr(args, "device", None) is not None:
        if "device" not in inspect.signature(verb or build).parameters:
            raise ConfigError("--device: this version of scoregen has no device support yet")
        build_kw["device"] = args.device
    fields = attrs.fields_dict(TrainConfig)
    for option, value in (("precision", getattr(args, "precision", None)), ("compile", getattr(args, "compile", False) or None)):
        if value is not None:
            if option not in fields:
                raise ConfigError(f"--{option}: this version of scoregen has no {option} option for training yet")
            train_kw[option] = value
    return build_kw, train_kw


def resolve_model(path, **overrides):
    """The model in a run folder (``DIR/model``, else its newest good checkpoint) or a saved
    model folder; ``overrides`` go to :func:`scoregen.load`."""
    from scoregen import load
    from scoregen.training.checkpoint import checkpoint_dirs, read_checkpoint

    path = Path(path)
    if (path / "model").is_dir():
        return load(path / "model", **overrides)
    for ckpt in checkpoint_dirs(path / "checkpoints"):
        try:
            read_checkpoint(ckpt)
        except CheckpointError:
            continue
        return load(ckpt, **overrides)
    return load(path, **overrides)


def _cmd_train(args) -> int:
    from scoregen import build
    from scoregen.cli.overrides import model_overrides, parse_sets
    from scoregen.plugins import get_registry
    from scoregen.training import TrainConfig, distributed, train

    rank, world = distributed.setup()
    try:
        registry = get_registry()
        sets = parse_sets(args.set)
        overrides = model_overrides(registry.get("preset", args.preset).factory(), sets, registry)
        build_kw, train_kw = hardware_options(args)
        data = load_data(args.data, sets.get("data"))
        config = TrainConfig(
            steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed, log_every=args.log_every,
            ema_decay=None if args.no_ema else args.ema_decay, grad_clip=args.grad_clip,
            checkpoint_every=args.checkpoint_every, shards=args.shards, **train_kw,
        )
        out = output_folder(args.out)
        model = build(args.preset, **overrides, **build_kw)
        model = train(model, data, config, num_workers=args.num_workers, out=out, resume=args.resume, progress=not args.quiet)
        if rank == 0:
            model.save(out / "model")
            last = model.history[-1] if model.history else {}
            print(json.dumps({"step": model.step, "loss": last.get("loss"), "processes": world, "out": str(out)}))
    finally:
        distributed.teardown()
    return 0


def _cmd_sample(args) -> int:
    require("plot")  # before the sampling, not after it
    output_file(args.out, "--out", PICTURE_SUFFIXES)
    if args.npy:
        output_file(args.npy, "--npy", (".npy",))
    from scoregen import load

    model = resolve_model(args.dir, **hardware_options(args, load)[0])
    samples = model.sample(args.n, seed=args.seed, sampler=args.sampler, progress=not args.quiet)
    _picture(samples, args.out, title=f"{model.config.preset or 'model'}, step {model.step}")
    if args.npy:
        import numpy as np

        np.save(args.npy, samples.numpy())
    print(f"wrote {args.out}" + (f" and {args.npy}" if args.npy else ""))
    return 0


def _picture(samples, path, *, title: str):
    from scoregen import plotting

    if samples.ndim == 4:
        return plotting.plot_image_grid(samples, path, title=title)
    if samples.ndim == 2 and samples.shape[1] == 2:
        lim = float(samples.abs().quantile(0.99)) * 1.2
        return plotting.plot_samples(samples, path, lim=lim, title=title)
    raise DataError(f"no picture for samples of event shape {list(samples.shape[1:])}")


def _cmd_plot(args) -> int:
    require("plot")
    from scoregen import plotting

    out = output_folder(args.dir, "DIR")
    model = resolve_model(out)
    written = []
    if model.history:
        written.append(plotting.plot_loss_curves(model.history, model.kernel.sigmas, out / "loss.png"))
    samples = model.sample(args.n, seed=args.seed, progress=not args.quiet)
    written.append(_picture(samples, out / "samples.png", title=f"samples, step {model.step}"))
    if model.event_shape == (2,):
        sigmas = model.kernel.sigmas.tolist()
        lim = float(samples.abs().quantile(0.99)) * 1.2
        fields = {"learned": model.sampling_estimator("plot")}
        written.append(plotting.plot_score_fields(fields, [sigmas[len(sigmas) // 3], sigmas[-2]], out / "score_field.png", lim=lim))
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def _cmd_suggest(args) -> int:
    from scoregen.data import as_source
    from scoregen.kernels.techniques import suggest

    data = as_source(load_data(args.data)).preview()  # a set not in memory: up to PREVIEW_ROWS rows
    print(suggest(data, sigma_min=args.sigma_min, n_steps_each=args.steps_each).report())
    return 0


def add_commands(sub, common) -> None:
    """Add ``train``, ``sample``, ``plot`` and ``suggest-sigmas`` to the ``scoregen`` parser;
    ``common`` is the parent parser of the options every command shares (``--threads``)."""
    train = sub.add_parser("train", parents=[common], help="train a preset on a data set, folder or file (torchrun for DDP)")
    train.add_argument("preset", help="a registered preset, e.g. ncsn or ncsnv2")
    train.add_argument("--data", required=True, help="a registered dataset (digits, gmm, ...; scoregen list dataset), an image folder, or a .npy/.npz/.csv file")
    train.add_argument("--set", action="append", default=[], metavar="PART.PARAM=VALUE",
                       help="set a parameter of a part (kernel, estimator, objective, sampler, data), or PART=NAME to swap it; repeatable")
    train.add_argument("--num-workers", type=int, default=0, help="processes reading the data ahead of the steps (default: 0)")
    train.add_argument("--device", default=None, help="where the model trains, e.g. cpu, cuda, cuda:1 (default: cpu)")
    train.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default=None, help="autocast precision (default: fp32)")
    train.add_argument("--compile", action="store_true", help="wrap the network with torch.compile")
    train.add_argument("--steps", type=int, required=True)
    train.add_argument("--out", required=True, help="run folder: model/, checkpoints/, metrics.jsonl")
    train.add_argument("--resume", action="store_true", help="continue from the newest good checkpoint in --out")
    train.add_argument("--batch-size", type=int, default=128, help="global batch (default: 128)")
    train.add_argument("--lr", type=float, default=1e-3)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--log-every", type=int, default=100)
    train.add_argument("--checkpoint-every", type=int, default=500, help="steps between checkpoints (default: 500)")
    train.add_argument("--ema-decay", type=float, default=0.999)
    train.add_argument("--no-ema", action="store_true", help="sample with the trained weights, no EMA")
    train.add_argument("--grad-clip", type=float, default=None, help="cap on the gradient norm (default: none)")
    train.add_argument("--shards", type=int, default=None, help="data/noise streams (default: the number of processes)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(run=_cmd_train)

    sample = sub.add_parser("sample", parents=[common], help="draw samples from a run folder or saved model; write a PNG")
    sample.add_argument("dir")
    sample.add_argument("-n", type=int, default=64)
    sample.add_argument("--sampler", default=None, help="a registered sampler to use instead of the model's")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--out", default="samples.png", help="PNG: an image grid, or a scatter for 2-D")
    sample.add_argument("--npy", default=None, help="also save the samples as .npy")
    sample.add_argument("--device", default=None, help="where to sample, e.g. cpu, cuda (default: cpu)")
    sample.add_argument("--quiet", action="store_true")
    sample.set_defaults(run=_cmd_sample)

    plot = sub.add_parser("plot", parents=[common], help="loss per level, samples and (2-D) the score field, into the run folder")
    plot.add_argument("dir")
    plot.add_argument("-n", type=int, default=64)
    plot.add_argument("--seed", type=int, default=0)
    plot.add_argument("--quiet", action="store_true")
    plot.set_defaults(run=_cmd_plot)

    suggest = sub.add_parser("suggest-sigmas", parents=[common], help="NCSNv2 Techniques 1, 2 and 4 for a data set, with the reasoning")
    suggest.add_argument("data", help="a registered dataset, an image folder, or a .npy/.npz/.csv file")
    suggest.add_argument("--sigma-min", type=float, default=0.01)
    suggest.add_argument("--steps-each", type=int, default=5, help="Langevin steps per level T (default: 5)")
    suggest.set_defaults(run=_cmd_suggest)
