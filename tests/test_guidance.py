"""Guidance components: the endpoints w = 0 and w = 1 exactly, every sampler takes a guided score."""

import pytest
import torch

from scoregen import build
from scoregen.analytic import ClassConditionalMixture, GaussianMixture
from scoregen.errors import ConfigError, DataError
from scoregen.estimators import MaskedMLP, MixtureScore
from scoregen.samplers.guidance import Autoguidance, ClassifierFree, ClassifierGuidance


def _problem() -> ClassConditionalMixture:
    mixture = GaussianMixture([0.4, 0.3, 0.3], [[-2, 0], [2, 0], [0, 2.5]], [[0.3, 0.3], [0.3, 0.3], [0.2, 0.2]])
    return ClassConditionalMixture(mixture, [0, 1, 1])


EXACT = MixtureScore.from_mixture(_problem())
X = torch.randn(16, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2
SIGMA = torch.logspace(-2, 1, 16, dtype=torch.float64)
LABELS = torch.arange(16) % 2


def test_classifier_free_at_zero_and_one_is_unconditional_and_conditional_exactly():
    uncond, cond = EXACT(X, SIGMA), EXACT(X, SIGMA, labels=LABELS)
    assert torch.equal(ClassifierFree(weight=0.0).bind(EXACT, LABELS)(X, SIGMA), uncond)
    assert torch.equal(ClassifierFree(weight=1.0).bind(EXACT, LABELS)(X, SIGMA), cond)
    guided = ClassifierFree(weight=3.0).bind(EXACT, LABELS)(X, SIGMA)
    torch.testing.assert_close(guided, uncond + 3.0 * (cond - uncond))


def test_classifier_free_interval_guides_only_inside_it():
    uncond, cond = EXACT(X, SIGMA), EXACT(X, SIGMA, labels=LABELS)
    guided = ClassifierFree(weight=0.0, interval=(0.1, 1.0)).bind(EXACT, LABELS)(X, SIGMA)
    inside = (SIGMA >= 0.1) & (SIGMA <= 1.0)
    assert torch.equal(guided[inside], uncond[inside])
    assert torch.equal(guided[~inside], cond[~inside])
    with pytest.raises(ConfigError):
        ClassifierFree(interval=(1.0, 0.1))


def test_classifier_guidance_with_the_exact_classifier_gives_the_conditional_score():
    uncond, cond = EXACT(X, SIGMA), EXACT(X, SIGMA, labels=LABELS)
    assert torch.equal(ClassifierGuidance(classifier=EXACT.class_logits, weight=0.0).bind(EXACT, LABELS)(X, SIGMA), uncond)
    guided = ClassifierGuidance(classifier=EXACT.class_logits, weight=1.0).bind(EXACT, LABELS)(X, SIGMA)
    torch.testing.assert_close(guided, cond, rtol=1e-8, atol=1e-8)  # ∇ log p(c | x_σ) = s_c − s
    with pytest.raises(ConfigError):
        ClassifierGuidance(weight=1.0)


def test_autoguidance_endpoints_are_the_guide_and_the_model():
    guide = MixtureScore.from_mixture(ClassConditionalMixture(_problem().mixture.perturb(0.5), [0, 1, 1]))
    assert torch.equal(Autoguidance(guide=guide, weight=0.0).bind(EXACT, LABELS)(X, SIGMA), guide(X, SIGMA, labels=LABELS))
    assert torch.equal(Autoguidance(guide=guide, weight=1.0).bind(EXACT, LABELS)(X, SIGMA), EXACT(X, SIGMA, labels=LABELS))
    assert torch.equal(Autoguidance(guide=guide, weight=1.0).bind(EXACT, None)(X, SIGMA), EXACT(X, SIGMA))


def test_guidance_without_labels_is_refused():
    with pytest.raises(ConfigError):
        ClassifierFree(weight=2.0).bind(EXACT, None)


@pytest.mark.parametrize(
    "sampler",
    [
        {"name": "annealed-langevin", "n_steps_each": 5},
        {"name": "langevin", "n_steps": 20},
        {"name": "reverse-sde", "n_steps": 20},
        {"name": "pc", "n_steps": 10},
        {"name": "ode", "n_steps": 10},
        {"name": "heun", "n_steps": 10},
        {"name": "dpm++2m", "n_steps": 10},
        {"name": "euler-ancestral", "n_steps": 10},
    ],
)
def test_every_sampler_takes_a_guided_score(sampler):
    model = build("ncsn", estimator=EXACT, event_shape=(2,), sampler=sampler)
    x = model.sample(32, labels=1, guidance=2.0, seed=0)
    assert x.shape == (32, 2) and bool(torch.isfinite(x).all())
    again = model.sample(32, labels=1, guidance={"name": "classifier-free", "weight": 2.0}, seed=0)
    assert torch.equal(x, again)


def test_conditional_samples_follow_the_class_with_exact_scores():
    model = build("ve-sde", estimator=EXACT, event_shape=(2,))
    x = model.sample(400, labels=1, seed=0)
    near = _problem().mixture.responsibilities(x.double()).argmax(1)
    assert float((near == 0).double().mean()) < 0.02  # class 0's component is never visited
    assert abs(float((near == 1).double().mean()) - 0.5) < 0.1  # components 1, 2 at 0.3 : 0.3


def test_sample_checks_labels():
    model = build("ncsn", estimator=EXACT, event_shape=(2,), sampler={"name": "annealed-langevin", "n_steps_each": 1})
    for bad in (2, -1, torch.tensor([0.0] * 4), torch.tensor([0, 1]), torch.tensor([True] * 4)):
        with pytest.raises(DataError):
            model.sample(4, labels=bad, seed=0)
    plain = build("ncsn", estimator=MixtureScore.from_mixture(_problem().mixture), event_shape=(2,))
    with pytest.raises(ConfigError):
        plain.sample(4, labels=0, seed=0)


def test_classifier_free_guidance_on_masked_logits_keeps_visible_tokens():
    net = MaskedMLP((6,), vocab_size=2, hidden=(16,), conditioning={"classes": 3})
    x_t = torch.tensor([[2, 0, 2, 1, 2, 2]] * 4)  # mask id 2
    labels = torch.tensor([0, 1, 2, 0])
    logits = ClassifierFree(weight=4.0).bind(net, labels)(x_t, torch.full((4,), 0.5))
    assert not bool(logits.isnan().any())
    visible = x_t != 2
    assert torch.equal(logits[visible], net(x_t, torch.full((4,), 0.5))[visible])
    assert bool(torch.isfinite(logits[~visible]).all())


def test_a_trained_noise_conditional_classifier_guides_towards_its_class():
    g = torch.Generator().manual_seed(0)
    x, y = _problem().sample(2048, g)
    clf = build("ve-sde", estimator={"name": "classifier", "classes": 2, "hidden": [32, 32]}, objective="noisy-ce")
    clf.fit(x.float(), labels=y, steps=300, batch_size=256, lr=3e-3, progress=False)
    with torch.no_grad():
        logits = clf.estimator(torch.tensor([[-2.0, 0.0], [2.0, 0.0]]), torch.full((2,), 0.05))
    assert logits.argmax(1).tolist() == [0, 1]
    model = build("ve-sde", estimator=MixtureScore.from_mixture(_problem().mixture), event_shape=(2,), sampler={"n_steps": 50})
    guided = model.sample(300, labels=0, guidance={"name": "classifier", "classifier": clf, "weight": 2.0}, seed=0)
    near = _problem().mixture.responsibilities(guided.double()).argmax(1)
    assert float((near == 0).double().mean()) > 0.8  # 0.4 unguided
    with pytest.raises(ConfigError):
        clf.fit(x.float(), steps=1, progress=False)  # noisy-ce needs labels
