"""The installed version of lt-teacher, read once from the package metadata (``lt_teacher.__version__``)."""

from __future__ import annotations

from importlib import metadata

try:
    __version__ = metadata.version("lt-teacher")
except metadata.PackageNotFoundError:  # a source tree that was not installed
    __version__ = "0+unknown"
