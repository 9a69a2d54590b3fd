"""A small digit classifier trained deterministically on the digits' training split, whose
penultimate layer gives the features of :func:`digit_fd` (a Fréchet distance for 8×8 digits, in
the spirit of FID, with no download)."""

import functools

import torch
from torch import nn

from scoregen.metrics import frechet_distance


class DigitClassifier(nn.Module):
    """``[B, 1, 8, 8] → features [B, 64] → logits [B, 10]``: an MLP ``64 → 128 → 64 → 10``."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.SiLU(), nn.Linear(128, 64), nn.SiLU())
        self.head = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@functools.cache
def digit_classifier(steps: int = 300, seed: int = 0) -> DigitClassifier:
    """The classifier, trained once per process: ``steps`` full-batch Adam steps (lr 10⁻²) on
    the training split from weights seeded by ``seed``; the same on every run on the CPU.
    About 97% accurate on the test split."""
    from scoregen import data

    x, y = data.digits("train", labels=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = DigitClassifier()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    with torch.enable_grad():
        for _ in range(steps):
            optimizer.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(net(x), y).backward()
            optimizer.step()
    return net.eval().requires_grad_(False)


def digit_fd(samples: torch.Tensor, reference: torch.Tensor) -> dict:
    """Fréchet distance between ``samples [N, 1, 8, 8]`` and ``reference [M, 1, 8, 8]`` in the
    classifier's features, and the class coverage of the samples: ``class_counts`` (predicted
    classes), ``classes_covered`` (classes holding at least a fifth of the fair share ``N/50``).
    Samples are clipped to ``[0, 1]``, the data's range."""
    net = digit_classifier()
    with torch.no_grad():
        feats = net.features(samples.clamp(0, 1))
        ref = net.features(reference)
        counts = torch.bincount(net.head(feats).argmax(1), minlength=10)
    return {
        "fd": frechet_distance(feats, ref),
        "class_counts": counts.tolist(),
        "classes_covered": int((counts >= len(samples) / 50).sum()),
    }


def digit_fd_floor() -> float:
    """The floor of :func:`digit_fd`: the distance between the test split (360 images) and the
    training split (1 437), i.e. what two samples of the true distribution score."""
    from scoregen import data

    return digit_fd(data.digits("test"), data.digits("train"))["fd"]
