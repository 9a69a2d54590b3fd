"""The model object that composes a kernel, an estimator, an objective and a sampler, and the
verbs :func:`build` and :func:`load`."""

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import torch
from torch import nn

import scoregen
from scoregen import _validators as v
from scoregen import io
from scoregen._tensor import as_data, as_sigma, check_fits_in_memory, make_generator
from scoregen.config import PARTS, ComponentSpec, ModelConfig, describe, instantiate
from scoregen.errors import CheckpointError, ConfigError, IncompatibleKernelError, NumericalError, ScoregenError
from scoregen.kernels.base import require_family
from scoregen.plugins import get_registry
from scoregen.registry import Registry

if TYPE_CHECKING:
    from scoregen.training.ema import EMA

EMA_PREFIX = "ema/"


REQUIRED = {"kernel": "prior_sample", "objective": "per_sample", "sampler": "sample", "estimator": "__call__"}
"""The method an object passed for each part must have."""


def _check_component(part: str, component) -> None:
    """Refuse an object that cannot serve as ``part`` (``sampler=5``), naming what it lacks."""
    if not callable(getattr(component, REQUIRED[part], None)):
        raise ConfigError(
            f"{part} must be a registered name, a dict of parameters or a {part} object with "
            f"{REQUIRED[part]}(...); got {component!r}"
        )


def _check_generator(generator) -> None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ConfigError(f"generator must be a torch.Generator, got {generator!r}")


def _check_finite(x: torch.Tensor, action: str) -> torch.Tensor:
    """``x`` unchanged if finite, else :class:`NumericalError`: a diverged result is never returned."""
    if x.is_floating_point() and not bool(torch.isfinite(x).all()):
        raise NumericalError(
            f"{action} produced non-finite values (NaN or inf): the computation diverged; a smaller "
            "step (step_lr, step_size, lr) or more steps usually cures it"
        )
    return x


def _generator(seed: int | None, generator: torch.Generator | None, device: torch.device) -> torch.Generator:
    """``generator`` (checked to live on ``device``), else a new one on ``device`` seeded with ``seed``."""
    if seed is not None:
        v.check_seed("seed", seed)
    _check_generator(generator)
    if generator is None:
        return make_generator(device, seed)
    if torch.device(generator.device).type != device.type:
        raise ConfigError(
            f"the generator lives on {generator.device} but the model on {device}: "
            "make it there (torch.Generator(device=model.device)) or pass seed="
        )
    return generator


class ScoreModel:
    """A score-based generative model: ``kernel``, ``estimator``, ``objective`` and ``sampler``.

    Made by :func:`build` or :func:`load`. The estimator is created when the event shape is known
    (from the config, or from the first data passed to :meth:`fit`), with initial weights drawn
    from ``config.seed``. Parts whose parameters wait for data (``sigma_max="auto"``) are resolved
    on the first :meth:`fit`.

    The model has one device (:attr:`device`, default the CPU; ``build(..., device=)``,
    :meth:`to`): the estimator, its EMA copy and every tensor a part keeps live there, samples are
    drawn there from a generator on that device, and data passed in are moved there.

    The trainer and the CLI use only the public seam: :meth:`convert`, :meth:`prepare`,
    :meth:`payload`, :meth:`restore`, :meth:`sampling_estimator`.
    """

    def __init__(
        self, config: ModelConfig, *, components: dict | None = None, registry: Registry | None = None, device=None
    ):
        self._registry = registry or get_registry()
        self._device = torch.device("cpu" if device is None else device)
        self._seed = config.seed
        self._preset = config.preset
        self._estimator_spec = config.estimator
        given = components or {}
        for part, component in given.items():
            _check_component(part, component)
        self._kernel_given = "kernel" in given
        self.kernel = given.get("kernel") or instantiate("kernel", config.kernel, self._registry)
        self.objective = given.get("objective") or instantiate("objective", config.objective, self._registry)
        self.sampler = given.get("sampler") or instantiate("sampler", config.sampler, self._registry)
        require_family(self.objective, self.kernel)
        require_family(self.sampler, self.kernel)
        self.estimator = given.get("estimator")
        self._estimator_given = self.estimator is not None
        require_family(self.estimator, self.kernel)
        self.event_shape = config.event_shape or getattr(self.estimator, "event_shape", None)
        if self.estimator is None and self.event_shape is not None:
            self.estimator = self._make_estimator(self.event_shape)
        self.step = 0
        self.history: list[dict] = []
        self.ema: EMA | None = None  # a scoregen.training.EMA once trained with one: sample and score use it
        self._compile: dict | None = None  # torch.compile options once compile() was called
        self._compiled: dict[int, tuple] = {}
        self.to(self._device)

    # ----------------------------------------------------------------- device

    @property
    def device(self) -> torch.device:
        """The device of the estimator, its EMA copy, the parts' tensors and the samples."""
        return self._device

    def to(self, device) -> "ScoreModel":
        """Move the whole model to ``device`` (in place; returns the model): the estimator, the
        EMA copy, and every part with tensors of its own (a part's ``to(device)`` returns the
        moved part: the ``empirical`` estimator's data, DSM's reference set, σ_d buffers)."""
        self._device = torch.device(device)
        for part in PARTS:
            moved = _moved(getattr(self, part), self._device)
            if moved is not None:
                setattr(self, part, moved)
        if self.ema is not None:
            self.ema.module.to(self._device)
        return self

    def compile(self, **options) -> "ScoreModel":
        """Evaluate the network through ``torch.compile(module, **options)`` from now on: in
        :meth:`fit` (the trained copy) and in :meth:`sample` and :meth:`score` (the EMA copy).
        The weights are shared with the compiled wrappers, so saving, moving and the EMA are
        unchanged. Off unless asked for (``fit(compile=True)``): compiling takes tens of seconds
        before the first step, which a short run never earns back (docs/devices.md)."""
        self._compile = dict(options)
        self._compiled = {}
        return self

    def compiled(self, module):
        """``module`` through ``torch.compile`` if :meth:`compile` was called (one wrapper per
        module, made once), else ``module`` itself; a callable that is no ``nn.Module`` is returned as is."""
        if self._compile is None or not isinstance(module, nn.Module):
            return module
        key = id(module)
        if key not in self._compiled or self._compiled[key][0] is not module:
            self._compiled[key] = (module, torch.compile(module, **self._compile))
        return self._compiled[key][1]

    # ----------------------------------------------------------------- configuration

    def _make_estimator(self, event_shape):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self._seed)
            # A kernel with a vocabulary (masking) hands its size to the estimator it is paired with.
            vocab = {"vocab_size": self.kernel.vocab_size} if hasattr(self.kernel, "vocab_size") else {}
            estimator = instantiate("estimator", self._estimator_spec, self._registry, event_shape=tuple(event_shape), **vocab)
        require_family(estimator, self.kernel)
        if vocab and getattr(estimator, "vocab_size", vocab["vocab_size"]) != vocab["vocab_size"]:
            raise ConfigError(
                f"the estimator's vocab_size={estimator.vocab_size} differs from the kernel's {vocab['vocab_size']}; "
                "leave it out (the estimator takes the kernel's)"
            )
        return _moved(estimator, self._device) or estimator

    @property
    def converter(self):
        """The kernel's own ``as_data(x, event_shape, name=)`` (int64 tokens for masking), else float32:
        how the trainer and the data sources check rows (part of the seam the trainer uses)."""
        return getattr(self.kernel, "as_data", as_data)

    def convert(self, x, name: str = "data") -> torch.Tensor:
        """``x`` checked and converted to the kernel's data ``[N, *event_shape]`` (float32, or
        int64 tokens for the masking kernel), on the device it came on."""
        return self.converter(x, self.event_shape, name=name)

    # ----------------------------------------------------------------- conditioning (labels, guidance, measurements)

    def labels_for(self, labels, n: int, classes: int | None = None) -> torch.Tensor | None:
        """``labels`` checked against ``classes`` (default: the estimator's), as int64 ``[n]`` on
        :attr:`device` (``None`` stays); part of the seam the trainer uses."""
        if labels is None:
            return None
        from scoregen.estimators.conditioning import check_labels, classes_of

        return check_labels(labels, n, classes or classes_of(self._require_estimator("take labels"))).to(self._device)

    def _conditioned(self, score, labels, guidance, n: int, classes: int | None):
        """The plain ``(x, σ) → score`` callable a sampler sees: the model's ``score`` callable
        with ``labels`` (checked against ``classes``, ``[n]``) and ``guidance`` (a weight for
        classifier-free guidance, a registered name, a dict or an object) bound in. A classifier
        guide may bring the classes an unconditional model lacks."""
        from scoregen.estimators.conditioning import classes_of
        from scoregen.samplers.guidance import ClassifierFree, bind_labels

        if isinstance(guidance, int | float) and not isinstance(guidance, bool):
            guidance = ClassifierFree(weight=float(guidance))
        if guidance is not None:
            guidance = self._extension("guidance", guidance)
        labels = self.labels_for(labels, n, classes or classes_of(guidance))
        if guidance is None:
            return score if labels is None else bind_labels(score, labels)
        return guidance.bind(score, labels)

    def _extension(self, kind: str, value):
        """A ``guidance`` or ``posterior`` component from a registered name, a dict with ``name``
        and parameters, or an object (used as it is)."""
        if isinstance(value, str):
            value = {"name": value}
        if isinstance(value, dict):
            if "name" not in value:
                raise ConfigError(f"a {kind} given as a dict needs 'name'; known: {', '.join(self._registry.names(kind))}")
            params = {k: v for k, v in value.items() if k != "name"}
            return instantiate(kind, ComponentSpec(name=value["name"], params=params), self._registry)
        return value

    @property
    def config(self) -> ModelConfig:
        """The configuration that rebuilds this model (derived from its parts)."""
        specs = {
            part: describe(part, getattr(self, part), self._registry)
            for part in ("kernel", "objective", "sampler")
        }
        if self._estimator_given:
            specs["estimator"] = describe("estimator", self.estimator, self._registry)
        else:
            specs["estimator"] = self._estimator_spec
        return ModelConfig(**specs, event_shape=self.event_shape, seed=self._seed, preset=self._preset)

    def prepare(self, data: torch.Tensor) -> None:
        """Resolve what waits for data ``[N, *E]`` (from :meth:`convert`): the event shape, the
        estimator, and every part with a ``with_data(x)`` method (``"auto"`` kernel levels, the
        ``empirical`` estimator's training set, σ_d); what they keep is then moved to :attr:`device`."""
        if self.event_shape is None:
            self.event_shape = tuple(data.shape[1:])
        if self.estimator is None:
            self.estimator = self._make_estimator(self.event_shape)
        for part in PARTS:
            with_data = getattr(getattr(self, part), "with_data", None)
            if with_data is not None:
                setattr(self, part, with_data(data))
        self.to(self._device)

    def _require_estimator(self, action: str):
        if self.estimator is None:
            raise ConfigError(
                f"cannot {action} yet: the model has not seen data, so its event shape is unknown; "
                "fit it first, or build it with event_shape=(...)"
            )
        return self.estimator

    def sampling_estimator(self, action: str = "sample"):
        """What :meth:`sample` and :meth:`score` evaluate: the EMA weights if there are any,
        else the trained ones (``action`` names the caller in the error before any data)."""
        estimator = self._require_estimator(action)
        return self.compiled(estimator if self.ema is None else self.ema.module)

    def _score_function(self, action: str):
        """The plain ``(x̂, σ) → score`` callable of the sampling estimator on this kernel: a
        network that predicts ε, x₀, v or a velocity is converted here, so that samplers and the
        likelihood never learn of it (:func:`~scoregen.estimators.parameterisation.as_score`)."""
        from scoregen.estimators.parameterisation import as_score

        return as_score(self.sampling_estimator(action), self.kernel)

    def parameters(self):
        """The estimator's trainable parameters (none for an analytic estimator)."""
        est = self._require_estimator("list parameters")
        return list(est.parameters()) if isinstance(est, nn.Module) else []

    # ----------------------------------------------------------------- the verbs

    def loss(self, x, *, generator: torch.Generator | None = None, labels=None) -> torch.Tensor:
        """The objective's scalar loss on a clean batch ``x [B, *E]`` (differentiable), with
        ``labels [B]`` for a conditional estimator (none dropped)."""
        _check_generator(generator)
        data = self.convert(x)
        self.prepare(data)
        data = data.to(self._device)
        generator = _generator(None, generator, self._device) if generator is not None else None
        extra = {} if labels is None else {"labels": self.labels_for(labels, data.shape[0])}
        return self.objective.loss(self.estimator, self.kernel, data, generator=generator, **extra)

    def fit(
        self,
        data,
        *,
        labels=None,
        num_workers: int = 0,
        steps: int = 3000,
        batch_size: int = 128,
        lr: float = 1e-3,
        lr_decay: str = "cosine",
        warmup: int = 0,
        seed: int = 0,
        progress: bool = True,
        log_every: int = 100,
        ema_decay: float | None = 0.999,
        grad_clip: float | None = None,
        out=None,
        checkpoint_every: int = 0,
        resume: bool = False,
        precision: str = "fp32",
        compile: bool = False,
    ) -> "ScoreModel":
        """Train the estimator with Adam on batches drawn (with replacement) from ``data``.

        ``data`` is a tensor or array ``[N, *E]`` (``labels [N]`` beside it), a map-style
        ``Dataset`` (``(x, y)`` items keep ``y`` as the label, never in the data), a ``DataLoader``
        or other iterable (streamed), or a path: an image folder, ``.npy``, ``.npz``, ``.csv``
        (docs/data.md). ``num_workers`` processes read a map-style set ahead of the steps.

        ``lr_decay="cosine"`` anneals the learning rate from ``lr`` to 0 over the run
        (``lr_k = lr · ½(1 + cos(π (k−1) / steps))``); ``"none"`` keeps it constant; ``warmup``
        ramps it up linearly over the first steps.
        An EMA of the weights (``ema_decay``, ``None`` for none) is what :meth:`sample` and
        :meth:`score` use; ``grad_clip`` caps the gradient norm.
        Without either the decay or the EMA the last noisy steps set the mode weights
        (``benchmarks/final_weights.py``, docs/quickstart.md).

        An estimator without trainable parameters that takes the data (``with_data``, e.g.
        ``empirical``) is ready once it has them: ``fit`` stores the data and returns.

        Every ``log_every`` steps, :attr:`history` gets the mean loss and the mean loss per noise
        level since the last entry. The run is reproducible from ``seed``. With ``out``, metrics
        go to ``out/metrics.jsonl`` and checkpoints (every ``checkpoint_every`` steps and at the
        end) to ``out/checkpoints/``; ``resume=True`` continues from the newest good one, exactly.
        ``precision`` (``"fp32"``, ``"bf16"``, ``"fp16"``) and ``compile`` choose how the network's
        forward pass runs (autocast; ``torch.compile``), see docs/devices.md. Training runs on
        :attr:`device`. See :func:`scoregen.training.train` (docs/training.md).

        ``labels [N]`` (int64 classes ``0 … C−1``; or ``data`` given as a pair ``(x, labels)``, or
        ``(x, y)`` dataset items) train a model built with ``conditioning={"classes": C, "drop": p}``
        (docs/conditioning.md); an unconditional estimator ignores the labels a data set carries.
        """
        from scoregen.training import TrainConfig, train

        if labels is None and isinstance(data, tuple) and len(data) == 2:
            data, labels = data
        if out is not None:
            out = v.check_path("out", out)
        config = TrainConfig(
            steps=steps, batch_size=batch_size, lr=lr, lr_decay=lr_decay, warmup=warmup, seed=seed, log_every=log_every,
            ema_decay=ema_decay, grad_clip=grad_clip, checkpoint_every=checkpoint_every, precision=precision,
            compile=compile,
        )
        return train(self, data, config, labels=labels, num_workers=num_workers, out=out, resume=resume, progress=progress)

    def sample(
        self,
        n: int,
        *,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        per_sample: bool = False,
        first: int = 0,
        sampler=None,
        callback: Callable[[dict], None] | None = None,
        progress: bool = False,
        known=None,
        mask=None,
        labels=None,
        guidance=None,
        measurement=None,
        posterior=None,
    ) -> torch.Tensor:
        """Draw ``n`` samples ``[n, *event_shape]``: the kernel's prior, then the sampler.

        ``known`` and ``mask`` (``[n, *E]`` or ``[*E]``, broadcast) impute: where ``mask`` is true the
        sample keeps the value of ``known``, and the rest is drawn conditionally on it (the sampler
        must accept these keywords).

        ``sampler`` replaces the model's sampler for this call (a registered name, a dict of
        parameters for the current one, or an object). ``seed`` or ``generator`` makes the draw
        reproducible; with neither, it is seeded non-deterministically.

        Per-sample seeds (:mod:`scoregen.seeds`): with ``per_sample=True`` (and ``seed``, not
        ``generator``), sample ``i`` depends on the seed and on ``i`` alone, so
        ``sample(n, seed=s, per_sample=True)[:k]`` equals ``sample(k, seed=s, per_sample=True)``
        and ``first=k`` draws samples ``k … k+n−1`` of that same set. The sampler and the kernel
        must draw per sample (``per_sample_noise``; every built-in does), and the equality holds
        for samplers that treat samples independently (not ``pc``, whose step averages over the
        batch, nor an adaptive scipy ``ode``). It is an option, not the default: it measured
        3–10 % slower a step on the small networks here (benchmarks/seeds.py, docs/devices.md).

        Imputation: ``known [n or 1, *E]`` with a bool ``mask`` (broadcastable, true where known)
        samples the other coordinates given these (samplers with ``can_impute``; see
        :mod:`scoregen.samplers.impute`).

        Conditioning (docs/conditioning.md): ``labels`` (an int or int64 ``[n]``) samples
        ``p(x | c)``; ``guidance`` tilts it — a number is the classifier-free weight ``w``, or a
        registered ``guidance`` (name, dict, object). ``measurement`` (a
        :class:`~scoregen.samplers.posterior.Linear`) samples ``p(x | y)`` with the ``posterior``
        sampler (a registered name, dict or object; default ``"mmps"``).
        """
        estimator = self.sampling_estimator("sample")
        n = v.check_int("n", n, minimum=1)
        if seed is not None:
            v.check_seed("seed", seed)
        _check_generator(generator)
        v.check_bool("progress", progress)
        if callback is not None and not callable(callback):
            raise ConfigError(f"callback must be callable, got {callback!r}")
        if self.event_shape is None:
            raise ConfigError(
                "cannot sample: the event shape is unknown (the estimator was given as an object without "
                "event_shape); build with event_shape=(...) or fit the model first"
            )
        check_fits_in_memory((n, *self.event_shape), f"{n} samples")
        sampler = self.sampler if sampler is None else self._component("sampler", sampler)
        require_family(sampler, self.kernel)
        from scoregen.estimators.conditioning import classes_of

        if isinstance(estimator, nn.Module) and any(m.training for m in estimator.modules()):
            estimator.eval()  # once: eval() sets a flag on every submodule, which costs more than asking
        score = self._conditioned(self._score_function("sample"), labels, guidance, n, classes_of(estimator))
        if measurement is None and posterior is not None:
            raise ConfigError("posterior= samples given a measurement: pass measurement=Linear(A, y, noise=...)")
        if measurement is not None:
            if labels is not None or known is not None or mask is not None:
                raise ConfigError("measurement= cannot be combined with labels= or known=/mask= (yet)")
            return self._sample_posterior(n, score, sampler, measurement, posterior, seed, generator, callback)
        extra = {}
        if known is not None or mask is not None:
            from scoregen.samplers.impute import condition

            extra["known"] = condition(sampler, known, mask, n, self.event_shape, convert=self.converter, device=self._device)
        generator = self._random_source(seed, generator, per_sample, first, n, sampler)
        x_init = self.kernel.prior_sample((n, *self.event_shape), generator, device=self._device)
        bar = _with_progress(callback, getattr(sampler, "nfe", lambda k: None)(self.kernel)) if progress else None
        try:
            with torch.no_grad():
                out = sampler.sample(score, self.kernel, x_init, generator=generator, callback=bar or callback, **extra)
            return _check_finite(out, f"sampling with {type(sampler).__name__}")
        finally:
            if bar is not None:
                bar.close()

    def _sample_posterior(self, n, score, sampler, measurement, posterior, seed, generator, callback):
        """``n`` draws of ``p(x | y)`` by the ``posterior`` sampler (:mod:`scoregen.samplers.posterior`)
        with the prior score callable ``score``."""
        posterior = self._extension("posterior", "mmps" if posterior is None else posterior)
        require_family(posterior, self.kernel)
        assert self.event_shape is not None  # sample() refused an unknown event shape
        measurement.check(self.event_shape)
        generator = _generator(seed, generator, self._device)
        x_init = self.kernel.prior_sample((n, *self.event_shape), generator, device=self._device)
        with torch.no_grad():
            out = posterior.sample(score, self.kernel, sampler, x_init, measurement, generator=generator, callback=callback)
        return _check_finite(out, f"posterior sampling with {type(posterior).__name__}")
    def _random_source(self, seed, generator, per_sample: bool, first: int, n: int, sampler):
        """Per-sample generators with ``per_sample=True``, else one generator for the batch
        (see :meth:`sample`)."""
        first = v.check_int("first", first, minimum=0)
        v.check_bool("per_sample", per_sample)
        if first and not per_sample:
            raise ConfigError("first= draws samples of a per-sample set: pass per_sample=True")
        if not per_sample:
            return _generator(seed, generator, self._device)
        if generator is not None:
            raise ConfigError("per_sample=True makes its own generators from seed=: pass seed, not generator")
        unable = [type(p).__name__ for p in (sampler, self.kernel) if not getattr(p, "per_sample_noise", False)]
        if unable:
            raise ConfigError(
                f"per_sample=True needs parts that draw per sample (per_sample_noise); {', '.join(unable)} do(es) not"
            )
        from scoregen.seeds import SampleGenerators

        if seed is None:
            seed = int(torch.randint(2**62, (), generator=make_generator()))
        return SampleGenerators(seed, n, first=first, device=self._device)

    def log_prob(self, x, *, divergence: str = "auto", seed: int = 0, rtol: float = 1e-5, atol: float = 1e-5) -> torch.Tensor:
        """``log p(x)`` ``[N]`` in nats through the probability-flow ODE (see
        :func:`scoregen.numerics.likelihood.log_prob`): the density of the data perturbed at the kernel's
        smallest noise level. ``divergence`` is ``"exact"``, ``"hutchinson"`` or ``"auto"``."""
        from scoregen.numerics import likelihood

        estimator = self._score_function("compute log_prob")
        if getattr(self.kernel, "family", None) != "gaussian":
            raise IncompatibleKernelError(f"log_prob integrates the probability-flow ODE of a Gaussian kernel, not {type(self.kernel).__name__}")
        v.check_choice("divergence", divergence, ("auto", "exact", "hutchinson"))
        v.check_seed("seed", seed)
        rtol = v.check_real("rtol", rtol, positive=True, below=1.0)
        atol = v.check_real("atol", atol, positive=True)
        data = as_data(x, self.event_shape, name="x").to(self._device)
        generator = make_generator(self._device, seed)
        log_p = likelihood.log_prob(estimator, self.kernel, data, divergence=divergence, generator=generator, rtol=rtol, atol=atol)
        return _check_finite(log_p, "log_prob")

    def bits_per_dim(self, x, **kwargs) -> torch.Tensor:
        """``−log₂ p(x) / D`` ``[N]``; keyword arguments as in :meth:`log_prob`."""
        from scoregen.numerics import likelihood

        return likelihood.bits_per_dim(self.log_prob(x, **kwargs), self.event_shape)

    def score(self, x, sigma, *, labels=None) -> torch.Tensor:
        """The estimated score ``s(x, σ)``, same shape as ``x [B, *E]``; ``sigma`` is a number or
        ``[B]``; ``labels`` (an int or ``[B]``) gives the conditional score ``s(x, σ | c)``."""
        estimator = self._score_function("evaluate the score")
        if getattr(self.kernel, "family", None) != "gaussian":
            raise IncompatibleKernelError(f"score is the Gaussian family's verb; {type(self.kernel).__name__} has logits, not a score")
        data = as_data(x, self.event_shape, name="x").to(self._device)
        sigma = as_sigma(sigma, data.shape[0], data)
        extra = {} if labels is None else {"labels": self.labels_for(labels, data.shape[0])}
        with torch.no_grad():
            return _check_finite(estimator(data, sigma, **extra), "the score")

    # ----------------------------------------------------------------- persistence

    def save(self, path) -> Path:
        """Write ``path/config.json`` and ``path/weights.safetensors`` (atomically); return ``path``."""
        io.write_model(path, *self.payload())
        return Path(path)

    def payload(self) -> tuple[dict, dict | None, dict]:
        """``(config, weights, meta)`` as :meth:`save` writes them (and a checkpoint holds them):
        the EMA weights go beside the trained ones, their names prefixed ``ema/``."""
        estimator = self._require_estimator("save")
        state = dict(estimator.state_dict()) if isinstance(estimator, nn.Module) else None
        ema = None
        if self.ema is not None and state is not None:
            state.update({EMA_PREFIX + k: v for k, v in self.ema.state_dict().items()})
            ema = {"decay": self.ema.decay, "updates": self.ema.updates}
        meta = {"scoregen": scoregen.__version__, "step": self.step, "history": self.history, "ema": ema}
        return self.config.to_dict(), state, meta

    def restore(self, state: dict | None, document: dict) -> None:
        """Put what :meth:`payload` gave back into this model: the kernel of the saved config
        (its ``"auto"`` levels resolved as saved), the weights and EMA weights ``state`` (copied
        to :attr:`device`), the step and the history of ``document`` (the saved config.json)."""
        saved = document.get("config")
        if saved is not None and not self._kernel_given:
            self.kernel = instantiate("kernel", ModelConfig.from_dict(saved).kernel, self._registry)
        if state is not None:
            # Loaded on the CPU, where the saved tensors are, then moved with the rest below.
            estimator = self._require_estimator("load weights").to("cpu")
            own = {k: v for k, v in state.items() if not k.startswith(EMA_PREFIX)}
            try:
                estimator.load_state_dict(own)
                ema = document.get("ema")
                if ema:
                    from scoregen.training import EMA

                    self.ema = EMA(estimator, ema["decay"])
                    shadow = {k[len(EMA_PREFIX) :]: v for k, v in state.items() if k.startswith(EMA_PREFIX)}
                    self.ema.load_state_dict(shadow, ema["updates"])
            except (RuntimeError, KeyError, ValueError) as exc:
                raise CheckpointError(f"saved weights do not fit the estimator: {exc}") from None
            estimator.eval()
        elif document.get("ema"):
            raise CheckpointError("config.json: field 'ema' is set, but the model has no weights")
        self.step = document["step"]
        self.history = list(document["history"])
        self.to(self._device)

    def _component(self, part: str, value):
        """A component from an override: a name, a dict of parameters for the current one, an object."""
        if isinstance(value, str | dict):
            # Only parameters without a name need the current spec (describing a part is not free).
            current = describe(part, getattr(self, part), self._registry) if isinstance(value, dict) and "name" not in value else None
            return instantiate(part, _override_spec(current, value), self._registry)
        _check_component(part, value)
        return value

    def __repr__(self) -> str:
        parts = ", ".join(f"{p}={type(getattr(self, p)).__name__}" for p in PARTS)
        return f"ScoreModel({parts}, event_shape={self.event_shape}, step={self.step})"


def _moved(part, device: torch.device):
    """``part`` on ``device``: an ``nn.Module`` moved in place, a part with ``to(device)`` (which
    returns the moved part), else ``None`` (nothing of its own to move)."""
    if isinstance(part, nn.Module):
        return part.to(device)
    to = getattr(part, "to", None)
    return to(device) if callable(to) else None


def _with_progress(callback, total):
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc="sample", unit="eval")

    class _Progress:
        """Counts score evaluations (``info["nfe"]``), or callbacks where a sampler reports none."""

        def __call__(self, info):
            bar.update(info["nfe"] - bar.n if "nfe" in info else 1)
            if callback is not None:
                callback(info)

        def close(self):
            bar.close()

    return _Progress()


def _override_spec(spec: ComponentSpec | None, value) -> ComponentSpec:
    """Apply an override to a spec: a name replaces it (default parameters), a dict with
    ``name`` replaces it, a dict without ``name`` updates its parameters (``spec`` may be ``None``
    for the first two)."""
    if isinstance(value, str):
        return ComponentSpec(name=value)
    if "name" in value:
        params = {k: v for k, v in value.items() if k != "name"}
        return ComponentSpec(name=value["name"], params=params)
    assert spec is not None  # a dict without a name updates a spec
    return attrs.evolve(spec, params={**spec.params, **value})


def build(name_or_config="ncsn", *, registry: Registry | None = None, device=None, **overrides) -> ScoreModel:
    """Compose a model from a preset name or a :class:`ModelConfig`.

    Each of ``kernel``, ``estimator``, ``objective``, ``sampler`` may be overridden by a registered
    name, a dict of parameters for the preset's component (or with ``name`` for another one), or
    an object (used as it is, no registration needed). ``event_shape`` and ``seed`` (the initial
    weights) may be overridden too. ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:1"``, a
    ``torch.device``; default the CPU) is where the model lives (:meth:`ScoreModel.to`);
    ``conditioning={"classes": C, "drop": p}`` conditions the estimator on labels (a parameter of
    the network, saved with it; docs/conditioning.md)::

        build("ncsn", sampler="langevin", objective={"levels": "all"}, estimator=my_net)
    """
    registry = registry or get_registry()
    if isinstance(name_or_config, ModelConfig):
        config = name_or_config
    elif isinstance(name_or_config, str):
        config = registry.get("preset", name_or_config).factory()
    else:
        raise ConfigError(f"build takes a preset name or a ModelConfig, got {type(name_or_config).__name__}")
    allowed = (*PARTS, "event_shape", "seed", "conditioning")
    unknown = set(overrides) - set(allowed)
    if unknown:
        raise ConfigError(f"unknown override(s) {sorted(unknown)}; build accepts {', '.join(allowed)}")
    conditioning = overrides.pop("conditioning", None)
    changes: dict[str, Any] = {}
    objects: dict[str, Any] = {}
    for key, value in overrides.items():
        if key in PARTS and not isinstance(value, str | dict):
            objects[key] = value
        elif key in PARTS:
            changes[key] = _override_spec(getattr(config, key), value)
        else:
            changes[key] = value
    if conditioning is not None:
        if "estimator" in objects:
            raise ConfigError("conditioning= configures a registered estimator; an estimator object is conditioned by itself")
        changes["estimator"] = _override_spec(changes.get("estimator", config.estimator), {"conditioning": conditioning})
    return ScoreModel(attrs.evolve(config, **changes), components=objects, registry=registry, device=device)


def load(path, *, registry: Registry | None = None, device=None, **overrides) -> ScoreModel:
    """Read a model written by :meth:`ScoreModel.save` onto ``device`` (default the CPU; the
    saved tensors are read to the CPU and copied there, whatever device saved them);
    ``overrides`` as in :func:`build` (needed for parts that were unregistered objects when saved)."""
    path = v.check_path("path", path)
    document, state = io.read_model(path)
    where = path / io.CONFIG
    try:
        config = ModelConfig.from_dict(document["config"])
    except (ScoregenError, TypeError) as exc:
        raise CheckpointError(f"{where}: field 'config' is invalid: {exc}") from None
    try:
        model = build(config, registry=registry, device=device, **overrides)
    except CheckpointError:
        raise
    except ScoregenError as exc:
        raise CheckpointError(f"{where}: the model in field 'config' cannot be built: {exc}") from None
    try:
        model.restore(state, document)
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    return model
