"""Saving and loading models: a JSON config plus safetensors weights, written atomically.

Loading never executes code from the files: JSON is parsed, and safetensors holds raw tensors.
"""

import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load, save

from scoregen.errors import CheckpointError

FORMAT = 1
CONFIG = "config.json"
WEIGHTS = "weights.safetensors"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves either the old file or the new one:
    a temporary file in the same folder, fsync, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
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


def decode_tensors(data: bytes, where) -> dict[str, torch.Tensor]:
    """Parse safetensors bytes; anything else (a pickle from ``torch.save`` included) is refused
    with :class:`CheckpointError` before a single byte of it is interpreted as code."""
    # A safetensors file opens with its header's length (8 bytes, little-endian), then "{"; only
    # without that opening is a leading 0x80 (pickle) or "PK" (torch.save's zip) a pickle's mark.
    if data[8:9] != b"{" and (data[:1] == b"\x80" or data[:2] == b"PK"):
        raise CheckpointError(
            f"{where} is a pickle (torch.save) file, not safetensors; scoregen never unpickles, "
            "because loading a pickle can run arbitrary code"
        )
    try:
        return load(data)
    except (SafetensorError, ValueError, OSError) as exc:
        raise CheckpointError(f"{where} is not a valid safetensors file (truncated or corrupted?): {exc}") from None


def encode_model(config: dict, state: dict[str, torch.Tensor] | None, meta: dict) -> dict[str, bytes]:
    """The files of a saved model, by name: ``weights.safetensors`` (if ``state``) and ``config.json``."""
    files = {WEIGHTS: encode_tensors(state)} if state else {}
    document = {"format": FORMAT, **meta, "config": config, "has_weights": bool(state)}
    files[CONFIG] = json.dumps(document, indent=2, sort_keys=True).encode()
    return files


def decode_document(data: bytes, where) -> dict:
    """Parse a model's ``config.json`` bytes and check its format."""
    try:
        document = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{where} is not valid JSON (truncated or corrupted?): {exc}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT or "config" not in document:
        raise CheckpointError(f"{where} is not a scoregen model of format {FORMAT}")
    return document


def write_model(path, config: dict, state: dict[str, torch.Tensor] | None, meta: dict) -> None:
    """Write ``path/weights.safetensors`` (if ``state``) then ``path/config.json``."""
    path = Path(path)
    for name, data in encode_model(config, state, meta).items():  # config.json last
        atomic_write_bytes(path / name, data)


def read_model(path) -> tuple[dict, dict[str, torch.Tensor] | None]:
    """Read what :func:`write_model` wrote: ``(document, state or None)``."""
    path = Path(path)
    config_path = path / CONFIG
    if not config_path.is_file():
        raise CheckpointError(f"no saved model at {str(path)!r}: {CONFIG} is missing")
    document = decode_document(config_path.read_bytes(), config_path)
    if not document.get("has_weights"):
        return document, None
    try:
        data = (path / WEIGHTS).read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"{path / WEIGHTS} is missing") from None
    return document, decode_tensors(data, path / WEIGHTS)
