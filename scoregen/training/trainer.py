"""The trainer behind :meth:`ScoreModel.fit` and ``scoregen train``: Adam, a cosine learning
rate, gradient clipping, an EMA of the weights, metrics to JSON lines, atomic checkpoints and
exact resume, single-process or data-parallel under ``torchrun``."""

import contextlib
import functools
import hashlib
import json
import math
import re
import time
from pathlib import Path

import attrs
import torch

from scoregen import _validators as v
from scoregen import io
from scoregen._tensor import check_fits_in_memory, make_generator
from scoregen.data.sources import StreamSource, as_source
from scoregen.errors import CheckpointError, ConfigError, NumericalError, ScoregenError
from scoregen.estimators.conditioning import classes_of, drop_labels
from scoregen.objectives.base import level_index
from scoregen.training import distributed
from scoregen.training.checkpoint import checkpoint_dirs, latest_checkpoint, write_checkpoint
from scoregen.training.ema import EMA

TRAINER_JSON = "trainer.json"
TRAINER_TENSORS = "trainer.safetensors"
CHECKPOINTS = "checkpoints"
METRICS = "metrics.jsonl"
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@attrs.frozen(kw_only=True)
class TrainConfig:
    """What a training run does. ``batch_size`` is the global batch; ``lr`` is in ``(0, 1000]``; ``ema_decay=None`` turns the
    EMA off; ``grad_clip`` caps the global gradient norm; ``checkpoint_every=0`` writes a
    checkpoint only at the end (when there is an output folder).

    ``shards`` (default: the number of processes) splits the data and the batch into that many
    streams, shard ``s`` holding rows ``s, s + S, …`` and drawing ``batch_size/S`` rows and their
    noise from its own generator (seeded ``seed + 1 000 003 s``). Processes share the shards out,
    so a run's arithmetic depends on ``shards``, not on how many processes carry it: one process
    with ``shards=2`` computes what two do under ``torchrun`` (up to the order of floating-point
    sums).

    ``precision`` (``"fp32"``, ``"bf16"``, ``"fp16"``) runs the network's forward pass under
    ``torch.autocast`` in that dtype (``"fp16"`` with a ``torch.amp.GradScaler``); the weights,
    the optimiser, the noise, the loss and everything the samplers do stay float32 (schedules
    float64). ``compile=True`` trains through ``torch.compile`` of the network (and samples
    through a compiled EMA copy; :meth:`ScoreModel.compile`).
    """

    steps: int = attrs.field(default=3000, validator=v.non_negative_count)
    batch_size: int = attrs.field(default=128, validator=v.count)
    lr: float = attrs.field(default=1e-3, validator=v.real(positive=True, at_most=1e3))
    lr_decay: str = attrs.field(default="cosine", validator=v.choice("cosine", "none"))
    warmup: int = attrs.field(default=0, validator=v.non_negative_count)
    seed: int = attrs.field(default=0, validator=v.seed)
    ema_decay: float | None = attrs.field(default=0.999, validator=v.optional(v.real(non_negative=True, below=1.0)))
    grad_clip: float | None = attrs.field(default=None, validator=v.optional(v.positive))
    log_every: int = attrs.field(default=100, validator=v.count)
    checkpoint_every: int = attrs.field(default=0, validator=v.non_negative_count)
    keep: int = attrs.field(default=2, validator=v.count)
    shards: int | None = attrs.field(default=None, validator=v.optional(v.count))
    precision: str = attrs.field(default="fp32", validator=v.choice(*PRECISIONS))
    compile: bool = attrs.field(default=False, validator=v.boolean)

    def lr_at(self, k: int) -> float:
        """The learning rate of step ``k = 1..steps``: ``lr · ½(1 + cos(π (k−1)/steps))`` for
        ``"cosine"`` (from ``lr`` towards 0), else ``lr``; times ``min(1, k/warmup)`` during a
        linear warm-up of ``warmup`` steps."""
        ramp = min(1.0, k / self.warmup) if self.warmup else 1.0
        if self.lr_decay == "none":
            return self.lr * ramp
        return ramp * self.lr * 0.5 * (1.0 + math.cos(math.pi * (k - 1) / max(self.steps, 1)))


def step_seed(seed: int, shard: int, step: int) -> int:
    """The seed of the rows shard ``shard`` reads at step ``step`` of a run seeded ``seed``."""
    return int.from_bytes(hashlib.blake2b(f"{seed}/{shard}/{step}".encode(), digest_size=8).digest(), "little")


class StepRows(torch.utils.data.Dataset):
    """Item ``k``: the batch of each shard in ``shards`` for step ``k``, read from a row source.

    Shard ``s`` of ``S`` holds rows ``s, s + S, …`` of the ``N`` and draws ``per_shard`` of them
    with replacement from a generator seeded by ``(seed, s, k)`` alone (:func:`step_seed`): the
    rows of any step are known without replaying the run, so a resumed run reads what the
    uninterrupted one read, and worker processes can fetch steps ahead.
    """

    def __init__(self, source, *, seed: int, n_shards: int, shards: range, per_shard: int):
        self.source, self.seed, self.n_shards, self.shards, self.per_shard = source, seed, n_shards, shards, per_shard
        self.held = [len(range(s, len(source), n_shards)) for s in shards]
        self.generator = torch.Generator()

    def index(self, shard: int, held: int, step: int) -> torch.Tensor:
        self.generator.manual_seed(step_seed(self.seed, shard, step))  # one generator, reseeded: cheaper than a new one
        local = torch.randint(held, (self.per_shard,), generator=self.generator)
        return local if self.n_shards == 1 else shard + self.n_shards * local

    def __getitem__(self, step: int) -> list:
        return [self.source.rows(self.index(s, held, step)) for s, held in zip(self.shards, self.held)]


def _as_is(item):
    return item


def autocast(precision: str, device: torch.device):
    """The context the forward pass runs in: ``torch.autocast`` for ``"bf16"``/``"fp16"``."""
    dtype = PRECISIONS[precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


class _Run:
    """One call of :func:`train`: the state that a checkpoint must capture."""

    def __init__(self, model, source, config: TrainConfig, out, num_workers: int = 0):
        self.rank, self.world = distributed.setup(model.device)
        shards = config.shards or self.world
        if shards % self.world:
            raise ConfigError(f"shards={shards} must be a multiple of the number of processes {self.world}")
        if config.batch_size % shards:
            raise ConfigError(f"batch_size {config.batch_size} must be divisible by shards={shards}")
        self.model, self.config = model, attrs.evolve(config, shards=shards)
        self.device = model.device
        self.source, self.num_workers = source, num_workers
        self.streamed = isinstance(source, StreamSource)
        self.data_shape = [None if self.streamed else len(source), *model.event_shape]
        if not self.streamed and len(source) < shards:
            raise ConfigError(f"{len(source)} rows cannot fill shards={shards}")
        if self.streamed and num_workers:
            raise ConfigError("num_workers reads a map-style data set; a DataLoader brings its own workers")
        self.mine = range(self.rank * shards // self.world, (self.rank + 1) * shards // self.world)
        self.shard_batch = config.batch_size // shards
        check_fits_in_memory((config.batch_size, *model.event_shape), f"a batch of {config.batch_size} rows")
        self.generators = [make_generator(self.device, config.seed + 1_000_003 * s) for s in self.mine]
        self.conditional = classes_of(model.estimator) is not None
        self.drop = getattr(getattr(model.estimator, "conditioning", None), "drop", 0.0)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=config.precision == "fp16")
        self.params = model.parameters()
        if not self.params:
            raise ConfigError(f"the estimator {type(model.estimator).__name__} has no trainable parameters")
        self.optimizer = torch.optim.Adam(self.params, lr=config.lr)
        if config.ema_decay is None:
            model.ema = None
        elif model.ema is None or model.ema.decay != config.ema_decay:
            model.ema = EMA(model.estimator, config.ema_decay)
        self.k = 0
        self.out = None if out is None else Path(out)

    # ------------------------------------------------------------- checkpoints

    @functools.cached_property
    def fingerprint(self) -> str:
        """The data's fingerprint, hashed when a checkpoint is first written or read (hashing a
        large training set is the largest part of a short run's start-up otherwise)."""
        return self.source.fingerprint

    def _trainer_state(self) -> tuple[dict, dict[str, torch.Tensor]]:
        local = torch.stack([g.get_state() for g in self.generators])
        states = torch.cat(distributed.all_gather(local))
        tensors = {f"rng/shard{s}": state for s, state in enumerate(states)}
        tensors["rng/torch"] = torch.get_rng_state()
        optim = self.optimizer.state_dict()
        scalars = {}
        for idx, state in optim["state"].items():
            for name, value in state.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"optim/{idx}/{name}"] = value
                else:
                    scalars[f"{idx}/{name}"] = value
        document = {
            "k": self.k,
            "train_config": attrs.asdict(self.config),
            "data": {"fingerprint": self.fingerprint, "shape": self.data_shape},
            "param_groups": optim["param_groups"],
            "optim_scalars": scalars,
            "ema_updates": None if self.model.ema is None else self.model.ema.updates,
            "grad_scaler": self.scaler.state_dict(),
        }
        return document, tensors

    def _folder(self) -> Path:
        """``out``, which checkpointing and resuming need."""
        if self.out is None:
            raise ConfigError("checkpoints need an output folder: pass out=...")
        return self.out

    def save_checkpoint(self) -> None:
        document, tensors = self._trainer_state()  # every process takes part in the gather
        if self.rank == 0:
            files = io.encode_model(*self.model.payload())
            files[TRAINER_TENSORS] = io.encode_tensors(tensors)
            files[TRAINER_JSON] = json.dumps(document, indent=2).encode()
            write_checkpoint(self._folder() / CHECKPOINTS, self.k, files, keep=self.config.keep)
        distributed.barrier()

    def _decode(self, files: dict[str, bytes], path) -> tuple[dict, dict, dict, dict]:
        """The checkpoint's files parsed, every field this run reads checked (a bad one is a
        :class:`CheckpointError` naming the file and the field)."""
        for name in (io.CONFIG, io.WEIGHTS, TRAINER_JSON, TRAINER_TENSORS):
            if name not in files:
                raise CheckpointError(f"checkpoint {path} has no {name}")
        document = io.decode_document(files[io.CONFIG], path / io.CONFIG)
        state = io.decode_tensors(files[io.WEIGHTS], path / io.WEIGHTS, finite=True)
        where = path / TRAINER_JSON
        trainer = io.parse_json(files[TRAINER_JSON], where)
        if not isinstance(trainer, dict):
            raise CheckpointError(f"{where} is not a JSON object")
        io.field(trainer, "k", where, io.is_count)
        io.field(trainer, "train_config", where, lambda c: isinstance(c, dict))
        io.field(trainer, "data", where, lambda d: isinstance(d, dict) and isinstance(d.get("fingerprint"), str))
        io.field(trainer, "param_groups", where, lambda g: isinstance(g, list) and all(isinstance(e, dict) for e in g))
        io.field(
            trainer, "optim_scalars", where,
            lambda s: isinstance(s, dict) and all(re.fullmatch(r"\d+/\w+", k) and io.is_number(v) for k, v in s.items()),
        )
        io.field(trainer, "ema_updates", where, lambda u: u is None or io.is_count(u))
        tensors = io.decode_tensors(files[TRAINER_TENSORS], path / TRAINER_TENSORS)
        for key in tensors:
            if not (key == "rng/torch" or re.fullmatch(r"rng/shard\d+", key) or re.fullmatch(r"optim/\d+/\w+", key)):
                raise CheckpointError(f"{path / TRAINER_TENSORS}: unexpected tensor {key[:80]!r}")
        return document, state, trainer, tensors

    def _restore(self, files: dict[str, bytes], path) -> None:
        """Put checkpoint ``path`` into this run (model, optimiser, generators, step), or raise
        :class:`CheckpointError` so that the caller falls back to an older checkpoint. Whatever
        a failed restore changed, the next successful one replaces entirely."""
        document, state, trainer, tensors = self._decode(files, path)
        saved = {k: v for k, v in trainer["train_config"].items() if k != "steps"}
        current = {k: v for k, v in attrs.asdict(self.config).items() if k != "steps"}
        if saved != current:
            raise CheckpointError(
                f"checkpoint {path} was written by a run with other settings {trainer['train_config']}; "
                f"this run has {attrs.asdict(self.config)} (resume needs the same ones; only steps may grow)"
            )
        if trainer["k"] > self.config.steps:
            raise CheckpointError(f"checkpoint {path} is at step {trainer['k']}, beyond this run's steps={self.config.steps}")
        if trainer["data"]["fingerprint"] != self.fingerprint:
            raise CheckpointError(
                f"checkpoint {path} was written for data {trainer['data']} but this run has "
                f"{self.data_shape} with fingerprint {self.fingerprint}"
            )
        model = self.model
        try:
            model.restore(state, document)
        except CheckpointError:
            raise
        except ScoregenError as exc:
            raise CheckpointError(f"{path / io.CONFIG}: field 'config' does not rebuild the model: {exc}") from None
        try:
            optim_state: dict[int, dict] = {}
            for key, value in tensors.items():
                if key.startswith("optim/"):
                    _, idx, name = key.split("/", 2)
                    optim_state.setdefault(int(idx), {})[name] = value
            for key, value in trainer["optim_scalars"].items():
                idx, name = key.split("/", 1)
                optim_state.setdefault(int(idx), {})[name] = value
            self.optimizer.load_state_dict({"state": optim_state, "param_groups": trainer["param_groups"]})
            for s, generator in zip(self.mine, self.generators):
                generator.set_state(tensors[f"rng/shard{s}"])
            torch.set_rng_state(tensors["rng/torch"])
            if trainer.get("grad_scaler"):
                self.scaler.load_state_dict(trainer["grad_scaler"])
        except (KeyError, IndexError, TypeError, ValueError, RuntimeError) as exc:
            raise CheckpointError(f"{path}: the trainer state does not fit this run: {type(exc).__name__}: {exc}") from None
        self.k = trainer["k"]

    def resume(self) -> Path | None:
        """Restore the newest good checkpoint under ``out``, passing over malformed ones; its
        path, or ``None`` if there is none (then the run starts clean: stale metrics removed)."""
        found = latest_checkpoint(self._folder() / CHECKPOINTS, self._restore)
        if self.rank == 0:
            if found is None:
                (self._folder() / METRICS).unlink(missing_ok=True)  # killed before its first checkpoint
            else:
                _truncate_metrics(self._folder() / METRICS, self.model.step)
        return None if found is None else found[0]

    # ------------------------------------------------------------- the loop

    def log(self, pooled_loss: list, pooled_sigma: list, started: float, rate: float) -> dict:
        """A history entry for the terms since the last one, pooled over processes; ``rate`` is
        the steps a second since the last one (written to ``metrics.jsonl`` with the samples a
        second, not kept in the history, which stays the same from run to run)."""
        sigmas = getattr(self.model.kernel, "sigmas", None)  # the masking kernel has no ladder
        loss, sigma = torch.cat(pooled_loss).double(), torch.cat(pooled_sigma)
        if sigmas is None:
            idx, n_levels = torch.zeros(len(loss), dtype=torch.long, device=loss.device), 1
        else:
            idx, n_levels = level_index(sigma, sigmas), len(sigmas)
        sums = loss.new_zeros(n_levels).index_add_(0, idx, loss)
        counts = loss.new_zeros(n_levels).index_add_(0, idx, torch.ones_like(loss))
        sums, counts = distributed.all_reduce_sum(sums), distributed.all_reduce_sum(counts)
        mean = float(sums.sum() / counts.sum())
        if not math.isfinite(mean):
            raise NumericalError(
                f"the training loss became non-finite ({mean}) by step {self.model.step}: training diverged; "
                f"lower lr (now {self.config.lr}) or set grad_clip"
            )
        entry = {
            "step": self.model.step,
            "loss": mean,
            "lr": self.config.lr_at(self.k),
        }
        if sigmas is not None:
            entry["loss_by_level"] = (sums / counts).tolist()
        self.model.history.append(entry)
        if self.out is not None and self.rank == 0:
            with open(self.out / METRICS, "a") as f:
                timing = {
                    "elapsed_s": round(time.perf_counter() - started, 3),
                    "steps_per_s": round(rate, 2),
                    "samples_per_s": round(rate * self.config.batch_size, 1),
                }
                f.write(json.dumps({**entry, **timing}) + "\n")
        return entry

    def feed(self):
        """The shards' batches of steps ``k + 1, k + 2, …``: one list of :class:`Batch` per step."""
        shards = int(self.config.shards or self.world)  # resolved when the run was made
        if self.streamed:
            batches = self.source.batches(self.config.batch_size, skip=self.k * self.config.batch_size)
            return ([batch.select(slice(s, None, shards)) for s in self.mine] for batch in batches)
        steps = range(self.k + 1, self.config.steps + 1)
        reader = StepRows(self.source, seed=self.config.seed, n_shards=shards, shards=self.mine, per_shard=self.shard_batch)
        if not self.num_workers:
            return map(reader.__getitem__, steps)
        loader = torch.utils.data.DataLoader(
            reader, batch_size=None, sampler=steps, num_workers=self.num_workers, collate_fn=_as_is,
            generator=torch.Generator().manual_seed(0),  # keeps the global RNG untouched
        )
        return iter(loader)

    def labels(self, batch, generator) -> dict:
        """``{"labels": ...}`` for a conditional estimator when the batch carries labels (checked,
        each dropped to the null token with probability ``conditioning.drop`` from the shard's
        generator), else nothing: an unconditional estimator ignores a data set's labels."""
        if not self.conditional or batch.labels is None:
            return {}
        return {"labels": drop_labels(self.model.labels_for(batch.labels, batch.x.shape[0]), self.drop, generator)}

    def run(self, progress: bool) -> None:
        from tqdm.auto import tqdm

        model, config = self.model, self.config
        net = model.compiled(distributed.wrap(model.estimator, self.device))
        precision = autocast(config.precision, self.device)
        pooled_loss: list[torch.Tensor] = []
        pooled_sigma: list[torch.Tensor] = []
        started = time.perf_counter()
        logged = (self.k, started)  # the step and time of the last log, for the rates
        scaled = self.scaler.is_enabled()
        model.estimator.train()
        every = config.checkpoint_every
        feed = self.feed()
        with tqdm(total=config.steps, initial=self.k, disable=not progress or self.rank != 0, desc="fit", unit="step") as bar:
            while self.k < config.steps:
                self.k += 1
                for group in self.optimizer.param_groups:
                    group["lr"] = config.lr_at(self.k)
                losses, sigmas = [], []
                for batch, generator in zip(next(feed), self.generators):
                    extra = self.labels(batch, generator) if self.conditional else {}
                    with precision:
                        terms = model.objective.per_sample(net, model.kernel, batch.x.to(self.device), generator=generator, **extra)
                    losses.append(terms.loss if terms.loss.dtype == torch.float32 else terms.loss.float())
                    sigmas.append(terms.sigma)
                loss = losses[0] if len(losses) == 1 else torch.cat(losses)
                self.optimizer.zero_grad(set_to_none=True)
                if scaled:
                    self.scaler.scale(loss.mean()).backward()
                    if config.grad_clip is not None:
                        self.scaler.unscale_(self.optimizer)
                        torch.nn.utils.clip_grad_norm_(self.params, config.grad_clip)
                    self.scaler.step(self.optimizer)
                    self.scaler.update()
                else:  # the scaler would pass everything through: not asked at each step
                    loss.mean().backward()
                    if config.grad_clip is not None:
                        torch.nn.utils.clip_grad_norm_(self.params, config.grad_clip)
                    self.optimizer.step()
                if model.ema is not None:
                    model.ema.update(model.estimator)
                model.step += 1
                pooled_loss.append(loss.detach())
                pooled_sigma.extend(sigmas)  # drawn levels: no graph to cut
                checkpoint = self.out is not None and (self.k == config.steps or (every and self.k % every == 0))
                if checkpoint or self.k % config.log_every == 0 or self.k == config.steps:
                    now = time.perf_counter()
                    rate = (self.k - logged[0]) / max(now - logged[1], 1e-9)
                    entry = self.log(pooled_loss, pooled_sigma, started, rate)
                    pooled_loss, pooled_sigma = [], []
                    bar.set_postfix(loss=f"{entry['loss']:.4f}", samples_s=f"{rate * config.batch_size:.0f}")
                    logged = (self.k, time.perf_counter())
                if checkpoint:
                    self.save_checkpoint()
                bar.update(1)
        model.estimator.eval()


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop the lines a killed run logged after the checkpoint being resumed (``step``)."""
    if not path.is_file():
        return
    kept = [line for line in path.read_text().splitlines() if line.strip() and _line_step(line) <= step]
    io.atomic_write_bytes(path, "".join(line + "\n" for line in kept).encode())


def _line_step(line: str) -> float:
    try:
        step = json.loads(line)["step"]
    except (json.JSONDecodeError, KeyError, TypeError, IndexError):
        return math.inf  # a torn last line from the crash
    return step if io.is_number(step) else math.inf


def train(
    model, data, config: TrainConfig | None = None, *, labels=None, num_workers: int = 0,
    out=None, resume: bool = False, progress: bool = True,
):
    """Train ``model``'s estimator on ``data`` with :class:`TrainConfig` ``config``.

    ``data`` is anything :func:`scoregen.data.as_source` reads (a tensor ``[N, *E]`` with optional
    ``labels [N]``, a dataset, a ``DataLoader``, a path; docs/data.md). A map-style source is read
    ``num_workers`` processes ahead (0: in this process); a stream in its own order.

    Each step draws a batch with replacement (:class:`StepRows`), one noise level per example, and takes an Adam step
    on the objective's mean (gradients averaged over processes under ``torchrun``); the EMA is
    updated after each step. Every ``log_every`` steps :attr:`model.history` gets the mean loss,
    the mean per noise level and the learning rate, also appended to ``out/metrics.jsonl``.
    With ``out``, checkpoints go to ``out/checkpoints/`` (rank 0 writes); ``resume=True``
    continues from the newest good one, bit for bit on the CPU. Returns ``model``.
    """
    config = TrainConfig() if config is None else config
    if not isinstance(config, TrainConfig):
        raise ConfigError(f"config must be a TrainConfig, got {type(config).__name__}")
    v.check_int("num_workers", num_workers, minimum=0)
    v.check_bool("resume", resume)
    v.check_bool("progress", progress)
    if distributed.setup(model.device)[1] > 1:
        model.to(distributed.rank_device(model.device))
    if config.compile:
        model.compile()
    source = as_source(data, labels, convert=model.converter, event_shape=model.event_shape)
    model.prepare(source.preview())
    if labels is not None:  # given for conditioning: checked whole, before the first step
        model.labels_for(source.labels, len(source))
    if not model.parameters() and hasattr(model.estimator, "with_data"):
        return model  # exact given the data it just took (``empirical``): nothing to train
    if resume and out is None:
        raise ConfigError("resume=True needs the output folder of the run (out=...)")
    run = _Run(model, source, config, out, num_workers)
    if run.out is not None and not resume and checkpoint_dirs(run.out / CHECKPOINTS):
        raise ConfigError(f"{run.out} holds checkpoints of an earlier run: resume it, or train into another folder")
    if run.out is not None and run.rank == 0:
        if run.out.exists() and not run.out.is_dir():
            raise ConfigError(f"out {str(run.out)!r} is an existing file, not a folder")
        try:
            run.out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CheckpointError(f"cannot make the run folder {str(run.out)!r}: {exc.strerror or exc}") from None
        if not resume:
            (run.out / METRICS).unlink(missing_ok=True)
    if resume:
        run.resume()
    run.run(progress)
    return model
