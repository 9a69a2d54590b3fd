"""A data set by name or path: what ``--data`` and the registered kind ``dataset`` resolve."""

from pathlib import Path

from scoregen.data.files import open_path
from scoregen.registry import Registry

PATH_READERS = {"folder": "images", ".npy": "npy", ".npz": "npz", ".csv": "csv"}


def reader_name(spec: str, registry: Registry) -> str:
    """The registered dataset that reads ``spec``: its own name, or the reader of a path (a
    folder is ``images``, a file is named by its suffix); an unknown name lists the known ones."""
    names = registry.names("dataset")
    if spec in names:
        return spec
    path = Path(spec)
    if path.is_dir():
        return PATH_READERS["folder"]
    if path.suffix.lower() in PATH_READERS and (path.exists() or "/" in spec):
        return PATH_READERS[path.suffix.lower()]
    if path.exists() or "/" in spec or path.suffix:
        open_path(path)  # the reader's own error: no such file, or a suffix it does not read
    return registry.get("dataset", spec).name  # unknown: the list of names and the closest


def open_data(spec: str, registry: Registry, **params):
    """The data ``spec`` names, made by its dataset factory with ``params``: a registered name
    (``digits``, ``gmm``, a plugin's) or a path (``root``/``path`` is set from it)."""
    name = reader_name(spec, registry)
    factory = registry.get("dataset", name).factory
    if name == spec:
        return factory(**params)
    key = "root" if name == "images" else "path"
    return factory(**{key: spec, **params})
