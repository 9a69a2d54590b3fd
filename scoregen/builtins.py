"""The library's own plugin: every built-in component, registered through the same hook as
third-party plugins."""

from scoregen import presets
from scoregen.estimators import NoiseConditionalMLP
from scoregen.hookspecs import hookimpl
from scoregen.kernels import GaussianLadder
from scoregen.objectives import DenoisingScoreMatching, ImplicitScoreMatching, SlicedScoreMatching, VarianceReducedSSM
from scoregen.samplers import AnnealedLangevin, Langevin


@hookimpl
def scoregen_register(registry) -> None:
    registry.add("kernel", "gaussian", GaussianLadder)
    registry.add("estimator", "mlp", NoiseConditionalMLP)
    registry.add("objective", "dsm", DenoisingScoreMatching)
    registry.add("objective", "ism", ImplicitScoreMatching)
    registry.add("objective", "ssm", SlicedScoreMatching)
    registry.add("objective", "ssm-vr", VarianceReducedSSM)
    registry.add("sampler", "langevin", Langevin)
    registry.add("sampler", "annealed-langevin", AnnealedLangevin)
    registry.add("preset", "ncsn", presets.ncsn)
