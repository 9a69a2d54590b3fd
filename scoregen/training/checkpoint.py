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
import stat
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from scoregen.errors import CheckpointError, CheckpointWarning

MANIFEST = "MANIFEST.json"
MAX_MANIFEST_BYTES = 1 << 20
_NAME = re.compile(r"^step-(\d{8})$")
_FILE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


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
    from scoregen import io

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    io.remove_stale_temporaries(root, ".step-*.tmp")  # left by a writer killed mid-checkpoint
    final = root / f"step-{step:08d}"
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{final.name}.", suffix=".tmp"))
    try:
        os.chmod(tmp, 0o777 & ~io.umask())  # mkdtemp gives 0700; a checkpoint is an ordinary folder
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


def _read_regular(path: Path, limit: int) -> bytes:
    """At most ``limit + 1`` bytes of the regular file ``path`` (a link, a device or a folder is
    refused, so a manifest cannot make a read run without bound)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path.parent} is missing {path.name}") from None
    if not stat.S_ISREG(info.st_mode):
        raise CheckpointError(f"{path} is not a regular file (a link, a device or a folder is never read)")
    with open(path, "rb") as f:
        return f.read(limit + 1)


def _check_manifest(manifest, where: Path) -> dict[str, dict]:
    """The manifest's ``files``: plain names inside the folder (no ``/``, ``..`` or absolute
    paths), each with ``bytes`` (a non-negative int) and ``sha256`` (64 hex digits)."""
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise CheckpointError(f"{where}: field 'files' is missing or not an object")
    step = manifest.get("step")
    if not (isinstance(step, int) and not isinstance(step, bool) and step >= 0):
        raise CheckpointError(f"{where}: field 'step' has an invalid value {step!r}")
    for name, expected in manifest["files"].items():
        if not _FILE.match(name) or name == MANIFEST:
            raise CheckpointError(f"{where}: file name {name[:80]!r} is not a plain file name inside the checkpoint folder")
        if not isinstance(expected, dict) or set(expected) != {"sha256", "bytes"}:
            raise CheckpointError(f"{where}: field 'files.{name}' must hold exactly 'sha256' and 'bytes'")
        size = expected["bytes"]
        if not (isinstance(size, int) and not isinstance(size, bool) and size >= 0):
            raise CheckpointError(f"{where}: field 'files.{name}.bytes' has an invalid value {size!r}")
        if not (isinstance(expected["sha256"], str) and _SHA256.match(expected["sha256"])):
            raise CheckpointError(f"{where}: field 'files.{name}.sha256' is not a SHA-256 hex digest")
    return manifest["files"]


def read_checkpoint(path) -> dict[str, bytes]:
    """The files of the checkpoint folder ``path``, verified against its manifest.

    Raises :class:`CheckpointError` for a missing or malformed manifest (names outside the folder
    included), a missing file, or a file whose size or SHA-256 differs from the manifest
    (truncated or corrupted). No file is read beyond the size the manifest gives it.
    """
    from scoregen import io

    path = Path(path)
    if not (path / MANIFEST).exists():
        raise CheckpointError(f"checkpoint {path} has no {MANIFEST} (incomplete write?)")
    raw = _read_regular(path / MANIFEST, MAX_MANIFEST_BYTES)
    if len(raw) > MAX_MANIFEST_BYTES:
        raise CheckpointError(f"{path / MANIFEST} is larger than {MAX_MANIFEST_BYTES} bytes: not a manifest")
    listed = _check_manifest(io.parse_json(raw, path / MANIFEST), path / MANIFEST)
    files = {}
    for name, expected in listed.items():
        data = _read_regular(path / name, expected["bytes"])
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
