"""Named model configurations. ``ncsn`` is the reference: Song & Ermon (2019) on vectors."""

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
