"""The library's own plugin: every built-in component, registered through the same hook as
third-party plugins."""

from scoregen import presets
from scoregen.estimators import ExactDiscrete, MaskedMLP, MaskedTransformer, NoiseConditionalMLP
from scoregen.hookspecs import hookimpl
from scoregen.kernels import GaussianLadder, MaskingKernel
from scoregen.objectives import DenoisingScoreMatching, MaskedCrossEntropy
from scoregen.samplers import AnnealedLangevin, Langevin, Unmask


@hookimpl
def scoregen_register(registry) -> None:
    registry.add("kernel", "gaussian", GaussianLadder)
    registry.add("estimator", "mlp", NoiseConditionalMLP)
    registry.add("objective", "dsm", DenoisingScoreMatching)
    registry.add("sampler", "langevin", Langevin)
    registry.add("sampler", "annealed-langevin", AnnealedLangevin)
    registry.add("preset", "ncsn", presets.ncsn)
    registry.add("kernel", "masking", MaskingKernel)
    registry.add("estimator", "transformer", MaskedTransformer)
    registry.add("estimator", "masked-mlp", MaskedMLP)
    registry.add("estimator", "exact-discrete", ExactDiscrete)
    registry.add("objective", "masked-ce", MaskedCrossEntropy)
    registry.add("sampler", "unmask", Unmask)
    registry.add("preset", "masked", presets.masked)
