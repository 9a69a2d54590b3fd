"""The ``scoregen`` command line: :mod:`~scoregen.cli.main` (the parser, ``list``, ``demo``),
:mod:`~scoregen.cli.train` (``train``, ``sample``, ``plot``, ``suggest-sigmas``) and the demos."""

from scoregen.cli.main import main, make_parser

__all__ = ["main", "make_parser"]
