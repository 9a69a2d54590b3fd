"""Data sources: the one representation of training data the trainer consumes.

:func:`as_source` turns whatever a user has into one of two kinds of source:

- a **row source** (map-style: ``len(source)`` rows and random access),
  ``source.rows(index [B] int64) -> Batch``. The trainer decides which rows each step reads
  (shard-owned and counter-based, so a run resumes exactly and worker processes can fetch ahead);
  tensors, arrays, map-style ``torch.utils.data.Dataset``\\ s, image folders and ``.npy`` files are
  row sources;
- a **stream** (:class:`StreamSource`): an iterable read in its own order, never materialised;
  ``DataLoader``\\ s, ``IterableDataset``\\ s and other iterables are streams.

A :class:`Batch` is the data ``x [B, *E]`` and its ``labels [B, ...]`` (or ``None``): labels travel
*beside* the data, never inside it. ``fit(x, labels=y)`` and ``(x, y)`` dataset items both arrive
here, so conditional training (``labels=`` of the estimator contract, issue 14) reads
``batch.labels`` and nothing else.

Every batch is converted by the model's converter (``convert(x, event_shape, name=)``: float32 for
Gaussian kernels, checked int64 tokens for masking) and checked against the event shape of the
first batch, so a wrong shape or dtype is a :class:`~scoregen.errors.DataError` naming the rows.
"""

import hashlib
import itertools
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Protocol, runtime_checkable

import attrs
import numpy as np
import torch

from scoregen._tensor import as_data
from scoregen.data.files import Labelled, image_tensor, is_image, open_path
from scoregen.errors import DataError

PREVIEW_ROWS = 1024
"""How many rows of a data set that is not an in-memory tensor the parts see before training
(``with_data``: ``sigma_max="auto"``, ``σ_d``, DSM's reference set, the ``empirical`` estimator)."""

Converter = Callable[..., torch.Tensor]


@attrs.frozen(eq=False)
class Batch:
    """Data ``x [B, *E]`` and, when the data carry them, ``labels [B, ...]`` (class indices or
    condition vectors; ``None`` otherwise)."""

    x: torch.Tensor
    labels: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.x.shape[0]

    def select(self, rows) -> "Batch":
        """The rows ``rows`` (an index or slice) of both the data and the labels."""
        return Batch(self.x[rows], None if self.labels is None else self.labels[rows])


@runtime_checkable
class RowSource(Protocol):
    """A map-style source: ``len`` rows, read by index.

    ``rows(index [B] int64) -> Batch`` returns those rows, converted; ``preview()`` the data the
    parts resolve themselves from (``[≤ N, *E]``); ``fingerprint`` identifies the data for
    resuming (a checkpoint refuses other data).
    """

    def __len__(self) -> int: ...

    def rows(self, index: torch.Tensor) -> Batch: ...

    def preview(self) -> torch.Tensor: ...

    @property
    def fingerprint(self) -> str: ...


def _describe_rows(index: torch.Tensor) -> str:
    shown = ", ".join(str(int(i)) for i in index[:5])
    return f"rows {shown}{', ...' if len(index) > 5 else ''}"


def _as_labels(labels, n: int) -> torch.Tensor:
    values = labels.detach() if isinstance(labels, torch.Tensor) else torch.as_tensor(np.asarray(labels))
    if values.ndim == 0 or values.shape[0] != n:
        raise DataError(f"labels must have one entry per row ({n}), got shape {list(values.shape)}")
    return values


def _hash(*parts) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.contiguous().numpy().tobytes() if isinstance(part, torch.Tensor) else repr(part).encode())
    return digest.hexdigest()[:16]


class _Checked:
    """Conversion by the model's converter, with the event shape pinned by the first batch."""

    def __init__(self, convert: Converter, event_shape: tuple[int, ...] | None):
        self.convert = convert
        self.event_shape = None if event_shape is None else tuple(event_shape)

    def __call__(self, x, name: str) -> torch.Tensor:
        converted = self.convert(x, self.event_shape, name=name)
        if self.event_shape is None:
            self.event_shape = tuple(converted.shape[1:])
        return converted


class TensorRows:
    """Rows of an in-memory tensor or array ``[N, *E]`` (converted once), with optional ``labels``."""

    def __init__(self, x, labels=None, *, convert: Converter = as_data, event_shape=None):
        self.x = convert(x, event_shape, name="data")
        self.labels = None if labels is None else _as_labels(labels, self.x.shape[0])

    def __len__(self) -> int:
        return self.x.shape[0]

    def rows(self, index: torch.Tensor) -> Batch:
        return Batch(self.x[index], None if self.labels is None else self.labels[index])

    def preview(self) -> torch.Tensor:
        return self.x

    @property
    def fingerprint(self) -> str:
        return _hash(self.x) if self.labels is None else _hash(self.x, self.labels)


def _split_item(item, where: str):
    """``(x, label | None)`` of one dataset item: a tuple's first element is the data, its second
    the label; anything else is the data alone."""
    if isinstance(item, tuple | list):
        if not item:
            raise DataError(f"{where} is an empty tuple")
        return item[0], (item[1] if len(item) > 1 else None)
    return item, None


def _as_tensor(value, where: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach()
    if is_image(value):
        return image_tensor(value)
    try:
        return torch.as_tensor(np.asarray(value))
    except (TypeError, ValueError) as exc:
        raise DataError(f"{where} cannot be converted to a tensor: {exc}") from None


def stack_items(items: list, where: list[str]) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Stack dataset items (tensors, arrays, PIL images, or ``(x, label, ...)`` tuples) into
    ``x [B, *E]`` and ``labels [B, ...]`` (``None`` when no item has a label). ``where`` names
    each item for errors."""
    xs, labels = [], []
    for item, name in zip(items, where):
        x, label = _split_item(item, name)
        xs.append(_as_tensor(x, name))
        labels.append(label)
    for x, name in zip(xs, where):
        if x.shape != xs[0].shape:
            raise DataError(f"{name} has shape {list(x.shape)}, but {where[0]} has {list(xs[0].shape)}")
    has_label = [label is not None for label in labels]
    if any(has_label) and not all(has_label):
        raise DataError(f"{where[has_label.index(False)]} has no label, but {where[has_label.index(True)]} has one")
    if not any(has_label):
        return torch.stack(xs), None
    try:
        return torch.stack(xs), torch.stack([_as_tensor(label, name) for label, name in zip(labels, where)])
    except RuntimeError as exc:
        raise DataError(f"the labels of {where[0]} … {where[-1]} have different shapes: {exc}") from None


class DatasetRows:
    """Rows of a map-style ``torch.utils.data.Dataset`` (anything with ``__len__`` and
    ``__getitem__``), read item by item: rows ``0 … len−1`` only, so a ``__getitem__`` that never
    raises ``IndexError`` is never walked past its end."""

    def __init__(self, dataset, *, convert: Converter = as_data, event_shape=None):
        try:
            self.n = len(dataset)
        except TypeError:
            raise DataError(
                f"{type(dataset).__name__} has no len(): a map-style dataset needs __len__ "
                "(or pass an IterableDataset or a DataLoader, which are streamed)"
            ) from None
        if self.n == 0:
            raise DataError(f"the dataset {type(dataset).__name__} is empty")
        self.dataset = dataset
        self.check = _Checked(convert, event_shape)
        self.name = type(dataset).__name__

    def __len__(self) -> int:
        return self.n

    def rows(self, index: torch.Tensor) -> Batch:
        rows = [int(i) for i in index]
        x, labels = stack_items([self.dataset[i] for i in rows], [f"{self.name} item {i}" for i in rows])
        return Batch(self.check(x, name=f"{self.name} {_describe_rows(index)}"), labels)

    def preview(self) -> torch.Tensor:
        return self.rows(preview_index(self.n)).x

    @property
    def fingerprint(self) -> str:
        """The dataset's own ``fingerprint()`` (files read from disk), else its first and last rows."""
        own = getattr(self.dataset, "fingerprint", None)
        if callable(own):
            return _hash(self.name, self.n, own())
        ends = self.rows(torch.tensor([0, self.n - 1]))
        return _hash(self.name, self.n, ends.x)


def preview_index(n: int) -> torch.Tensor:
    """Rows ``[≤ PREVIEW_ROWS]`` spread evenly over ``0 … n−1`` (all of them for a small set)."""
    return torch.linspace(0, n - 1, min(n, PREVIEW_ROWS)).round().long().unique()


class StreamSource:
    """An iterable read in its own order and never materialised: a ``DataLoader`` (whose items
    are batches, unless its ``batch_size`` is ``None``), an ``IterableDataset`` or any other
    iterable (whose items are examples). Items are tensors, arrays or ``(x, label, ...)`` tuples.

    :meth:`batches` cuts the stream into batches of a fixed size, starting again at the end (a
    new epoch); a one-shot iterator that ends is an error. Resuming skips the rows already read,
    so resume is exact when the iterable replays the same order (a ``DataLoader`` with a seeded
    ``generator``, or no shuffling).
    """

    def __init__(self, iterable: Iterable, *, batched: bool, convert: Converter = as_data, event_shape=None):
        self.iterable = iterable
        self.batched = batched
        self.check = _Checked(convert, event_shape)
        self.name = type(iterable).__name__
        self._first: list | None = None  # items read for the preview, replayed by the first epoch
        self._iterator: Iterator | None = None

    def _items(self, epoch: int) -> Iterator:
        if epoch == 0 and self._first is not None and self._iterator is not None:
            return itertools.chain(self._first, self._iterator)
        iterator = iter(self.iterable)
        if epoch > 0 and iterator is self.iterable:
            raise DataError(
                f"the stream {self.name} ended and cannot be read again: pass a re-iterable "
                "(a DataLoader, an IterableDataset, a list) or train for fewer steps"
            )
        return iterator

    def _chunk(self, item, where: str) -> Batch:
        """One item of the stream as a batch of one row (an example) or more (a loader's batch)."""
        if not self.batched:
            x, labels = stack_items([item], [where])
            return Batch(self.check(x, name=where), labels)
        x, label = _split_item(item, where)
        x = self.check(_as_tensor(x, where), name=where)
        return Batch(x, None if label is None else _as_labels(label, x.shape[0]))

    def _chunks(self, epoch: int) -> Iterator[Batch]:
        for n, item in enumerate(self._items(epoch)):
            yield self._chunk(item, f"{self.name} item {n} (epoch {epoch})")

    def batches(self, size: int, *, skip: int = 0) -> Iterator[Batch]:
        """Batches of ``size`` rows, forever (epoch after epoch), after skipping ``skip`` rows."""
        pending: list[Batch] = []
        held = 0
        for epoch in itertools.count():
            rows_this_epoch = 0
            for chunk in self._chunks(epoch):
                rows_this_epoch += len(chunk)
                if skip >= len(chunk):
                    skip -= len(chunk)
                    continue
                if skip:
                    chunk, skip = chunk.select(slice(skip, None)), 0
                pending.append(chunk)
                held += len(chunk)
                while held >= size:
                    batch, pending, held = _take(pending, size)
                    yield batch
            if rows_this_epoch == 0:
                raise DataError(f"the stream {self.name} is empty")

    def preview(self) -> torch.Tensor:
        """The first rows of the stream (``≤ PREVIEW_ROWS``). The items of a one-shot iterator
        read here are kept and replayed at the start of training."""
        if self._first is not None:
            items = self._first
        else:
            iterator, items, rows = iter(self.iterable), [], 0
            for item in iterator:
                items.append(item)
                rows += len(self._chunk(item, f"{self.name} item {len(items) - 1}"))
                if rows >= PREVIEW_ROWS:
                    break
            if iterator is self.iterable:
                self._first, self._iterator = items, iterator
        if not items:
            raise DataError(f"the stream {self.name} is empty")
        chunks = [self._chunk(item, f"{self.name} item {n}") for n, item in enumerate(items)]
        return torch.cat([c.x for c in chunks])[:PREVIEW_ROWS]

    @property
    def fingerprint(self) -> str:
        return _hash("stream", self.name)


def _take(pending: list[Batch], size: int) -> tuple[Batch, list[Batch], int]:
    """The first ``size`` rows of the queued chunks as one batch, and what is left."""
    taken, left, need = [], [], size
    for chunk in pending:
        if need == 0:
            left.append(chunk)
        elif len(chunk) <= need:
            taken.append(chunk)
            need -= len(chunk)
        else:
            taken.append(chunk.select(slice(None, need)))
            left.append(chunk.select(slice(need, None)))
            need = 0
    labels = None if taken[0].labels is None else torch.cat([c.labels for c in taken if c.labels is not None])
    return Batch(torch.cat([c.x for c in taken]), labels), left, sum(len(c) for c in left)


def as_source(data, labels=None, *, convert: Converter = as_data, event_shape=None):
    """The source for ``data``: a :class:`RowSource` or a :class:`StreamSource`.

    ``data`` may be a tensor, array or nested list ``[N, *E]`` (with ``labels [N, ...]`` beside it),
    a path (an image folder, ``.npy``, ``.npz``, ``.csv``: :func:`scoregen.data.files.open_path`),
    a map-style dataset (``__len__`` + ``__getitem__``; a tuple item's first element is the data,
    its second the label), a ``DataLoader``, an ``IterableDataset`` or another iterable (streamed),
    or a source already. ``convert`` is the model's converter, ``event_shape`` the model's (or
    ``None``: taken from the first batch).
    """
    from torch.utils.data import DataLoader, Dataset, IterableDataset

    if labels is not None and not isinstance(data, torch.Tensor | np.ndarray | list):
        raise DataError(
            f"labels= goes with a tensor or array; {type(data).__name__} carries its own labels "
            "(as the second element of (x, y) items)"
        )
    if isinstance(data, list) and data and (isinstance(data[0], tuple) or is_image(data[0])):
        return DatasetRows(data, convert=convert, event_shape=event_shape)
    if isinstance(data, torch.Tensor | np.ndarray | list):
        return TensorRows(data, labels, convert=convert, event_shape=event_shape)
    if isinstance(data, Labelled):
        return TensorRows(data.x, data.labels, convert=convert, event_shape=event_shape)
    if isinstance(data, str | Path):
        return as_source(open_path(data), convert=convert, event_shape=event_shape)
    if isinstance(data, RowSource | StreamSource):
        return data
    if isinstance(data, DataLoader):
        return StreamSource(data, batched=data.batch_sampler is not None, convert=convert, event_shape=event_shape)
    if isinstance(data, IterableDataset):
        return StreamSource(data, batched=False, convert=convert, event_shape=event_shape)
    if isinstance(data, Dataset) or (hasattr(data, "__getitem__") and hasattr(data, "__len__")):
        return DatasetRows(data, convert=convert, event_shape=event_shape)
    if isinstance(data, Iterable):
        return StreamSource(data, batched=False, convert=convert, event_shape=event_shape)
    raise DataError(
        f"cannot train on a {type(data).__name__}: give a tensor or array, a Dataset, a DataLoader "
        "or another iterable, or a path (image folder, .npy, .npz, .csv)"
    )
