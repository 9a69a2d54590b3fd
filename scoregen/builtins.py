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
from scoregen.estimators.classifier import NoiseConditionalClassifier, NoisyClassification
from scoregen.estimators.parameterisation import PARAMETERISATIONS
from scoregen.estimators.precond import PRECONDITIONINGS
from scoregen.hookspecs import hookimpl
from scoregen.kernels import (
    VESDE,
    VPSDE,
    CosineVP,
    EDMKernel,
    FlowKernel,
    GaussianLadder,
    MaskingKernel,
    SubVPSDE,
    grids,
)
from scoregen.objectives import (
    DenoisingScoreMatching,
    FlowMatching,
    ImplicitScoreMatching,
    MaskedCrossEntropy,
    SlicedScoreMatching,
    VarianceReducedSSM,
)
from scoregen.objectives.noise_levels import SIGMA_DISTRIBUTIONS
from scoregen.samplers import (
    DDIM,
    DPMPP2M,
    DPMPP2MSDE,
    DPMPP3MSDE,
    LMS,
    AnnealedLangevin,
    DPMSolver,
    EDMStochastic,
    Euler,
    EulerAncestral,
    Heun,
    Langevin,
    PredictorCorrector,
    ProbabilityFlowODE,
    ReverseSDE,
    UniPC,
    Unmask,
)
from scoregen.samplers.guidance import Autoguidance, ClassifierFree, ClassifierGuidance
from scoregen.samplers.posterior import DPS, MMPS, TDS, Replacement
from scoregen.samplers.predictors import EulerMaruyama, ReverseDiffusion


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
    registry.add("guidance", "classifier-free", ClassifierFree)
    registry.add("guidance", "classifier", ClassifierGuidance)
    registry.add("guidance", "autoguidance", Autoguidance)
    registry.add("posterior", "replacement", Replacement)
    registry.add("posterior", "dps", DPS)
    registry.add("posterior", "mmps", MMPS)
    registry.add("posterior", "tds", TDS)
    registry.add("estimator", "classifier", NoiseConditionalClassifier)
    registry.add("objective", "noisy-ce", NoisyClassification)
    registry.add("grid", "karras", grids.Karras)
    registry.add("grid", "exponential", grids.Exponential)
    registry.add("grid", "polyexponential", grids.PolyExponential)
    registry.add("grid", "uniform-t", grids.UniformTime)
    registry.add("grid", "uniform-logsnr", grids.UniformLogSNR)
    registry.add("grid", "ladder", grids.Ladder)
    registry.add("sampler", "euler", Euler)
    registry.add("sampler", "heun", Heun)
    registry.add("sampler", "edm", EDMStochastic)
    registry.add("sampler", "euler-ancestral", EulerAncestral)
    registry.add("sampler", "ddim", DDIM)
    registry.add("sampler", "dpm-solver", DPMSolver)
    registry.add("sampler", "dpm++2m", DPMPP2M)
    registry.add("sampler", "dpm++2m-sde", DPMPP2MSDE)
    registry.add("sampler", "dpm++3m-sde", DPMPP3MSDE)
    registry.add("sampler", "unipc", UniPC)
    registry.add("sampler", "lms", LMS)
    registry.add("predictor", "euler-maruyama", EulerMaruyama)
    registry.add("predictor", "reverse-diffusion", ReverseDiffusion)
    registry.add("dataset", "digits", digits_dataset)
    registry.add("dataset", "digits-tokens", digits_tokens)
    registry.add("dataset", "gmm", gaussian_mixture_2d)
    registry.add("dataset", "images", ImageFolder)
    registry.add("dataset", "npy", read_npy)
    registry.add("dataset", "npz", read_npz)
    registry.add("dataset", "csv", read_csv)
    registry.add("objective", "flow-matching", FlowMatching)
    registry.add("preset", "flow-matching", presets.flow_matching)
    for name, parameterisation in PARAMETERISATIONS.items():
        registry.add("parameterisation", name, parameterisation)
    for name, distribution in SIGMA_DISTRIBUTIONS.items():
        registry.add("sigma-distribution", name, distribution)
    for name, preconditioning in PRECONDITIONINGS.items():
        registry.add("preconditioning", name, preconditioning)
