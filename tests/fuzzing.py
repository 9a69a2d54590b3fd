"""What the fuzz tests share: hostile values, a time limit, the verdict on one input, and the count
of inputs tried by verb.

The verdict is the project's rule for bad input: a call either raises one of scoregen's own errors
(:class:`~scoregen.errors.ScoregenError`) or returns a sane result (finite tensors), within a time
limit. Anything else (a raw ``TypeError`` from deep inside torch, a NaN, a hang) fails the example,
naming the input.
"""

import contextlib
import json
import math
import os
import signal
from collections import Counter

import attrs
import torch
from hypothesis import settings
from hypothesis import strategies as st

from scoregen.errors import ScoregenError

TIME_LIMIT_S = 60
COUNTS: Counter = Counter()  # (verb, "refused" | "accepted") -> inputs tried
COUNTS_ENV = "SCOREGEN_FUZZ_COUNTS"  # a file the counts are written to at the end of the session


def examples(fast: int) -> int:
    """``fast`` examples under the default ``dev`` profile; ten times as many (at least the
    profile's own number) under a thorough one such as ``ci``."""
    profile = settings.default.max_examples
    return fast if profile <= 20 else max(10 * fast, profile)


class Hang(AssertionError):
    """An input ran past the time limit."""


@contextlib.contextmanager
def time_limit(seconds: int = TIME_LIMIT_S):
    """Raise :class:`Hang` if the body runs longer than ``seconds`` (SIGALRM; main thread only)."""

    def alarm(signum, frame):
        raise Hang(f"ran for more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def sane(value, label: str) -> None:
    """Fail if ``value`` (a tensor, a model's parameters, or containers of them) holds NaN or inf."""
    if isinstance(value, torch.Tensor):
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise AssertionError(f"{label}: a non-finite result was returned silently")
    elif isinstance(value, tuple | list):
        for item in value:
            sane(item, label)
    elif hasattr(value, "parameters") and callable(value.parameters) and getattr(value, "estimator", None) is not None:
        sane(list(value.parameters()), f"{label} (weights)")


def verdict(verb: str, call, label: str):
    """Run ``call()`` under the time limit and count it for ``verb``: a :class:`ScoregenError` is
    a refusal (fine); a result must be sane; any other exception fails, naming ``label``. Returns
    the result, or ``None`` when refused."""
    try:
        with time_limit():
            result = call()
    except ScoregenError:
        COUNTS[(verb, "refused")] += 1
        return None
    except Hang:
        raise
    except Exception as exc:
        raise AssertionError(f"{verb}({label}) raised a foreign {type(exc).__name__}: {exc}") from exc
    sane(result, f"{verb}({label})")
    COUNTS[(verb, "accepted")] += 1
    return result


def write_counts() -> None:
    """Add this process's counts to the JSON file named by ``$SCOREGEN_FUZZ_COUNTS`` (if set)."""
    path = os.environ.get(COUNTS_ENV)
    if not path or not COUNTS:
        return
    try:
        with open(path) as f:
            total = Counter({tuple(k.split(":")): v for k, v in json.load(f).items()})
    except (FileNotFoundError, json.JSONDecodeError):
        total = Counter()
    total.update(COUNTS)
    with open(path, "w") as f:
        json.dump({f"{verb}:{kind}": n for (verb, kind), n in sorted(total.items())}, f, indent=1)
    COUNTS.clear()


# ------------------------------------------------------------------ hostile values

SPECIAL_FLOATS = [math.nan, math.inf, -math.inf, 0.0, -0.0, -1.0, 1e300, -1e300, 1e-300, 5e-324, 2.5, 0.5, 3.5e38, 1e-45]
SPECIAL_INTS = [-(2**63), -1, 0, 1, 2, 3, 10**12, 2**64]
SPECIAL_STRINGS = ["", "auto", "16", "0.1", "nan", "none", "linear", "gaussian", "../x", "\x00", "a" * 300]

ints = st.one_of(st.sampled_from(SPECIAL_INTS), st.integers(-3, 40))
floats = st.one_of(st.sampled_from(SPECIAL_FLOATS), st.floats(allow_nan=True, allow_infinity=True))
scalars = st.one_of(ints, floats, st.booleans(), st.none(), st.sampled_from(SPECIAL_STRINGS), st.text(max_size=4))
wild = st.one_of(
    scalars,
    st.lists(st.one_of(ints, floats, st.sampled_from(SPECIAL_STRINGS)), max_size=3),
    st.dictionaries(st.sampled_from(["name", "mean", "std", "x", "truncate"]), scalars, max_size=3),
)


def near(default) -> st.SearchStrategy:
    """Values close to a parameter's default, so that fuzzing also reaches past the first check:
    the default itself, its neighbours, its sign flipped, scaled by 2.5 or 1e300, as a string."""
    if isinstance(default, bool):
        return st.sampled_from([default, not default, 0, 1, "true"])
    if isinstance(default, int):
        return st.sampled_from([default, default + 1, max(default - 1, 0), -default, default * 2.5, float(default), str(default), True])
    if isinstance(default, float):
        return st.sampled_from([default, default * 2, default / 2, -default, default * 1e300, math.nan, str(default), int(default)])
    if isinstance(default, list | tuple) and default and all(isinstance(d, int) for d in default):
        return st.sampled_from([list(default), list(default[:1]), [], [0], [-1], [2.5], [True], str(default[0])])
    return st.just(default)


def parameters(factory) -> dict:
    """A factory's keyword parameters and their defaults (``attrs`` fields first, else the signature);
    a parameter without a default maps to ``None``."""
    import inspect

    if attrs.has(factory):
        return {
            f.alias or f.name: (None if f.default is attrs.NOTHING or isinstance(f.default, attrs.Factory) else f.default)
            for f in attrs.fields(factory)
            if f.init
        }
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return {}
    return {
        name: (None if p.default is inspect.Parameter.empty else p.default)
        for name, p in signature.parameters.items()
        if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    }


def some_of(options: dict[str, st.SearchStrategy], most: int = 2) -> st.SearchStrategy:
    """A dict of at most ``most`` of ``options``' keys, each with a value from its strategy: one or
    two bad values at a time, the rest left at their defaults, so that each check is reached."""
    if not options:
        return st.just({})
    keys = st.lists(st.sampled_from(sorted(options)), max_size=most, unique=True)
    return keys.flatmap(lambda chosen: st.fixed_dictionaries({k: options[k] for k in chosen}))


def overrides_for(factory) -> st.SearchStrategy:
    """A dict of one or two of ``factory``'s parameters, each hostile or near its default."""
    params = {k: d for k, d in parameters(factory).items() if k != "event_shape"}
    return some_of({name: st.one_of(near(d), near(d), wild) for name, d in params.items()})


def expensive(params) -> bool:
    """Whether a configuration that built would be costly to run (a count in the thousands):
    valid, the user's choice, and only built, not run, by the fuzz tests."""
    values = params.values() if isinstance(params, dict) else params
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool) and value > 400:
            return True
        if isinstance(value, list | tuple | dict) and expensive(value):
            return True
    return False
