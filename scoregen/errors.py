"""The errors scoregen raises on bad input, so users see what is wrong instead of a torch traceback.

Every error derives from :class:`ScoregenError`; each also derives from the built-in exception a
caller would naturally catch (``ValueError``, ``LookupError``, ``TypeError``).
"""


class ScoregenError(Exception):
    """Base class of every scoregen error."""


class ConfigError(ScoregenError, ValueError):
    """A configuration is invalid: an unknown or mistyped parameter, a value out of range."""


class UnknownComponentError(ScoregenError, LookupError):
    """A component name is not registered for its kind."""

    def __str__(self) -> str:  # LookupError would quote the message like a dict key
        return str(self.args[0])


class DuplicateComponentError(ScoregenError, ValueError):
    """Two plugins register the same (kind, name)."""


class DataError(ScoregenError, ValueError):
    """Data are not usable: non-finite values, wrong rank or shape."""


class IncompatibleKernelError(ScoregenError, TypeError):
    """A sampler or objective was given a noise kernel of a family it cannot use."""


class NumericalError(ScoregenError, ArithmeticError):
    """A computation left the finite numbers: training or sampling diverged (a step too large for
    the model, data too far from the noise range), so the result would be NaN or inf."""


class CheckpointError(ScoregenError, OSError):
    """A saved model is missing, truncated, corrupted or unsafe to load."""


class MissingExtraError(ScoregenError, ImportError):
    """An optional dependency is not installed; the message names the extra that brings it."""


class PluginLoadWarning(UserWarning):
    """A plugin could not be loaded; the others still are."""


class CheckpointWarning(UserWarning):
    """A damaged checkpoint was passed over; training resumes from an older good one."""
