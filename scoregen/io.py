"""Saving and loading models: a JSON config plus safetensors weights, written atomically.

Loading never executes code from the files: JSON is parsed, and safetensors holds raw tensors.
Saved files are untrusted input: every field read from them is checked, and a bad one raises
:class:`~scoregen.errors.CheckpointError` naming the file and the field; a folder with a
``MANIFEST.json`` (a training checkpoint) is verified against it before anything is decoded.
"""

import json
import math
import os
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load, save

from scoregen import _validators as v
from scoregen.errors import CheckpointError

FORMAT = 1
CONFIG = "config.json"
WEIGHTS = "weights.safetensors"


def umask() -> int:
    """The process's file-creation mask (read without changing it for longer than a call)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def remove_stale_temporaries(folder: Path, pattern: str) -> None:
    """Remove what a killed writer left behind in ``folder``: temporary files or folders matching
    ``pattern`` (they are never read, only renamed into place once complete)."""
    import shutil

    for stale in Path(folder).glob(pattern):
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves either the old file or the new one:
    a temporary file in the same folder, fsync, then rename over ``path``. The file gets the
    permissions of any other new file (``0666`` less the umask; ``mkstemp`` alone gives ``0600``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent, f".{path.name}.*.tmp")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def encode_tensors(tensors: dict[str, torch.Tensor]) -> bytes:
    """``tensors`` as safetensors bytes (CPU, contiguous)."""
    return save({k: v.detach().contiguous().cpu() for k, v in tensors.items()})


def decode_tensors(data: bytes, where, *, finite: bool = False) -> dict[str, torch.Tensor]:
    """Parse safetensors bytes; anything else (a pickle from ``torch.save`` included) is refused
    with :class:`CheckpointError` before a single byte of it is interpreted as code. With
    ``finite``, a floating tensor holding NaN or inf is refused too (weights never do)."""
    # A safetensors file opens with its header's length (8 bytes, little-endian), then "{"; only
    # without that opening is a leading 0x80 (pickle) or "PK" (torch.save's zip) a pickle's mark.
    if data[8:9] != b"{" and (data[:1] == b"\x80" or data[:2] == b"PK"):
        raise CheckpointError(
            f"{where} is a pickle (torch.save) file, not safetensors; scoregen never unpickles, "
            "because loading a pickle can run arbitrary code"
        )
    try:
        tensors = load(data)
    except (SafetensorError, ValueError, OSError, RuntimeError, TypeError) as exc:
        raise CheckpointError(f"{where} is not a valid safetensors file (truncated or corrupted?): {exc}") from None
    if finite:
        for name, tensor in tensors.items():
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                raise CheckpointError(f"{where}: tensor {name!r} holds non-finite values (NaN or inf)")
    return tensors


def encode_model(config: dict, state: dict[str, torch.Tensor] | None, meta: dict) -> dict[str, bytes]:
    """The files of a saved model, by name: ``weights.safetensors`` (if ``state``) and ``config.json``."""
    files = {WEIGHTS: encode_tensors(state)} if state else {}
    document = {"format": FORMAT, **meta, "config": config, "has_weights": bool(state)}
    files[CONFIG] = json.dumps(document, indent=2, sort_keys=True).encode()
    return files


def parse_json(data: bytes, where):
    """JSON bytes as Python values; :class:`CheckpointError` naming ``where`` if they are not.
    (``NaN`` is read: a history's per-level loss is ``NaN`` where a level drew no sample; the
    fields that must be finite are checked by :func:`field`.)"""
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise CheckpointError(f"{where} is not valid JSON (truncated or corrupted?): {exc}") from None


def field(document: dict, name: str, where, check, *, default=...):
    """``document[name]`` after ``check(value) -> bool``; a missing (without ``default``) or
    failing field raises :class:`CheckpointError` naming ``where`` and the field."""
    if name not in document:
        if default is ...:
            raise CheckpointError(f"{where}: field {name!r} is missing")
        return default
    value = document[name]
    if not check(value):
        raise CheckpointError(f"{where}: field {name!r} has an invalid value {_short(value)}")
    return value


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def is_count(value) -> bool:
    """A non-negative ``int`` (not a ``bool``)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def is_number(value) -> bool:
    """A finite ``int`` or ``float`` (not a ``bool``)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_ema(value) -> bool:
    return value is None or (
        isinstance(value, dict)
        and set(value) == {"decay", "updates"}
        and is_number(value["decay"])
        and 0 <= value["decay"] < 1
        and is_count(value["updates"])
    )


def _is_history(value) -> bool:
    return isinstance(value, list) and all(isinstance(e, dict) and all(isinstance(k, str) for k in e) for e in value)


def decode_document(data: bytes, where) -> dict:
    """Parse a model's ``config.json`` bytes and check every field this library reads: ``format``,
    ``config`` (a dict; :class:`~scoregen.config.ModelConfig` checks its contents), ``has_weights``,
    ``step``, ``history`` and ``ema`` (``None`` or ``{"decay", "updates"}``)."""
    document = parse_json(data, where)
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise CheckpointError(f"{where} is not a scoregen model of format {FORMAT}")
    field(document, "config", where, lambda c: isinstance(c, dict))
    document["has_weights"] = field(document, "has_weights", where, lambda b: isinstance(b, bool), default=False)
    document["step"] = field(document, "step", where, is_count, default=0)
    document["history"] = field(document, "history", where, _is_history, default=[])
    document["ema"] = field(document, "ema", where, _is_ema, default=None)
    return document


def write_model(path, config: dict, state: dict[str, torch.Tensor] | None, meta: dict) -> None:
    """Write ``path/weights.safetensors`` (if ``state``) then ``path/config.json``."""
    path = v.check_path("path", path)
    if path.exists() and not path.is_dir():
        raise CheckpointError(f"cannot save a model to {str(path)!r}: it is an existing file, not a folder")
    try:
        for name, data in encode_model(config, state, meta).items():  # config.json last
            atomic_write_bytes(path / name, data)
    except CheckpointError:
        raise
    except OSError as exc:  # the file system refused: not writable, full, not a folder
        raise CheckpointError(f"cannot save a model to {str(path)!r}: {exc.strerror or exc}") from None


def read_model(path) -> tuple[dict, dict[str, torch.Tensor] | None]:
    """Read what :func:`write_model` wrote: ``(document, state or None)``. A folder with a
    manifest (a training checkpoint) is verified against it first: a flipped byte in any file
    it lists is refused."""
    path = v.check_path("path", path)
    try:
        return _read_model(path)
    except CheckpointError:
        raise
    except OSError as exc:  # the file system refused: a name too long, no permission, an I/O error
        raise CheckpointError(f"cannot read a model from {str(path)[:200]!r}: {exc.strerror or exc}") from None


def _read_model(path: Path) -> tuple[dict, dict[str, torch.Tensor] | None]:
    from scoregen.training.checkpoint import MANIFEST, read_checkpoint

    config_path = path / CONFIG
    if not config_path.is_file():
        raise CheckpointError(f"no saved model at {str(path)!r}: {CONFIG} is missing")
    if (path / MANIFEST).exists():
        files = read_checkpoint(path)
        if CONFIG not in files:
            raise CheckpointError(f"{path / MANIFEST} does not list {CONFIG}")
    else:
        files = {CONFIG: _read(config_path)}
    document = decode_document(files[CONFIG], config_path)
    if not document["has_weights"]:
        return document, None
    if WEIGHTS not in files:
        try:
            files[WEIGHTS] = _read(path / WEIGHTS)
        except FileNotFoundError:
            raise CheckpointError(f"{path / WEIGHTS} is missing") from None
    return document, decode_tensors(files[WEIGHTS], path / WEIGHTS, finite=True)


def _read(path: Path) -> bytes:
    """The bytes of the regular file ``path`` (a folder or a device is refused)."""
    if path.exists() and not path.is_file():
        raise CheckpointError(f"{path} is not a regular file")
    try:
        return path.read_bytes()
    except IsADirectoryError:
        raise CheckpointError(f"{path} is not a regular file") from None
    except PermissionError as exc:
        raise CheckpointError(f"cannot read {path}: {exc}") from None
