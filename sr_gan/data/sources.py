"""Where a dataset's images come from: a folder of image files or a BasicSR LMDB (``x.lmdb``).

Both answer the same questions by entry name ('0001.png'), so the paired dataset, the scan and the scan
cache do not care which one they read: the names (``list``), a fingerprint that changes when an entry
may have changed (``stamp``: size and mtime), the decoded pixels (``read``), the size from the header
only (``header``) and a label that names the entry in one-line errors.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from sr_gan.errors import DataError
from sr_gan.utils.image_io import list_image_names, read_image_header, read_image_raw


class FolderSource:
    """Image files directly in ``folder`` (hidden files ignored; non-image files reported by ``list``)."""

    kind = "folder"

    def __init__(self, folder, key: str):
        self.path, self.key = Path(folder), key
        self._dir = str(folder)
        if not self.path.is_dir():
            raise DataError(f"{key}: folder '{folder}' does not exist")

    def identity(self) -> str:
        return os.path.realpath(self.path)

    def list(self) -> tuple[list[str], list[str]]:
        """(image names, other file names), each sorted."""
        return list_image_names(self.path)

    def label(self, name: str) -> str:
        return str(self.path / name)

    def stamp(self, name: str) -> tuple[int, int]:
        st = os.stat(os.path.join(self._dir, name))
        return st.st_size, st.st_mtime_ns

    def read(self, name: str) -> np.ndarray:
        return read_image_raw(self.path / name)[0]

    def header(self, name: str) -> tuple[int, int, int, int | None]:
        return read_image_header(self.path / name)

    def close(self) -> None:
        pass


def is_lmdb(path) -> bool:
    path = Path(path)
    return path.suffix.lower() == ".lmdb" or (path / "data.mdb").is_file()


def open_source(path, key: str):
    """A FolderSource, or an LmdbSource for a ``*.lmdb`` folder / a folder holding ``data.mdb``."""
    if is_lmdb(path):
        from sr_gan.data.lmdb_store import LmdbSource
        return LmdbSource(path, key)
    return FolderSource(path, key)
