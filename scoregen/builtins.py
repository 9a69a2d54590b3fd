"""The library's own plugin: every built-in component, registered through the same hook as
third-party plugins."""

from scoregen import presets
from scoregen.data import ImageFolder, digits_tokens, gaussian_mixture_2d
from scoregen.data.digits import digits_dataset
from scoregen.data.files import read_csv, read_npy, read_npz
from scoregen.estimators import (
    EmpiricalScore,
    ExactDiscrete,
    MaskedMLP,
    MaskedTransformer,
    MixtureScore,
    NoiseConditionalMLP,
    NoiseConditionalUNet,
)
from scoregen.hookspecs import hookimpl
from scoregen.kernels import VESDE, VPSDE, CosineVP, EDMKernel, FlowKernel, GaussianLadder, MaskingKernel, SubVPSDE
from scoregen.objectives import (
    DenoisingScoreMatching,
    ImplicitScoreMatching,
    MaskedCrossEntropy,
    SlicedScoreMatching,
    VarianceReducedSSM,
)
from scoregen.samplers import AnnealedLangevin, Langevin, PredictorCorrector, ProbabilityFlowODE, ReverseSDE, Unmask


@hookimpl
def scoregen_register(registry) -> None:
    registry.add("kernel", "gaussian", GaussianLadder)
    registry.add("estimator", "mlp", NoiseConditionalMLP)
    registry.add("estimator", "gmm", MixtureScore)
    registry.add("estimator", "empirical", EmpiricalScore)
    registry.add("objective", "dsm", DenoisingScoreMatching)
    registry.add("objective", "ism", ImplicitScoreMatching)
    registry.add("objective", "ssm", SlicedScoreMatching)
    registry.add("objective", "ssm-vr", VarianceReducedSSM)
    registry.add("sampler", "langevin", Langevin)
    registry.add("sampler", "annealed-langevin", AnnealedLangevin)
    registry.add("preset", "ncsn", presets.ncsn)
    registry.add("kernel", "ve", VESDE)
    registry.add("kernel", "vp", VPSDE)
    registry.add("kernel", "subvp", SubVPSDE)
    registry.add("kernel", "cosine", CosineVP)
    registry.add("kernel", "edm", EDMKernel)
    registry.add("kernel", "flow", FlowKernel)
    registry.add("sampler", "reverse-sde", ReverseSDE)
    registry.add("sampler", "pc", PredictorCorrector)
    registry.add("sampler", "ode", ProbabilityFlowODE)
    registry.add("preset", "ve-sde", presets.ve_sde)
    registry.add("preset", "vp-sde", presets.vp_sde)
    registry.add("estimator", "unet", NoiseConditionalUNet)
    registry.add("preset", "ncsnv2", presets.ncsnv2)
    registry.add("kernel", "masking", MaskingKernel)
    registry.add("estimator", "transformer", MaskedTransformer)
    registry.add("estimator", "masked-mlp", MaskedMLP)
    registry.add("estimator", "exact-discrete", ExactDiscrete)
    registry.add("objective", "masked-ce", MaskedCrossEntropy)
    registry.add("sampler", "unmask", Unmask)
    registry.add("preset", "masked", presets.masked)
    registry.add("dataset", "digits", digits_dataset)
    registry.add("dataset", "digits-tokens", digits_tokens)
    registry.add("dataset", "gmm", gaussian_mixture_2d)
    registry.add("dataset", "images", ImageFolder)
    registry.add("dataset", "npy", read_npy)
    registry.add("dataset", "npz", read_npz)
    registry.add("dataset", "csv", read_csv)
