"""The trainer behind :meth:`ScoreModel.fit` and ``scoregen train``: Adam, a cosine learning
rate, gradient clipping, an EMA of the weights, metrics to JSON lines, atomic checkpoints and
exact resume, single-process or data-parallel under ``torchrun``."""

import contextlib
import hashlib
import json
import math
import time
from pathlib import Path

import attrs
import torch

from scoregen import io
from scoregen._tensor import make_generator
from scoregen.errors import CheckpointError, ConfigError
from scoregen.objectives.base import level_index
from scoregen.training import distributed
from scoregen.training.checkpoint import checkpoint_dirs, latest_checkpoint, write_checkpoint
from scoregen.training.ema import EMA

TRAINER_JSON = "trainer.json"
TRAINER_TENSORS = "trainer.safetensors"
CHECKPOINTS = "checkpoints"
METRICS = "metrics.jsonl"
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


@attrs.frozen(kw_only=True)
class TrainConfig:
    """What a training run does. ``batch_size`` is the global batch; ``ema_decay=None`` turns the
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

    steps: int = 3000
    batch_size: int = 128
    lr: float = 1e-3
    lr_decay: str = "cosine"
    warmup: int = 0
    seed: int = 0
    ema_decay: float | None = 0.999
    grad_clip: float | None = None
    log_every: int = 100
    checkpoint_every: int = 0
    keep: int = 2
    shards: int | None = None
    precision: str = "fp32"
    compile: bool = False

    def __attrs_post_init__(self) -> None:
        _check(
            self.steps >= 0 and self.batch_size >= 1 and self.lr > 0,
            f"need steps >= 0, batch_size >= 1, lr > 0; got {self.steps}, {self.batch_size}, {self.lr}",
        )
        _check(self.lr_decay in ("cosine", "none"), f"lr_decay must be 'cosine' or 'none', got {self.lr_decay!r}")
        _check(self.warmup >= 0, f"warmup must be >= 0 steps, got {self.warmup}")
        _check(self.log_every >= 1, f"log_every must be at least 1, got {self.log_every}")
        _check(self.checkpoint_every >= 0, f"checkpoint_every must be >= 0, got {self.checkpoint_every}")
        _check(self.grad_clip is None or self.grad_clip > 0, f"grad_clip must be positive, got {self.grad_clip}")
        _check(self.shards is None or self.shards >= 1, f"shards must be at least 1, got {self.shards}")
        _check(self.precision in PRECISIONS, f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")

    def lr_at(self, k: int) -> float:
        """The learning rate of step ``k = 1..steps``: ``lr · ½(1 + cos(π (k−1)/steps))`` for
        ``"cosine"`` (from ``lr`` towards 0), else ``lr``; times ``min(1, k/warmup)`` during a
        linear warm-up of ``warmup`` steps."""
        ramp = min(1.0, k / self.warmup) if self.warmup else 1.0
        if self.lr_decay == "none":
            return self.lr * ramp
        return ramp * self.lr * 0.5 * (1.0 + math.cos(math.pi * (k - 1) / max(self.steps, 1)))


def _fingerprint(x: torch.Tensor) -> str:
    """A hash of the training set (once per run, from a host copy when it lives on a device)."""
    return hashlib.sha256(x.detach().cpu().contiguous().numpy().tobytes()).hexdigest()[:16]


def autocast(precision: str, device: torch.device):
    """The context the forward pass runs in: ``torch.autocast`` for ``"bf16"``/``"fp16"``."""
    dtype = PRECISIONS[precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


class _Run:
    """One call of :func:`train`: the state that a checkpoint must capture."""

    def __init__(self, model, x, config: TrainConfig, out):
        self.rank, self.world = distributed.setup(model.device)
        shards = config.shards or self.world
        _check(shards % self.world == 0, f"shards={shards} must be a multiple of the number of processes {self.world}")
        _check(config.batch_size % shards == 0, f"batch_size {config.batch_size} must be divisible by shards={shards}")
        self.model, self.config = model, attrs.evolve(config, shards=shards)
        self.device = model.device
        self.fingerprint = None if out is None else _fingerprint(x)  # only checkpoints need it
        self.data_shape = list(x.shape)
        self.mine = range(self.rank * shards // self.world, (self.rank + 1) * shards // self.world)
        self.shard_data = [x[s::shards].to(self.device) for s in self.mine]
        self.shard_batch = config.batch_size // shards
        self.generators = [make_generator(self.device, config.seed + 1_000_003 * s) for s in self.mine]
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=config.precision == "fp16")
        self.params = model.parameters()
        _check(bool(self.params), f"the estimator {type(model.estimator).__name__} has no trainable parameters")
        self.optimizer = torch.optim.Adam(self.params, lr=config.lr)
        if config.ema_decay is None:
            model.ema = None
        elif model.ema is None or model.ema.decay != config.ema_decay:
            model.ema = EMA(model.estimator, config.ema_decay)
        self.k = 0
        self.out = None if out is None else Path(out)

    # ------------------------------------------------------------- checkpoints

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

    def save_checkpoint(self) -> None:
        document, tensors = self._trainer_state()  # every process takes part in the gather
        if self.rank == 0:
            files = io.encode_model(*self.model.payload())
            files[TRAINER_TENSORS] = io.encode_tensors(tensors)
            files[TRAINER_JSON] = json.dumps(document, indent=2).encode()
            write_checkpoint(self.out / CHECKPOINTS, self.k, files, keep=self.config.keep)
        distributed.barrier()

    def _decode(self, files: dict[str, bytes], path) -> tuple[dict, dict, dict, dict]:
        for name in (io.CONFIG, io.WEIGHTS, TRAINER_JSON, TRAINER_TENSORS):
            if name not in files:
                raise CheckpointError(f"checkpoint {path} has no {name}")
        document = io.decode_document(files[io.CONFIG], path / io.CONFIG)
        state = io.decode_tensors(files[io.WEIGHTS], path / io.WEIGHTS)
        try:
            trainer = json.loads(files[TRAINER_JSON])
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CheckpointError(f"{path / TRAINER_JSON} is not valid JSON: {exc}") from None
        tensors = io.decode_tensors(files[TRAINER_TENSORS], path / TRAINER_TENSORS)
        return document, state, trainer, tensors

    def resume(self) -> Path | None:
        """Restore the newest good checkpoint under ``out``; its path, or ``None`` if none."""
        found = latest_checkpoint(self.out / CHECKPOINTS, self._decode)
        if found is None:
            return None
        path, (document, state, trainer, tensors) = found
        if trainer["train_config"] != attrs.asdict(self.config):
            raise CheckpointError(
                f"checkpoint {path} was written by a run with other settings {trainer['train_config']}; "
                f"this run has {attrs.asdict(self.config)} (resume needs the same ones)"
            )
        if trainer["data"]["fingerprint"] != self.fingerprint:
            raise CheckpointError(
                f"checkpoint {path} was written for data {trainer['data']} but this run has "
                f"{self.data_shape} with fingerprint {self.fingerprint}"
            )
        model = self.model
        model.restore(state, document)
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
        self.k = int(trainer["k"])
        if self.rank == 0:
            _truncate_metrics(self.out / METRICS, model.step)
        return path

    # ------------------------------------------------------------- the loop

    def log(self, pooled_loss: list, pooled_sigma: list, started: float) -> dict:
        """A history entry for the terms since the last one, pooled over processes."""
        sigmas = getattr(self.model.kernel, "sigmas", None)  # the masking kernel has no ladder
        loss, sigma = torch.cat(pooled_loss).double(), torch.cat(pooled_sigma)
        if sigmas is None:
            idx, n_levels = torch.zeros(len(loss), dtype=torch.long, device=loss.device), 1
        else:
            idx, n_levels = level_index(sigma, sigmas), len(sigmas)
        sums = loss.new_zeros(n_levels).index_add_(0, idx, loss)
        counts = loss.new_zeros(n_levels).index_add_(0, idx, torch.ones_like(loss))
        sums, counts = distributed.all_reduce_sum(sums), distributed.all_reduce_sum(counts)
        entry = {
            "step": self.model.step,
            "loss": float(sums.sum() / counts.sum()),
            "lr": self.config.lr_at(self.k),
        }
        if sigmas is not None:
            entry["loss_by_level"] = (sums / counts).tolist()
        self.model.history.append(entry)
        if self.out is not None and self.rank == 0:
            with open(self.out / METRICS, "a") as f:
                f.write(json.dumps({**entry, "elapsed_s": round(time.perf_counter() - started, 3)}) + "\n")
        return entry

    def run(self, progress: bool) -> None:
        from tqdm.auto import tqdm

        model, config = self.model, self.config
        net = model.compiled(distributed.wrap(model.estimator, self.device))
        precision = autocast(config.precision, self.device)
        pooled_loss, pooled_sigma = [], []
        started = time.perf_counter()
        model.estimator.train()
        every = config.checkpoint_every
        with tqdm(total=config.steps, initial=self.k, disable=not progress or self.rank != 0, desc="fit", unit="step") as bar:
            while self.k < config.steps:
                self.k += 1
                for group in self.optimizer.param_groups:
                    group["lr"] = config.lr_at(self.k)
                losses, sigmas = [], []
                for x, generator in zip(self.shard_data, self.generators):
                    batch = x[torch.randint(len(x), (self.shard_batch,), generator=generator, device=self.device)]
                    with precision:
                        terms = model.objective.per_sample(net, model.kernel, batch, generator=generator)
                    losses.append(terms.loss.float())
                    sigmas.append(terms.sigma)
                loss = losses[0] if len(losses) == 1 else torch.cat(losses)
                self.optimizer.zero_grad(set_to_none=True)
                self.scaler.scale(loss.mean()).backward()
                if config.grad_clip is not None:
                    self.scaler.unscale_(self.optimizer)
                    torch.nn.utils.clip_grad_norm_(self.params, config.grad_clip)
                self.scaler.step(self.optimizer)
                self.scaler.update()
                if model.ema is not None:
                    model.ema.update(model.estimator)
                model.step += 1
                pooled_loss.append(loss.detach())
                pooled_sigma.extend(s.detach() for s in sigmas)
                checkpoint = self.out is not None and (self.k == config.steps or (every and self.k % every == 0))
                if checkpoint or self.k % config.log_every == 0 or self.k == config.steps:
                    entry = self.log(pooled_loss, pooled_sigma, started)
                    pooled_loss, pooled_sigma = [], []
                    bar.set_postfix(loss=f"{entry['loss']:.4f}")
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
        return json.loads(line)["step"]
    except (json.JSONDecodeError, KeyError, TypeError):
        return math.inf  # a torn last line from the crash


def train(model, data, config: TrainConfig | None = None, *, out=None, resume: bool = False, progress: bool = True):
    """Train ``model``'s estimator on ``data [N, *E]`` with :class:`TrainConfig` ``config``.

    Each step draws a batch with replacement, one noise level per example, and takes an Adam step
    on the objective's mean (gradients averaged over processes under ``torchrun``); the EMA is
    updated after each step. Every ``log_every`` steps :attr:`model.history` gets the mean loss,
    the mean per noise level and the learning rate, also appended to ``out/metrics.jsonl``.
    With ``out``, checkpoints go to ``out/checkpoints/`` (rank 0 writes); ``resume=True``
    continues from the newest good one, bit for bit on the CPU. Returns ``model``.
    """
    config = config or TrainConfig()
    if distributed.setup(model.device)[1] > 1:
        model.to(distributed.rank_device(model.device))
    if config.compile:
        model.compile()
    x = model.convert(data)
    model.prepare(x)
    if not model.parameters() and hasattr(model.estimator, "with_data"):
        return model  # exact given the data it just took (``empirical``): nothing to train
    _check(resume is False or out is not None, "resume=True needs the output folder of the run (out=...)")
    run = _Run(model, x, config, out)
    if run.out is not None and not resume and checkpoint_dirs(run.out / CHECKPOINTS):
        raise ConfigError(f"{run.out} holds checkpoints of an earlier run: resume it, or train into another folder")
    if run.out is not None and run.rank == 0:
        run.out.mkdir(parents=True, exist_ok=True)
        if not resume:
            (run.out / METRICS).unlink(missing_ok=True)
    if resume:
        run.resume()
    run.run(progress)
    return model
