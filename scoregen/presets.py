"""Named model configurations. ``ncsn`` is the reference: Song & Ermon (2019) on vectors;
``masked`` is the discrete (masking) family."""

from scoregen.config import ComponentSpec, ModelConfig


def ncsn() -> ModelConfig:
    """NCSN: a geometric ladder of ``L = 10`` levels from ``σ_1 = 10`` to ``σ_L = 0.01``, a
    noise-conditional MLP (``[x, log σ] → 128 → 128 → 128``, output ``/σ``), denoising score
    matching with ``λ(σ) = σ²`` and annealed Langevin dynamics (100 steps a level, ``ε = 2·10⁻⁵``,
    a final denoising step). ``σ_1 = 10`` suits data of diameter up to about 10; pass
    ``kernel={"sigma_max": "auto"}`` to take it from the data (NCSNv2's Technique 1)."""
    return ModelConfig(
        kernel=ComponentSpec(name="gaussian", params={"sigma_max": 10.0, "sigma_min": 0.01, "n_levels": 10}),
        estimator=ComponentSpec(name="mlp", params={"hidden": [128, 128, 128], "activation": "silu"}),
        objective=ComponentSpec(name="dsm"),
        sampler=ComponentSpec(name="annealed-langevin"),
        preset="ncsn",
    )


def ve_sde() -> ModelConfig:
    """The continuous NCSN (Song et al. 2021's VE SDE ``σ(t) = 0.01 (10/0.01)^t``) with the
    training levers that measured best on the 8-mode ring (issues 8 and 16, docs/quality.md):
    the ``ncsn`` MLP with EDM preconditioning (``σ_d`` measured on the data), trained at
    ``log σ ~ N(0, 1.5²)`` with DSM's reference-set target over the batch and 64 more training
    rows, sampled by the reverse SDE in 100 Euler–Maruyama steps (100 score evaluations). Fit it
    with ``lr=5e-3``: the measured recipe (coverage 0.986 at 10 000 steps, where ``fit``'s
    default ``lr=1e-3`` gives 0.983)."""
    return ModelConfig(
        kernel=ComponentSpec(name="ve", params={"sigma_max": 10.0, "sigma_min": 0.01, "n_levels": 10}),
        estimator=ComponentSpec(
            name="mlp", params={"hidden": [128, 128, 128], "activation": "silu", "preconditioning": "edm"}
        ),
        objective=ComponentSpec(
            name="dsm",
            params={"reference": 64, "sigma_distribution": {"name": "log-normal", "mean": 0.0, "std": 1.5}},
        ),
        sampler=ComponentSpec(name="reverse-sde", params={"n_steps": 100}),
        preset="ve-sde",
    )


def vp_sde() -> ModelConfig:
    """DDPM as an SDE (Song et al. 2021): the VP SDE with linear ``β`` from 0.1 to 20 on
    ``t ∈ [10⁻³, 1]``, the ``ncsn`` network (fed ``σ(t) = s(t)/m(t)``) and objective, and
    Euler–Maruyama on the reverse SDE with 1000 steps."""
    return ModelConfig(
        kernel=ComponentSpec(name="vp", params={"beta_min": 0.1, "beta_max": 20.0, "t_min": 1e-3}),
        estimator=ComponentSpec(name="mlp", params={"hidden": [128, 128, 128], "activation": "silu"}),
        objective=ComponentSpec(name="dsm"),
        sampler=ComponentSpec(name="reverse-sde", params={"n_steps": 1000}),
        preset="vp-sde",
    )


def ncsnv2() -> ModelConfig:
    """NCSNv2 (Song & Ermon 2020) for small images: a geometric ladder whose ``σ_1`` is the
    largest pairwise distance of the data (Technique 1) and whose number of levels makes
    consecutive perturbed distributions overlap (Technique 2), down to ``σ_L = 0.01``; a
    noise-conditional U-Net with output ``/σ`` (Technique 3); DSM with ``λ(σ) = σ²``; annealed
    Langevin with ``T = 5`` steps a level and ``ε`` from Technique 4, then a denoising step.
    ``scoregen suggest-sigmas DATA`` prints the numbers these rules give for a data set."""
    return ModelConfig(
        kernel=ComponentSpec(name="gaussian", params={"sigma_max": "auto", "sigma_min": 0.01, "n_levels": "auto"}),
        estimator=ComponentSpec(name="unet", params={"channels": 32, "channel_mult": [1, 2], "sigma_embedding": True}),
        objective=ComponentSpec(name="dsm"),
        sampler=ComponentSpec(name="annealed-langevin", params={"n_steps_each": 5, "step_lr": "auto"}),
        preset="ncsnv2",
    )


def flow_matching() -> ModelConfig:
    """Flow matching (Lipman et al. 2023) on the linear interpolant ``x_t = (1 − t) x₀ + t z``
    (the ``flow`` kernel, ``t ∈ [10⁻³, 0.999]``): the ``ncsn`` MLP predicting the velocity
    ``u = z − x₀`` from ``(x_t, log σ(t))``, the flow-matching objective at logit-normal times
    (``log σ = logit t ~ N(0, 1)``, Esser et al. 2024: measured better than ``t ~ U(t_min, t_max)``
    on the ring), and the probability-flow ODE (which is ``dx_t/dt = u``) in 10 Heun steps
    (20 velocity evaluations; docs/flow-matching.md)."""
    return ModelConfig(
        kernel=ComponentSpec(name="flow"),
        estimator=ComponentSpec(
            name="mlp", params={"hidden": [128, 128, 128], "activation": "silu", "parameterisation": "velocity"}
        ),
        objective=ComponentSpec(
            name="flow-matching", params={"sigma_distribution": {"name": "log-normal", "mean": 0.0, "std": 1.0}}
        ),
        sampler=ComponentSpec(name="ode", params={"method": "heun", "n_steps": 10}),
        preset="flow-matching",
    )


def masked() -> ModelConfig:
    """Masked diffusion on binary token sequences (the digits as 64 black/white pixels): the
    masking kernel (``V = 2``, linear schedule ``α(t) = 1 − t``), an MLP denoiser
    (``[onehot(x̃), t] → 512 → 512 → P·V``), the masked cross-entropy with ELBO weight ``1/t``
    (bits per token) and un-masking one token per step. For another vocabulary pass
    ``kernel={"vocab_size": V}``; the estimator takes ``V`` from the kernel. For longer
    sequences use ``estimator="transformer"``; on the 64-pixel digits and a few CPU minutes the
    MLP learns much faster (docs/discrete.md)."""
    return ModelConfig(
        kernel=ComponentSpec(name="masking", params={"vocab_size": 2, "schedule": "linear"}),
        estimator=ComponentSpec(name="masked-mlp", params={"hidden": [512, 512], "activation": "silu"}),
        objective=ComponentSpec(name="masked-ce"),
        sampler=ComponentSpec(name="unmask"),
        preset="masked",
    )
