"""Data from files: image folders (PNG/JPEG), ``.npy`` (memory-mapped), ``.npz`` and CSV.

Each opens as a map-style dataset read row by row, so a set larger than memory streams from disk
(``fit(..., num_workers=n)`` reads it in worker processes).

The image convention: an image becomes float32 ``[C, H, W]`` with ``x = pixel / 127.5 − 1`` (8-bit
values ``0 … 255`` to ``[−1, 1]``), ``C = 1`` for greyscale and ``3`` for colour (an alpha channel
is dropped). ``size`` resizes the shorter side to the target (bicubic) and crops the centre; without
it every image must have the size of the first. ``uint8`` arrays of rank ≥ 3 in ``.npy``/``.npz``
files are images too (``[N, H, W]``, ``[N, H, W, C]`` or ``[N, C, H, W]``, ``C`` in 1, 3, 4);
other arrays are taken as they are, except that a rank-3 float array ``[N, H, W]`` gains its
channel axis.
"""

import csv
import hashlib
from pathlib import Path

import attrs
import numpy as np
import torch

from scoregen.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_GREY_MODES = ("1", "L", "LA", "I", "I;16", "F")


def _size(value) -> tuple[int, int] | None:
    if value is None:
        return None
    size = (value, value) if isinstance(value, int) else tuple(value)
    if len(size) != 2 or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in size):
        raise DataError(f"size must be a positive int or (height, width), got {value!r}")
    return size


def is_image(value) -> bool:
    """Whether ``value`` is a PIL image (without importing Pillow when it is not loaded)."""
    import sys

    pil = sys.modules.get("PIL.Image")
    return pil is not None and isinstance(value, pil.Image)


def image_tensor(image, size: tuple[int, int] | None = None, channels: int | None = None) -> torch.Tensor:
    """A PIL image as float32 ``[C, H, W]`` in ``[−1, 1]`` (``pixel / 127.5 − 1``): greyscale
    (``C = 1``) or RGB (``C = 3``; ``channels`` forces one), resized on its shorter side to cover
    ``size = (H, W)`` and centre-cropped."""
    from PIL import Image

    if channels is None:
        channels = 1 if image.mode in _GREY_MODES else 3
    image = image.convert("L" if channels == 1 else "RGB")
    if size is not None:
        height, width = size
        scale = max(height / image.height, width / image.width)
        resized = (max(width, round(image.width * scale)), max(height, round(image.height * scale)))
        image = image.resize(resized, Image.Resampling.BICUBIC)
        left, top = (image.width - width) // 2, (image.height - height) // 2
        image = image.crop((left, top, left + width, top + height))
    pixels = torch.from_numpy(np.asarray(image, dtype=np.uint8).copy())
    pixels = pixels[None] if pixels.ndim == 2 else pixels.permute(2, 0, 1)
    return pixels.to(torch.float32) / 127.5 - 1.0


class ImageFolder(torch.utils.data.Dataset):
    """Every PNG/JPEG under ``root`` (recursively, in sorted order) as ``[C, H, W]`` in ``[−1, 1]``
    (the module's image convention). With ``labels=True`` an item is ``(image, class)``, the class
    being the index of its first-level subfolder in sorted order (torchvision's ``ImageFolder``).

    Opening reads every file's header: an empty folder, an unreadable file, or (without ``size``)
    images of different sizes are a :class:`DataError` naming the file. Pixels are decoded when a
    row is read.
    """

    def __init__(self, root, *, size: int | tuple[int, int] | None = None, channels: int | None = None, labels: bool = False):
        from PIL import Image, UnidentifiedImageError

        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(f"{self.root} is not a folder")
        self.size = _size(size)
        if channels not in (None, 1, 3):
            raise DataError(f"channels must be 1, 3 or None (from the images), got {channels!r}")
        self.files = sorted(p for p in self.root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not self.files:
            raise DataError(f"{self.root} holds no PNG or JPEG images ({', '.join(IMAGE_SUFFIXES)})")
        modes: set[str] = set()
        sizes: dict[tuple[int, int], Path] = {}
        for path in self.files:
            try:
                with Image.open(path) as image:
                    modes.add(image.mode)
                    sizes.setdefault(image.size, path)
            except (UnidentifiedImageError, OSError) as exc:
                raise DataError(f"cannot read the image {path}: {exc}") from None
        if self.size is None and len(sizes) > 1:
            (first, a), (other, b) = list(sizes.items())[:2]
            raise DataError(
                f"images differ in size ({a}: {first[0]}×{first[1]}, {b}: {other[0]}×{other[1]}); "
                "give size= (e.g. --set data.size=32) to resize and centre-crop them"
            )
        self.channels = channels or (1 if modes <= set(_GREY_MODES) else 3)
        self.classes: list[str] | None = None
        if labels:
            parts = [p.relative_to(self.root).parts for p in self.files]
            loose = next((self.files[i] for i, part in enumerate(parts) if len(part) == 1), None)
            if loose is not None:
                raise DataError(f"labels=True reads the class from the subfolder, but {loose} is not in one")
            self.classes = sorted({part[0] for part in parts})
            self.targets = [self.classes.index(part[0]) for part in parts]

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int):
        from PIL import Image, UnidentifiedImageError

        path = self.files[i]
        try:
            with Image.open(path) as image:
                image.load()
                x = image_tensor(image, self.size, self.channels)
        except (UnidentifiedImageError, OSError) as exc:
            raise DataError(f"cannot read the image {path}: {exc}") from None
        return x if self.classes is None else (x, self.targets[i])

    def fingerprint(self) -> str:
        """The files' names and sizes, and the reading settings."""
        digest = hashlib.sha256(repr((self.size, self.channels, self.classes)).encode())
        for path in self.files:
            digest.update(f"{path.relative_to(self.root)}:{path.stat().st_size}".encode())
        return digest.hexdigest()[:16]


def array_layout(shape: tuple[int, ...], dtype: np.dtype) -> str:
    """How a file's array ``[N, ...]`` is read: ``"hwc"`` or ``"chw"``/``"hw"`` uint8 images,
    ``"hw"`` a float ``[N, H, W]`` (channel added), else ``"as-is"``."""
    if dtype == np.uint8 and len(shape) == 4:
        return "hwc" if shape[-1] in (1, 3, 4) and shape[1] not in (1, 3, 4) else "chw"
    if len(shape) == 3 and (dtype == np.uint8 or np.issubdtype(dtype, np.floating)):
        return "hw"
    return "as-is"


class ArrayRows(torch.utils.data.Dataset):
    """The rows of an array ``[N, ...]`` (a memory map for ``.npy``) read with the module's
    conventions, with optional ``labels [N]`` (items are then ``(x, label)``); ``name`` is the file."""

    def __init__(self, array: np.ndarray, labels: np.ndarray | None = None, *, name: str):
        if array.dtype.kind not in "biuf":
            raise DataError(f"{name} holds {array.dtype} values; scoregen reads numbers (bool, int, uint, float)")
        if array.ndim < 2 or array.shape[0] == 0:
            raise DataError(f"{name} has shape {list(array.shape)}; it must be [N, ...] with N ≥ 1 and a rank of 2 or more")
        if labels is not None and labels.shape[:1] != array.shape[:1]:
            raise DataError(f"{name}: {labels.shape[0]} labels for {array.shape[0]} rows")
        self.array, self.labels, self.name = array, labels, name
        self.layout = array_layout(array.shape, array.dtype)

    def __len__(self) -> int:
        return self.array.shape[0]

    def __getitem__(self, i: int):
        row = torch.from_numpy(np.array(self.array[i]))
        if self.layout == "hwc":
            row = row.permute(2, 0, 1)
        if self.layout == "hw":
            row = row[None]
        if self.array.dtype == np.uint8 and self.layout != "as-is":
            row = row.to(torch.float32) / 127.5 - 1.0
        return row if self.labels is None else (row, torch.as_tensor(self.labels[i]))

    def fingerprint(self) -> str:
        head = np.ascontiguousarray(self.array[: min(len(self), 64)])
        return hashlib.sha256(repr(self.array.shape).encode() + head.tobytes()).hexdigest()[:16]


def read_npy(path) -> ArrayRows:
    """A ``.npy`` file, memory-mapped (read from disk row by row), never unpickled."""
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {path} as a numeric .npy array (pickled arrays are refused): {exc}") from None
    return ArrayRows(array, name=str(path))


_LABEL_KEYS = ("labels", "label", "y", "targets")


def read_npz(path, *, key: str | None = None, labels: str | None = None) -> ArrayRows:
    """The array ``key`` of a ``.npz`` file (default: ``x``, ``data`` or ``images``, else its only
    array) with the labels under ``labels`` (default: ``labels``, ``label``, ``y`` or ``targets``
    when present), read into memory, never unpickled."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {path} as a numeric .npz archive (pickled arrays are refused): {exc}") from None
    if labels is None:
        labels = next((k for k in _LABEL_KEYS if k in arrays), None)
    if key is None:
        candidates = [k for k in ("x", "data", "images") if k in arrays] or [k for k in arrays if k != labels]
        if len(candidates) != 1 and not any(k in arrays for k in ("x", "data", "images")):
            raise DataError(f"{path} holds {sorted(arrays)}: say which is the data (key=...)")
        key = candidates[0]
    for name in (key, labels):
        if name is not None and name not in arrays:
            raise DataError(f"{path} has no array {name!r}; it holds {sorted(arrays)}")
    return ArrayRows(arrays[key], None if labels is None else arrays[labels], name=f"{path}[{key}]")


def read_csv(path, *, label_column: str | int | None = None) -> ArrayRows:
    """A CSV file of numbers, one row per example (a first row that is not numeric is the header).
    ``label_column`` (a header name or a column index) is kept as the labels, beside the data."""
    path = Path(path)
    try:
        with open(path, newline="") as f:
            rows = [row for row in csv.reader(f) if row]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read {path} as CSV: {exc}") from None
    header = None
    if rows and not _numeric(rows[0]):
        header, rows = rows[0], rows[1:]
    if not rows:
        raise DataError(f"{path} has no data rows")
    if isinstance(label_column, str):
        if header is None or label_column not in header:
            raise DataError(f"{path} has no column {label_column!r}; its header is {header}")
        label_column = header.index(label_column)
    values = []
    for line, row in enumerate(rows, start=2 if header else 1):
        if len(row) != len(rows[0]):
            raise DataError(f"{path}, line {line}: {len(row)} columns, the first row has {len(rows[0])}")
        try:
            values.append([float(cell) for cell in row])
        except ValueError:
            bad = next(cell for cell in row if not _is_number(cell))
            raise DataError(f"{path}, line {line}: cannot read {bad!r} as a number") from None
    array = np.asarray(values, dtype=np.float32)
    if label_column is None:
        return ArrayRows(array, name=str(path))
    if not -array.shape[1] <= label_column < array.shape[1]:
        raise DataError(f"{path} has {array.shape[1]} columns; no label column {label_column}")
    labels = array[:, label_column]
    labels = labels.astype(np.int64) if np.all(labels == np.round(labels)) else labels
    return ArrayRows(np.delete(array, label_column, axis=1), labels, name=str(path))


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _numeric(row: list[str]) -> bool:
    return all(_is_number(cell) for cell in row)


@attrs.frozen(eq=False)
class Labelled:
    """An in-memory data tensor ``x [N, *E]`` with its ``labels [N, ...]`` beside it (what a
    ``dataset`` factory returns for labelled data in memory, e.g. ``digits`` with ``labels=True``)."""

    x: object = attrs.field(repr=False)
    labels: object = attrs.field(repr=False)


def open_path(path, **params):
    """The data at ``path``: a folder of images (:class:`ImageFolder`), ``.npy``, ``.npz`` or
    ``.csv``; ``params`` go to the reader (``size=``, ``channels=``, ``labels=``, ``key=``,
    ``label_column=``)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path} does not exist")
    readers = {".npy": read_npy, ".npz": read_npz, ".csv": read_csv}
    if path.is_dir():
        return ImageFolder(path, **params)
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise DataError(f"{path}: scoregen reads an image folder, .npy, .npz or .csv, not {path.suffix or 'a file without suffix'}")
    try:
        return reader(path, **params)
    except TypeError as exc:
        raise DataError(f"{path}: {exc}") from None
