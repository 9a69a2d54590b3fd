"""Data: the generated toys, scikit-learn's digits, files and folders, and the one representation
the trainer consumes (:mod:`scoregen.data.sources`: ``as_source`` → row sources and streams of
:class:`Batch` ``(x, labels | None)``). Data sets are the registered kind ``dataset``
(docs/data.md)."""

from scoregen.data.digits import DIGITS_TEST, digits, digits_tokens
from scoregen.data.files import ImageFolder, Labelled, image_tensor, open_path
from scoregen.data.sources import Batch, RowSource, StreamSource, as_source
from scoregen.data.toys import gaussian_mixture_2d, ring_mixture

__all__ = [
    "DIGITS_TEST", "Batch", "ImageFolder", "Labelled", "RowSource", "StreamSource", "as_source", "digits",
    "digits_tokens", "gaussian_mixture_2d", "image_tensor", "open_path", "ring_mixture",
]
