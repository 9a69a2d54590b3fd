"""scikit-learn's 8×8 digits as images and as token sequences (no download: they ship with
scikit-learn, ``pip install scoregen[digits]``)."""

import functools

import torch

from scoregen import _validators as v
from scoregen._extras import require
from scoregen.errors import DataError


def digits(split: str = "train", *, labels: bool = False):
    """scikit-learn's 1 797 handwritten digits as images ``[N, 1, 8, 8]`` in ``[0, 1]`` (pixel
    values ``0..16`` divided by 16), float32; with ``labels=True`` also the classes ``[N]`` (int64).

    The split is fixed: a permutation seeded with 0 puts 360 images in ``"test"`` and the other
    1 437 in ``"train"`` (``"all"`` gives all 1 797 in the original order). No download: the images
    ship with scikit-learn (``pip install scoregen[digits]``).
    """
    if split not in ("train", "test", "all"):
        raise DataError(f"split must be 'train', 'test' or 'all', got {split!r}")
    images, classes = (t.clone() for t in _digits_arrays())
    if split != "all":
        order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
        rows = order[:DIGITS_TEST] if split == "test" else order[DIGITS_TEST:]
        images, classes = images[rows], classes[rows]
    return (images, classes) if labels else images


DIGITS_TEST = 360


@functools.cache
def _digits_arrays() -> tuple[torch.Tensor, torch.Tensor]:
    require("digits")
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.as_tensor(bunch.images, dtype=torch.float32).div(16.0).unsqueeze(1)
    return images, torch.as_tensor(bunch.target, dtype=torch.int64)


def digits_tokens(split: str = "train", *, threshold: int = 8) -> torch.Tensor:
    """The digits of :func:`digits` (same fixed split) as binary token sequences ``[N, 64]``
    (int64): a pixel (grey level ``0 … 16``) is token 1 if it is at least ``threshold``, else 0,
    read row by row. Needs scikit-learn (the ``digits`` extra)."""
    v.check_int("threshold", threshold, minimum=0)
    return (digits(split) * 16 >= threshold).flatten(1).to(torch.int64)


def digits_dataset(split: str = "train", *, labels: bool = False):
    """The registered dataset ``digits``: :func:`digits` of ``split``, with the classes beside
    the images when ``labels`` (a :class:`~scoregen.data.files.Labelled`)."""
    from scoregen.data.files import Labelled

    return Labelled(*digits(split, labels=True)) if labels else digits(split)
