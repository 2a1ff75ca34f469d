"""Every pretrained weight file sr_gan uses: where it comes from, where it lives, how it gets there.

Files are fetched on first use into torch's hub cache (``torch.hub.get_dir()/checkpoints``, the folder
torchvision uses, so a file torchvision already downloaded is reused) with torch's own downloader,
and checked against the SHA-256 that torchvision publishes as the prefix of each file name. A file
whose hash does not match is never used: a bad download is deleted by the downloader, a bad cached
file is moved aside to ``<file>.bad`` (kept for inspection; a fresh copy can then be fetched).

Environment (the network is only ever used to download a file that is missing):
  SR_GAN_OFFLINE=1     no network access at all; SR_GAN_OFFLINE=0 allows it even when HF_HUB_OFFLINE is set
  HF_HUB_OFFLINE=1     the Hugging Face convention for offline clusters, honoured the same way
  TORCH_HOME, XDG_CACHE_HOME   where the hub cache is (torch's own rule: $TORCH_HOME/hub/checkpoints)

    python -m sr_gan.weights list              # every file: size, where it is looked for, present/missing
    python -m sr_gan.weights fetch [NAME ...]   # download now (e.g. on a login node with internet)
    python -m sr_gan.weights install DIR        # copy files brought by hand into the cache, hash-checked

Importing this module imports neither torch nor torchvision, so ``list`` answers at once.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import warnings
from dataclasses import dataclass
from urllib.parse import urlparse

from .errors import MissingWeightsError

OFFLINE_COMMAND = "python -m sr_gan.weights fetch"


@dataclass(frozen=True)
class WeightFile:
    name: str               # what commands and code call it
    url: str
    sha256_prefix: str      # torchvision's file names carry the first 8 hex digits of the file's SHA-256
    size_mb: float          # as torchvision's weight metadata states it (MB = 10^6 bytes)
    used_by: str
    option: str             # how to point at a copy elsewhere instead of the cache
    sha256: str | None = None   # the full digest, where it was computed from the file itself

    @property
    def filename(self) -> str:
        return os.path.basename(urlparse(self.url).path)

    @property
    def expected_hash(self) -> str:
        return self.sha256 or self.sha256_prefix


# Only the published 8-digit prefixes are stored: the files cannot be downloaded where this table was
# written, so their full digests were not computed. torch.hub checks the same prefix.
# tests/test_weights.py checks URLs and sizes against torchvision's own weight enums.
WEIGHTS: dict[str, WeightFile] = {w.name: w for w in (
    WeightFile("vgg19", "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth", "dcbb9e9d", 548.051,
               "perceptual loss (pretrained: true)", "the perceptual loss's weights_path"),
    WeightFile("alexnet", "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth", "7be5be79", 233.087,
               "LPIPS net=alex (default)", "lpips backbone_path (test_sr.py --lpips-backbone)"),
    WeightFile("vgg16", "https://download.pytorch.org/models/vgg16-397923af.pth", "397923af", 527.796,
               "LPIPS net=vgg", "lpips backbone_path (test_sr.py --lpips-backbone)"),
    WeightFile("inception_v3", "https://download.pytorch.org/models/inception_v3_google-0cc3c7bd.pth", "0cc3c7bd",
               103.903, "FID / Inception Score (test_sr.py --fid)", "test_sr.py --inception-weights"),
)}


# ----------------------------------------------------------------------------- where and whether

def torch_rule_hub_dir() -> str:
    """$TORCH_HOME/hub, TORCH_HOME defaulting to $XDG_CACHE_HOME/torch, that to ~/.cache: torch.hub's rule."""
    cache = os.getenv("XDG_CACHE_HOME", os.path.join("~", ".cache"))
    return os.path.join(os.path.expanduser(os.getenv("TORCH_HOME", os.path.join(cache, "torch"))), "hub")


def hub_dir() -> str:
    """torch.hub.get_dir(), without importing torch (a second) when nothing has loaded it yet."""
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "hub"):
        return torch.hub.get_dir()      # honours torch.hub.set_dir too
    return torch_rule_hub_dir()


def cache_dir() -> str:
    return os.path.join(hub_dir(), "checkpoints")


def cached_path(name: str) -> str:
    return os.path.join(cache_dir(), get(name).filename)


def _truthy(value: str) -> bool:
    return value.strip().upper() in ("1", "ON", "YES", "TRUE")


def offline_reason() -> str | None:
    """The environment variable that forbids network access ('SR_GAN_OFFLINE=1'), or None."""
    own = os.environ.get("SR_GAN_OFFLINE")
    if own is not None and own.strip():
        return f"SR_GAN_OFFLINE={own}" if _truthy(own) else None
    hf = os.environ.get("HF_HUB_OFFLINE", "")
    return f"HF_HUB_OFFLINE={hf}" if _truthy(hf) else None


def get(name: str) -> WeightFile:
    if name not in WEIGHTS:
        raise MissingWeightsError(f"unknown weight file '{name}'; known: {', '.join(WEIGHTS)}")
    return WEIGHTS[name]


def sha256_of(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# A file is hashed once: its (size, mtime) and the hash it matched are recorded next to it, so later
# runs, ranks and `list` only stat it. Writing the record is best effort (a read-only shared cache works,
# it is just hashed every time).
_RECORD = ".sr_gan_sha256.json"


def _read_record(folder: str) -> dict:
    try:
        with open(os.path.join(folder, _RECORD), encoding="utf-8") as f:
            data = json.load(f)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _remember(path: str, expected: str) -> None:
    folder, name = os.path.split(path)
    st = os.stat(path)
    record = _read_record(folder)
    record[name] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "matched": expected}
    tmp = os.path.join(folder, f"{_RECORD}.tmp{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(record, f, indent=1)
        os.replace(tmp, os.path.join(folder, _RECORD))
    except OSError:
        pass


def hash_matches(w: WeightFile, path: str, remember: bool = True) -> bool:
    """Does ``path`` hold ``w`` (its SHA-256 starts with the published prefix / equals the digest)?
    ``remember``: record the answer next to the file (the cache; not a user's folder)."""
    st = os.stat(path)
    seen = _read_record(os.path.dirname(path)).get(os.path.basename(path)) if remember else None
    if seen == {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "matched": w.expected_hash}:
        return True
    if not sha256_of(path).startswith(w.expected_hash):
        return False
    if remember:
        _remember(path, w.expected_hash)
    return True


def state(name: str) -> str:
    """'present' (hash checked), 'missing' or 'bad hash' for the cached copy; never downloads."""
    w, path = get(name), cached_path(name)
    if not os.path.isfile(path):
        return "missing"
    return "present" if hash_matches(w, path) else "bad hash"


def available(name: str) -> bool:
    """True when the cache holds a verified copy (e.g. `available('vgg19')` before a demo picks its
    losses); no network access, unlike weight_file(), which downloads a missing file."""
    return state(name) == "present"


# ----------------------------------------------------------------------------- getting a file

def _missing(w: WeightFile, why: str, option: str | None) -> MissingWeightsError:
    """The one line a user without the file reads: what, from where, into which folder, and how."""
    alt = f"; or point at a copy with {option or w.option}"
    return MissingWeightsError(
        f"{w.name} weights {w.filename} ({w.used_by}): {why}; put the file from {w.url} into {cache_dir()} "
        f"(on a machine with internet run `{OFFLINE_COMMAND} {w.name}`, copy {w.filename} over and run "
        f"`python -m sr_gan.weights install DIR`){alt}")


def _set_aside(w: WeightFile, path: str) -> str:
    """Move a cached file with the wrong hash to <file>.bad (kept for inspection); returns the message."""
    bad = path + ".bad"
    try:
        os.replace(path, bad)
    except OSError as e:
        raise MissingWeightsError(f"{path}: SHA-256 does not start with {w.expected_hash} ({w.name}), so it is not "
                                  f"used, and it cannot be moved aside ({e.strerror}); delete or replace it") from None
    return f"{path}: SHA-256 does not start with {w.expected_hash} ({w.name}); not used, moved to {bad}"


def download(name: str, option: str | None = None, progress: bool = True) -> str:
    """Fetch ``name`` into the cache with torch's downloader (hash-checked before it lands there)."""
    w, path = get(name), cached_path(name)
    reason = offline_reason()
    if reason:
        raise _missing(w, f"not in the cache and downloads are off ({reason})", option)
    import torch.hub
    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        torch.hub.download_url_to_file(w.url, path, hash_prefix=w.expected_hash, progress=progress)
    except RuntimeError as e:
        if "invalid hash value" in str(e):
            raise MissingWeightsError(
                f"{w.name} weights {w.filename}: the file downloaded from {w.url} has the wrong SHA-256 "
                f"(expected it to start with {w.expected_hash}); refused, nothing was saved in {cache_dir()}") from None
        raise _missing(w, f"download failed ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})",
                       option) from None
    except (OSError, ValueError) as e:   # URLError, HTTPError, timeouts, disk full
        detail = getattr(e, "reason", None) or getattr(e, "strerror", None) or str(e)
        raise _missing(w, f"download failed ({type(e).__name__}: {str(detail).splitlines()[0] if detail else ''})",
                       option) from None
    _remember(path, w.expected_hash)
    return path


def weight_file(name: str, path: str | None = None, option: str | None = None) -> str:
    """The local file to load for table entry ``name``.

    ``path`` (a user's explicit option) is returned as it is, unchecked: it may be fine-tuned weights.
    Otherwise the cached copy, verified; when it is missing (or was refused for its hash) it is
    downloaded unless SR_GAN_OFFLINE / HF_HUB_OFFLINE forbid it. Failures are one line naming the
    file, the URL, the folder and the offline command; ``option`` names the explicit-path option.
    """
    w = get(name)
    if path:
        path = os.path.expanduser(str(path))
        if not os.path.isfile(path):
            where = f"{option}: " if option else ""
            raise MissingWeightsError(f"{where}{w.name} weights file not found: {path}")
        return path
    cached = cached_path(name)
    if os.path.isfile(cached):
        if hash_matches(w, cached):
            return cached
        warnings.warn(_set_aside(w, cached))
    return download(name, option)


# ----------------------------------------------------------------------------- command line

def _weight_name(text: str) -> str:
    if text not in WEIGHTS:
        raise argparse.ArgumentTypeError(f"unknown weight file '{text}' (choose from {', '.join(WEIGHTS)})")
    return text


def _lpips_heads_line() -> str:
    """LPIPS's calibrated linear heads ship inside the lpips package: found without importing it."""
    import importlib.util
    spec = importlib.util.find_spec("lpips")
    if spec is None or not spec.submodule_search_locations:
        return "LPIPS linear heads: the lpips package is not installed (pip install lpips)"
    folder = os.path.join(list(spec.submodule_search_locations)[0], "weights", "v0.1")
    return f"LPIPS linear heads: shipped with the lpips package ({folder}), nothing to fetch"


def cmd_list(args) -> int:
    reason = offline_reason()
    print(f"cache folder: {cache_dir()}  (torch.hub.get_dir()/checkpoints; TORCH_HOME moves it)")
    print(f"network: {'off (' + reason + ')' if reason else 'allowed: a missing file is fetched on first use'}")
    rows = [(w.name, w.filename, f"{w.size_mb:.0f} MB", state(w.name), w.used_by, w.option) for w in WEIGHTS.values()]
    head = ("name", "file", "size", "status", "used by", "or point at a copy with")
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    for r in [head] + rows:
        print("  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip())
    print(_lpips_heads_line())
    return 0


def cmd_fetch(args) -> int:
    for name in args.names or list(WEIGHTS):
        w, path = get(name), cached_path(name)
        if os.path.isfile(path) and hash_matches(w, path):
            print(f"{name}: already in {path}")
            continue
        if os.path.isfile(path):
            print(_set_aside(w, path))
        if not offline_reason():
            print(f"{name}: fetching {w.url} ({w.size_mb:.0f} MB)", flush=True)
        print(f"{name}: saved {download(name)}")
    return 0


def cmd_install(args) -> int:
    folder = args.folder
    if not os.path.isdir(folder):
        raise MissingWeightsError(f"{folder}: not a folder")
    found = [w for w in WEIGHTS.values() if os.path.isfile(os.path.join(folder, w.filename))]
    if not found:
        raise MissingWeightsError(f"{folder}: none of the weight files is there (expected any of "
                                  f"{', '.join(w.filename for w in WEIGHTS.values())})")
    refused = []
    for w in found:
        src, dst = os.path.join(folder, w.filename), cached_path(w.name)
        if not hash_matches(w, src, remember=False):
            refused.append(w.filename)
            print(f"{w.name}: {src} has the wrong SHA-256 (expected it to start with {w.expected_hash}); not installed")
            continue
        if os.path.isfile(dst) and os.path.realpath(dst) != os.path.realpath(src) and hash_matches(w, dst):
            print(f"{w.name}: already in {dst}")
            continue
        if os.path.realpath(dst) != os.path.realpath(src):
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            tmp = f"{dst}.{os.getpid()}.partial"
            shutil.copyfile(src, tmp)
            os.replace(tmp, dst)
            _remember(dst, w.expected_hash)
        print(f"{w.name}: installed {dst}")
    if refused:
        raise MissingWeightsError(f"{folder}: refused {', '.join(refused)} (SHA-256 does not match); "
                                  f"the other files were installed")
    return 0


def main(argv=None) -> int:
    from . import cli
    from .cli import run_cli
    p = cli.ArgumentParser(prog="python -m sr_gan.weights", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="every weight file, its size, where it is looked for, present or missing")
    fetch = sub.add_parser("fetch", help="download now (all files, or the ones named)")
    fetch.add_argument("names", nargs="*", type=_weight_name, metavar="NAME", help=", ".join(WEIGHTS))
    install = sub.add_parser("install", help="copy files brought by hand from DIR into the cache, hash-checked")
    install.add_argument("folder", metavar="DIR", type=cli.existing_dir)
    def body():
        args = p.parse_args(argv)
        return {"list": cmd_list, "fetch": cmd_fetch, "install": cmd_install}[args.command](args)
    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
