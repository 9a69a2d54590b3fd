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
