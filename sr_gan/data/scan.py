"""Checking a dataset's images before training, and remembering the result (the scan cache).

Three depths (``datasets.<set>.check``):
  full    decode every image: catches truncated and corrupt files (a 480x480 PNG costs ~6 ms)
  header  read the size from the header only (PIL; LMDB: meta_info.txt): ~100x cheaper, misses a
          damaged pixel stream, which then fails when the sample is loaded, as one error naming the file
  none    trust the names; sizes are learned when a sample is loaded
Default: ``full`` up to ``AUTO_FULL_MAX_FILES`` files, ``header`` above.

The result per entry (size and mtime -> level, shape, bit depth, ok / why not) is kept in one JSON file
per source, ``<cache folder>/<hash of the source's real path>.json``. On the next start an entry whose
size and mtime are unchanged and whose recorded level is at least the one asked for is taken from the
cache; changed and new entries are checked again, deleted ones drop out. So a restart on 140k
sub-images lists and stats the folder instead of decoding it. (Like make and rsync, this trusts size +
mtime: a rewrite that keeps both within the file system's timestamp resolution goes unnoticed.)
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from sr_gan.errors import DataError, ImageError
from sr_gan.utils.image_io import REASON_CORRUPT, REASON_EMPTY, REASON_NOT_IMAGE

CHECKS = ("full", "header", "none")
AUTO_FULL_MAX_FILES = 2000
CACHE_VERSION = 1
_DEPTH = {"header": 1, "full": 2}
_SHORT_REASON = {REASON_EMPTY: "empty file", REASON_NOT_IMAGE: "not an image",
                 REASON_CORRUPT: "truncated or corrupt"}


class Record(NamedTuple):
    """What one check found: at which ``level``, the shape, and ``error`` (short reason) or None.
    (A NamedTuple: 140k of them load from the cache several times faster than frozen dataclasses.)"""
    level: str
    h: int = 0
    w: int = 0
    c: int = 0
    bits: int | None = None
    error: str | None = None

    def as_list(self, stamp) -> list:
        return [stamp[0], stamp[1], *self]

    @classmethod
    def from_list(cls, row: list) -> tuple[tuple[int, int], "Record"]:
        if len(row) != 8 or row[2] not in _DEPTH:
            raise ValueError(row)
        return (row[0], row[1]), cls._make(row[2:])


def resolve_check(check: str | None, n_files: int, key: str) -> tuple[str, str]:
    """(level, why) for ``check`` (None: auto by the number of files to check)."""
    if check is None:
        if n_files <= AUTO_FULL_MAX_FILES:
            return "full", f"auto: {n_files} files <= {AUTO_FULL_MAX_FILES}"
        return "header", (f"auto: {n_files} files > {AUTO_FULL_MAX_FILES}; set check: full to decode every "
                          f"image before training")
    if check not in CHECKS:
        raise DataError(f"{key}: '{check}' is not one of {', '.join(CHECKS)}")
    return check, "as set"


def cache_file(folder, source) -> Path:
    digest = hashlib.sha1(source.identity().encode("utf-8")).hexdigest()[:16]
    return Path(folder) / f"{digest}.json"


def load_cache(folder, source) -> dict[str, tuple[tuple[int, int], Record]]:
    """{name: (stamp, record)} from this source's cache file; {} when there is none or it is unusable
    (an unreadable cache only costs a re-check, it never stops a run)."""
    if folder is None:
        return {}
    path = cache_file(folder, source)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        if data.get("version") != CACHE_VERSION or data.get("source") != source.identity() \
                or data.get("kind") != source.kind:
            return {}
        return {name: Record.from_list(row) for name, row in data["entries"].items()}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}


def save_cache(folder, source, entries: dict[str, tuple[tuple[int, int], Record]]) -> Path:
    """Write this source's entries atomically (temp file + rename); returns the file."""
    path = cache_file(folder, source)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"version": CACHE_VERSION, "kind": source.kind, "source": source.identity(),
            "entries": {name: rec.as_list(stamp) for name, (stamp, rec) in entries.items()}}
    fd, tmp = tempfile.mkstemp(prefix=".scan.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, separators=(",", ":"))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


@dataclass
class ScanResult:
    entries: dict          # {name: (stamp, Record)} for the names scanned
    arrays: dict | None    # {name: decoded raw array} kept from a full decode (None: dropped, over budget)
    checked: int           # entries checked now (decoded or header-read)
    reused: int            # entries taken from the cache

    def record(self, name: str) -> Record:
        return self.entries[name][1]


def _check_one(source, name: str, level: str):
    """(Record, decoded array or None) for one entry; never raises for a bad image."""
    try:
        if level == "full":
            raw = source.read(name)
            h, w, c = raw.shape
            return Record("full", h, w, c, 8 if raw.itemsize == 1 else 16), raw
        h, w, c, bits = source.header(name)
        return Record("header", h, w, c, bits), None
    except ImageError as e:
        return Record(level, error=_SHORT_REASON.get(e.reason, e.reason)), None


def scan(source, names: list[str], level: str, cached: dict, keep_pixels: float = 0) -> ScanResult:
    """Check ``names`` of ``source`` at ``level`` ('full' | 'header'), reusing ``cached`` entries.

    With ``level='full'`` the decoded arrays are kept while their total stays within ``keep_pixels``
    (float('inf'): all); past it all are dropped (``arrays=None``) so memory stays bounded.
    Entries are checked by a thread pool: OpenCV and file reads release the GIL.
    """
    entries, todo = {}, []
    for name in names:
        try:
            stamp = source.stamp(name)
        except OSError as e:
            entries[name] = ((0, 0), Record(level, error=f"cannot read file ({e.strerror})"))
            continue
        hit = cached.get(name)
        if hit is not None and hit[0] == stamp and _DEPTH[hit[1].level] >= _DEPTH[level]:
            entries[name] = hit
        else:
            todo.append((name, stamp))
    reused = len(entries)
    arrays: dict | None = {} if level == "full" and keep_pixels > 0 else None
    kept = 0
    if todo:
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            results = pool.map(lambda item: _check_one(source, item[0], level), todo)
            for (name, stamp), (rec, raw) in zip(todo, results):
                entries[name] = (stamp, rec)
                if arrays is not None and raw is not None:
                    kept += rec.h * rec.w
                    if kept > keep_pixels:
                        arrays = None
                    else:
                        arrays[name] = raw
    return ScanResult(entries, arrays, len(todo), reused)
