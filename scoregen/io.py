"""Saving and loading models: a JSON config plus safetensors weights, written atomically.

Loading never executes code from the files: JSON is parsed, and safetensors holds raw tensors.
"""

import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

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


def write_model(path, config: dict, state: dict[str, torch.Tensor] | None, meta: dict) -> None:
    """Write ``path/weights.safetensors`` (if ``state``) then ``path/config.json``."""
    path = Path(path)
    if state:
        tensors = {k: v.detach().contiguous().cpu() for k, v in state.items()}
        atomic_write_bytes(path / WEIGHTS, save(tensors))
    document = {"format": FORMAT, **meta, "config": config, "has_weights": bool(state)}
    atomic_write_bytes(path / CONFIG, json.dumps(document, indent=2, sort_keys=True).encode())


def read_model(path) -> tuple[dict, dict[str, torch.Tensor] | None]:
    """Read what :func:`write_model` wrote: ``(document, state or None)``."""
    path = Path(path)
    config_path = path / CONFIG
    if not config_path.is_file():
        raise CheckpointError(f"no saved model at {str(path)!r}: {CONFIG} is missing")
    try:
        document = json.loads(config_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{config_path} is not valid JSON (truncated or corrupted?): {exc}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT or "config" not in document:
        raise CheckpointError(f"{config_path} is not a scoregen model of format {FORMAT}")
    if not document.get("has_weights"):
        return document, None
    try:
        state = load_file(path / WEIGHTS)
    except FileNotFoundError:
        raise CheckpointError(f"{path / WEIGHTS} is missing") from None
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path / WEIGHTS} is not a valid safetensors file: {exc}") from None
    return document, state
