"""BasicSR's LMDB image store, read as is and written the same way.

Layout (basicsr/utils/lmdb_util.py): a folder ``x.lmdb`` holding LMDB's ``data.mdb`` / ``lock.mdb`` and
``meta_info.txt`` with one line per image, ``<name>.png (h,w,c) <png compression level>``; the key of
an image is its name without the extension, the value its encoded bytes (PNG by ``cv2.imencode``,
BGR(A) channel order, 8 or 16 bits). Storing 140k sub-images in one memory-mapped file avoids 140k file
opens per epoch and the file system's per-file overhead.

The LMDB environment is opened lazily, once per process and database (LMDB forbids opening the same
database twice in one process, and using an environment across ``fork``; py-lmdb refuses a second open
even in a forked child while the parent holds one). So every environment of a process is closed just
before it forks (``os.register_at_fork``), and each process, loader workers included, reopens its own
at its first read.
"""
from __future__ import annotations

import os
import re
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from sr_gan.errors import DataError, ImageError
from sr_gan.utils.image_io import decode_image, encode_image, list_images, read_image_raw

META_INFO = "meta_info.txt"
_ENVS: dict[str, tuple[int, object]] = {}     # real path -> (pid that opened it, environment)
_ENVS_LOCK = threading.Lock()


def _close_all() -> None:
    with _ENVS_LOCK:
        for pid, env in _ENVS.values():
            if pid == os.getpid():
                env.close()
        _ENVS.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_close_all)

_META_LINE = re.compile(r"^(?P<name>.+?)\s+\((?P<shape>\s*\d+\s*(?:,\s*\d+\s*){1,2})\)(?:\s+(?P<level>-?\d+))?\s*$")


def _lmdb():
    try:
        import lmdb
    except ImportError:
        raise DataError("LMDB datasets need the 'lmdb' package: pip install lmdb") from None
    return lmdb


def key_of(name: str) -> str:
    """BasicSR's LMDB key: the image name without its extension."""
    return os.path.splitext(name)[0]


def read_meta_info(path: Path, key: str) -> dict[str, tuple[int, int, int]]:
    """{name: (h, w, c)} in file order from a BasicSR ``meta_info.txt``; a malformed line is an error."""
    shapes: dict[str, tuple[int, int, int]] = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            m = _META_LINE.match(line.strip())
            if not m:
                raise DataError(f"{key}: {path} line {number}: expected 'name.png (h,w,c) compression', "
                                f"got {line.strip()[:80]!r}")
            dims = [int(v) for v in m["shape"].split(",")]
            name = m["name"]
            if name in shapes:
                raise DataError(f"{key}: {path} line {number}: '{name}' is listed twice")
            shapes[name] = (dims[0], dims[1], dims[2] if len(dims) == 3 else 1)
    return shapes


class LmdbSource:
    """Entries of a BasicSR LMDB, named as in its ``meta_info.txt`` ('0001_s001.png')."""

    kind = "lmdb"

    def __init__(self, folder, key: str):
        self.path, self.key = Path(folder), key
        if not self.path.is_dir():
            raise DataError(f"{key}: LMDB folder '{folder}' does not exist")
        data, meta = self.path / "data.mdb", self.path / META_INFO
        if not data.is_file():
            raise DataError(f"{key}: '{folder}' is not an LMDB folder (no data.mdb)")
        if not meta.is_file():
            raise DataError(f"{key}: '{folder}' has no {META_INFO} (BasicSR's layout lists every image there: "
                            f"'name.png (h,w,c) compression'; `python datasets/prepare.py lmdb` writes one)")
        self.shapes = read_meta_info(meta, key)
        ds, ms = data.stat(), meta.stat()
        self._stamp = (ds.st_size + ms.st_size, max(ds.st_mtime_ns, ms.st_mtime_ns))
        self._real = os.path.realpath(self.path)

    def identity(self) -> str:
        return self._real

    def list(self) -> tuple[list[str], list[str]]:
        return list(self.shapes), []

    def label(self, name: str) -> str:
        return f"{self.path} (key {key_of(name)})"

    def stamp(self, name: str) -> tuple[int, int]:
        """The database's own size and mtime: any write to it re-checks every entry."""
        return self._stamp

    def _environment(self):
        """This process's environment for the database, shared by every source that reads it."""
        with _ENVS_LOCK:
            pid, env = _ENVS.get(self._real, (None, None))
            if pid != os.getpid():
                lmdb = _lmdb()
                try:   # read-only, no lock-file writes, no read-ahead: random access into a big file
                    env = lmdb.open(str(self.path), readonly=True, lock=False, readahead=False, meminit=False)
                except lmdb.Error as e:
                    raise DataError(f"{self.key}: cannot open LMDB '{self.path}' ({e})") from None
                _ENVS[self._real] = (os.getpid(), env)
            return env

    def get(self, name: str) -> bytes:
        with self._environment().begin(write=False) as txn:
            value = txn.get(key_of(name).encode("utf-8"))
        if value is None:
            raise ImageError(self.label(name), f"listed in {META_INFO} but not stored in data.mdb")
        return value

    def read(self, name: str) -> np.ndarray:
        return decode_image(self.get(name), self.label(name))[0]

    def header(self, name: str) -> tuple[int, int, int, int | None]:
        """(h, w, c) as meta_info.txt records it; the bit depth is not recorded there."""
        h, w, c = self.shapes[name]
        return h, w, c, None

    def close(self) -> None:
        """Close this process's environment (before forking loader workers: they open their own)."""
        with _ENVS_LOCK:
            pid, env = _ENVS.get(self._real, (None, None))
            if pid == os.getpid():
                env.close()
                del _ENVS[self._real]


def write_lmdb(src: Path, out: Path, compress: int = 1, overwrite: bool = False, workers: int = 4,
               batch_bytes: int = 256 << 20) -> int:
    """Every image of ``src`` into a new BasicSR-layout LMDB ``out``; returns the number of images.

    Values are the decoded pixels re-encoded as PNG at zlib level ``compress`` (lossless, bit depth and
    channels kept, so reading back gives exactly the source's pixels). Written to a temporary folder and
    renamed, so an interrupted run never leaves a half-written ``out``; an existing ``out`` is replaced
    only with ``overwrite`` and only if it is an LMDB folder.
    """
    from tqdm import tqdm
    lmdb = _lmdb()
    src, out = Path(src), Path(out)
    if not src.is_dir():
        raise DataError(f"--input: folder '{src}' does not exist")
    if out.suffix.lower() != ".lmdb":
        raise DataError(f"--output: '{out}' must end with .lmdb (BasicSR's naming, how datasets recognise it)")
    if not 0 <= compress <= 9:
        raise DataError(f"--compress: {compress} is not a PNG compression level 0-9")
    if out.exists():
        if not overwrite:
            raise DataError(f"--output: '{out}' already exists (add --overwrite to replace it)")
        if not out.is_dir() or not (out / "data.mdb").is_file():
            raise DataError(f"--output: '{out}' exists and is not an LMDB folder; not replacing it")
    images, _ = list_images(src)
    if not images:
        raise DataError(f"--input: no images in '{src}'")
    by_key: dict[str, Path] = {}
    for p in images:
        if p.stem in by_key:
            raise DataError(f"--input: {p.name} and {by_key[p.stem].name} would share the LMDB key '{p.stem}'")
        by_key[p.stem] = p

    def encode(p: Path):
        try:
            raw = read_image_raw(p)[0]
        except ImageError as e:
            return e
        return raw.shape, encode_image(raw, ".png", png_compression=compress, label=p)

    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    env = lmdb.open(str(tmp), map_size=max(64 << 20, 2 * sum(p.stat().st_size for p in images)))
    bad, lines, pending, size = [], [], [], 0

    def commit():
        while True:
            try:
                with env.begin(write=True) as txn:
                    for k, v in pending:
                        txn.put(k, v)
                break
            except lmdb.MapFullError:        # PNG re-encoding of JPEG sources can outgrow the estimate
                env.set_mapsize(env.info()["map_size"] * 2)
        pending.clear()

    try:
        with ThreadPoolExecutor(max(1, workers)) as pool:
            for p, result in zip(images, tqdm(pool.map(encode, images), total=len(images), unit="img")):
                if isinstance(result, ImageError):
                    bad.append(f"{p.name} ({result.reason})")
                    continue
                (h, w, c), value = result
                pending.append((p.stem.encode("utf-8"), value))
                lines.append(f"{p.stem}.png ({h},{w},{c}) {compress}\n")
                size += len(value)
                if size >= batch_bytes:
                    commit()
                    size = 0
        if bad:
            raise DataError(f"--input: {len(bad)} unreadable images: {', '.join(bad[:5])}"
                            + (f", ... ({len(bad) - 5} more)" if len(bad) > 5 else ""))
        commit()
        env.close()
        (tmp / META_INFO).write_text("".join(lines), encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        env.close()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return len(lines)
