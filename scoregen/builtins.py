"""The library's own plugin: every built-in component, registered through the same hook as
third-party plugins."""

from scoregen import presets
from scoregen.estimators import NoiseConditionalMLP, NoiseConditionalUNet
from scoregen.hookspecs import hookimpl
from scoregen.kernels import GaussianLadder
from scoregen.objectives import DenoisingScoreMatching
from scoregen.samplers import AnnealedLangevin, Langevin


@hookimpl
def scoregen_register(registry) -> None:
    registry.add("kernel", "gaussian", GaussianLadder)
    registry.add("estimator", "mlp", NoiseConditionalMLP)
    registry.add("objective", "dsm", DenoisingScoreMatching)
    registry.add("sampler", "langevin", Langevin)
    registry.add("sampler", "annealed-langevin", AnnealedLangevin)
    registry.add("preset", "ncsn", presets.ncsn)
    registry.add("estimator", "unet", NoiseConditionalUNet)
    registry.add("preset", "ncsnv2", presets.ncsnv2)
