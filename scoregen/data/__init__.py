"""Data: the generated toys, scikit-learn's digits, and (in :mod:`scoregen.data.sources` and
:mod:`scoregen.data.files`) every input ``fit`` and the CLI accept, as the registered kind
``dataset`` (docs/data.md)."""

from scoregen.data.digits import DIGITS_TEST, digits, digits_tokens
from scoregen.data.toys import gaussian_mixture_2d, ring_mixture

__all__ = ["DIGITS_TEST", "digits", "digits_tokens", "gaussian_mixture_2d", "ring_mixture"]
