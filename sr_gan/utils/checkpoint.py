"""Training checkpoints that survive crashes: atomic writes, the newest K kept, a `latest` marker.

A checkpoint is serialised in memory first, then written to a temporary file in the same folder,
flushed, fsynced and renamed over its final name; the folder is fsynced too. A crash at any moment
therefore leaves either the old set of checkpoints or the new one, never a half-written file under a
checkpoint's name. Only weights-only types are stored (tensors, numbers, strings, lists, dicts), so
loading uses ``torch.load(weights_only=True)`` and never runs pickled code.
"""
from __future__ import annotations

import codecs
import errno
import io
import os
import pickle
import re
import shutil
import time
import warnings

import torch

from ..errors import CheckpointError

_NAME = re.compile(r"^iter_(\d+)\.pth$")
LATEST = "latest"
_TEMP = re.compile(r"^\.(iter_\d+\.pth|latest)\.tmp\d+$")   # see atomic_write_bytes


def checkpoint_name(iteration: int) -> str:
    return f"iter_{iteration:08d}.pth"


def _fsync_dir(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_bytes(path: str, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _test_pause_before_rename() -> None:
    """Test hook: SR_GAN_TEST_SLOW_SAVE=SECONDS sleeps between the temp file and the rename, so the
    crash test (tests/test_crash_resume.py) can SIGKILL a run in the middle of a checkpoint write."""
    pause = os.environ.get("SR_GAN_TEST_SLOW_SAVE")
    if pause:
        time.sleep(float(pause))


def atomic_write_bytes(path: str, data: bytes) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.tmp{os.getpid()}")
    try:
        _write_bytes(tmp, data)
        _test_pause_before_rename()
        os.replace(tmp, path)
    except OSError as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        if e.errno == errno.ENOSPC:
            free = shutil.disk_usage(folder).free
            raise CheckpointError(
                f"{path}: disk full while saving: needed {len(data) / 2**20:.1f} MiB, "
                f"{free / 2**20:.1f} MiB free in {folder}; earlier checkpoints are intact") from None
        raise
    _fsync_dir(folder)


def _remove_stale_temp_files(folder: str) -> None:
    """Temp files of writes a crash (SIGKILL, power loss) interrupted: never a checkpoint, only disk used."""
    if os.path.isdir(folder):
        for name in os.listdir(folder):
            if _TEMP.match(name):
                try:
                    os.remove(os.path.join(folder, name))
                except OSError:
                    pass


def save_checkpoint(state: dict, folder: str, iteration: int, keep: int = 3) -> str:
    """Write `state` as folder/iter_XXXXXXXX.pth atomically, update `latest`, prune to `keep` files."""
    buf = io.BytesIO()
    torch.save(state, buf)
    path = os.path.join(folder, checkpoint_name(iteration))
    _remove_stale_temp_files(folder)
    atomic_write_bytes(path, buf.getvalue())
    atomic_write_bytes(os.path.join(folder, LATEST), (checkpoint_name(iteration) + "\n").encode())
    for old in list_checkpoints(folder)[keep:]:
        try:
            os.remove(old)
        except OSError:
            pass
    return path


def list_checkpoints(folder: str) -> list[str]:
    """Checkpoint files in `folder`, newest iteration first."""
    if not os.path.isdir(folder):
        return []
    found = [(int(m.group(1)), f) for f in os.listdir(folder) if (m := _NAME.match(f))]
    return [os.path.join(folder, f) for _, f in sorted(found, reverse=True)]


_LEGACY_MAGIC = b"\x80\x02\x8a\x0a" + (0x1950a86a20f9469cfc6c).to_bytes(10, "little")   # torch.save before 1.6


_BOILERPLATE = ("Weights only load failed", "Please file an issue", "Check the documentation", "In PyTorch",
                "from a trusted source")  # torch.load / safetensors advice, not the reason


def first_line(exc: BaseException) -> str:
    """The informative line of an exception (torch's weights-only errors open with paragraphs of advice)."""
    for line in str(exc).splitlines():
        line = line.replace("WeightsUnpickler error:", "").strip()
        if line and not line.startswith(_BOILERPLATE):
            return line[:160]
    return type(exc).__name__


def what_is_wrong(path: str, exc: BaseException) -> str:
    """Why torch.load(weights_only=True) failed on `path`, said from the file's own bytes: not a
    checkpoint at all (empty, text, another zip, a plain pickle, unknown bytes), a checkpoint cut
    short, or one holding Python objects that weights-only loading refuses (never run)."""
    refused = re.search(r"GLOBAL (\S+)", str(exc))
    with open(path, "rb") as f:
        head = f.read(4096)
    size = os.path.getsize(path)
    if size == 0:
        return "not a PyTorch checkpoint (empty file)"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        import zipfile
        try:
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
        except (zipfile.BadZipFile, OSError):
            return "truncated or damaged checkpoint (a zip archive without its directory: the file was cut short)"
        if not any(n.endswith("/data.pkl") or n == "data.pkl" for n in names):
            return f"not a PyTorch checkpoint (a zip archive without torch's data.pkl; holds {', '.join(names[:3]) or 'nothing'})"
    elif head.startswith(b"\x80") and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05") and \
            not head.startswith(_LEGACY_MAGIC):
        return "not a PyTorch checkpoint (a Python pickle written by pickle.dump, not torch.save; not unpickled)"
    elif len(head) > 8 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < size:
        return "not a PyTorch checkpoint (a safetensors file: give it the .safetensors extension)"
    elif not head.startswith(_LEGACY_MAGIC):
        try:   # incremental: a character cut at the 4096-byte boundary is not an error
            text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        except UnicodeDecodeError:
            text = None
        if text is None or any(not (c.isprintable() or c in "\r\n\t") for c in text):
            return "not a PyTorch checkpoint (unrecognised binary data)"
        if text.startswith("version https://git-lfs"):
            return "not a PyTorch checkpoint (a Git LFS pointer; fetch the file with `git lfs pull`)"
        if text.lstrip().lower().startswith(("<!doctype html", "<html")):
            return "not a PyTorch checkpoint (an HTML page, e.g. a failed download)"
        first = text.strip().splitlines()[0][:40] if text.strip() else ""
        return f"not a PyTorch checkpoint (text: {first!r})"
    if refused or isinstance(exc, pickle.UnpicklingError):
        what = f"GLOBAL {refused.group(1)}" if refused else first_line(exc)
        return (f"cannot load checkpoint: it holds Python objects that weights-only loading refuses "
                f"({what}); nothing in it was run")
    return f"damaged PyTorch checkpoint ({type(exc).__name__}: {first_line(exc)})"


def read_weights_only(path: str):
    """torch.load(weights_only=True) of a file known to exist: tensors, numbers, strings, lists and dicts
    only (never runs pickled code); any file it cannot read is one CheckpointError line naming it."""
    try:
        with warnings.catch_warnings():   # torch's note about the pickle protocol of a file it then refuses
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - every torch.load failure is classified from the file's bytes
        raise CheckpointError(f"{path}: {what_is_wrong(path, e)}") from None


def load_checkpoint(path: str) -> dict:
    if os.path.isdir(path):
        raise CheckpointError(f"{path}: is a folder, not a checkpoint file")
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: checkpoint not found")
    state = read_weights_only(path)
    if not isinstance(state, dict) or "iter" not in state or "nets" not in state:
        raise CheckpointError(f"{path}: not a sr_gan training checkpoint (no 'iter'/'nets')")
    return state


def _marked(folder: str) -> str | None:
    """The file folder/latest names, when the marker is there and that file exists."""
    marker = os.path.join(folder, LATEST)
    if os.path.isfile(marker) and os.path.getsize(marker) < 4096:
        with open(marker, encoding="utf-8", errors="replace") as f:
            name = f.read().strip()
        if name and os.path.basename(name) == name and os.path.isfile(os.path.join(folder, name)):
            return os.path.join(folder, name)
    return None


def candidates(folder: str) -> list[str]:
    """What `latest` means in a checkpoints folder, best first: the file the marker names, then the
    other checkpoints newest first (the order a stale or missing marker falls back on)."""
    marked = _marked(folder)
    return ([marked] if marked else []) + [p for p in list_checkpoints(folder) if p != marked]


def resolve_checkpoint(target, *, experiment_dir: str | None = None, what: str = "checkpoint") -> str:
    """The one place a user's checkpoint argument becomes a file (resume, pretrain paths, upscale/test/export,
    interpolation). `target` is a file; a `latest` marker; an experiment folder or its checkpoints folder
    (-> its latest); or the word `latest` for `experiment_dir`'s latest. Errors are one line naming `what`
    (the argument: '--resume', 'path.pretrain_network_g', '--model') and the path."""
    target = str(target)
    if target == LATEST and experiment_dir is not None:
        folder = os.path.join(experiment_dir, "checkpoints")
    elif os.path.isdir(target):
        sub = os.path.join(target, "checkpoints")
        folder = sub if os.path.isdir(sub) else target
    elif os.path.basename(target) == LATEST and os.path.isfile(target) and os.path.getsize(target) < 4096:
        folder = os.path.dirname(target) or "."
    elif os.path.isfile(target):
        return target
    else:
        raise CheckpointError(f"{what}: {target}: no such checkpoint file or experiment folder")
    found = candidates(folder)
    if not found:
        raise CheckpointError(f"{what}: {target}: no checkpoint (iter_*.pth) in {folder}")
    return found[0]


def newest_loadable(folder: str) -> tuple[str, dict] | None:
    """Auto-resume: the first of `candidates` that loads; corrupt or truncated ones are skipped with a warning."""
    for path in candidates(folder):
        try:
            return path, load_checkpoint(path)
        except CheckpointError as e:
            warnings.warn(f"skipping unreadable checkpoint: {e}")
    return None
