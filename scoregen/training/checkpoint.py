"""Training checkpoints: folders ``step-00000100/`` written atomically, verified on reading.

A checkpoint holds a loadable model (``config.json`` + ``weights.safetensors``, the EMA weights
under ``ema/``), the trainer's tensors (``trainer.safetensors``: optimiser moments, RNG states) and
its scalars (``trainer.json``), and ``MANIFEST.json`` with the SHA-256 and size of every file.
The folder is written under a temporary name, every file fsynced, then renamed, so a crash leaves
either the whole checkpoint or none of it; the manifest catches truncation and corruption that
happen afterwards. Nothing is unpickled: JSON and safetensors only.
"""

import hashlib
import json
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from scoregen.errors import CheckpointError, CheckpointWarning

MANIFEST = "MANIFEST.json"
_NAME = re.compile(r"^step-(\d{8})$")


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def checkpoint_dirs(root) -> list[Path]:
    """The checkpoint folders under ``root``, newest (highest step) first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and _NAME.match(p.name)]
    return sorted(found, key=lambda p: p.name, reverse=True)


def write_checkpoint(root, step: int, files: dict[str, bytes], *, keep: int = 2) -> Path:
    """Write ``files`` (name → bytes) as checkpoint ``step`` under ``root``; keep the newest
    ``keep`` checkpoints (at least 2, so a good one survives if the newest is damaged later)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step:08d}"
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{final.name}.", suffix=".tmp"))
    try:
        manifest = {"step": step, "files": {n: {"sha256": _digest(d), "bytes": len(d)} for n, d in files.items()}}
        for name, data in [*files.items(), (MANIFEST, json.dumps(manifest, indent=2).encode())]:
            with open(tmp / name, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        _fsync_dir(tmp)
        if final.exists():  # a damaged checkpoint of the same step from before a crash
            shutil.rmtree(final)
        os.replace(tmp, final)
        _fsync_dir(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for old in checkpoint_dirs(root)[max(keep, 2) :]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def read_checkpoint(path) -> dict[str, bytes]:
    """The files of the checkpoint folder ``path``, verified against its manifest.

    Raises :class:`CheckpointError` for a missing or unreadable manifest, a missing file, or a
    file whose size or SHA-256 differs from the manifest (truncated or corrupted).
    """
    path = Path(path)
    try:
        manifest = json.loads((path / MANIFEST).read_bytes())
        listed = manifest["files"]
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path} has no {MANIFEST} (incomplete write?)") from None
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{path / MANIFEST} is corrupted: {exc!r}") from None
    files = {}
    for name, expected in listed.items():
        try:
            data = (path / name).read_bytes()
        except FileNotFoundError:
            raise CheckpointError(f"checkpoint {path} is missing {name}") from None
        if len(data) != expected["bytes"]:
            raise CheckpointError(
                f"{path / name} is truncated or corrupted: {len(data)} bytes, the manifest says {expected['bytes']}"
            )
        if _digest(data) != expected["sha256"]:
            raise CheckpointError(f"{path / name} is corrupted: its SHA-256 differs from the manifest")
        files[name] = data
    return files


Decoded = TypeVar("Decoded")


def latest_checkpoint(root, decode: Callable[[dict[str, bytes], Path], Decoded]) -> tuple[Path, Decoded] | None:
    """The newest checkpoint under ``root`` that reads and decodes (``decode(files, path)``),
    as ``(path, decoded)``; ``None`` if there is none. Each damaged checkpoint passed over is
    reported with a :class:`CheckpointWarning` naming the problem and the one used instead."""
    problems = []
    for path in checkpoint_dirs(root):
        try:
            decoded = decode(read_checkpoint(path), path)
        except CheckpointError as exc:
            problems.append(str(exc))
            continue
        for problem in problems:
            warnings.warn(f"{problem}; resuming from the previous good checkpoint {path}", CheckpointWarning, stacklevel=2)
        return path, decoded
    if problems:
        raise CheckpointError(f"no usable checkpoint under {root}: " + "; ".join(problems))
    return None
