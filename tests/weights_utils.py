"""A fake weight hub for tests: weight files served from file:// URLs, hashes computed here with hashlib.

No test touches the network: conftest.py sets SR_GAN_OFFLINE=1 for the whole session, and a test that
exercises the download path switches it off itself after pointing the table at a local file.
"""
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import torch

from sr_gan import weights


def use_hub(monkeypatch, folder) -> Path:
    """torch.hub's cache moved to ``folder`` (what TORCH_HOME / torch.hub.set_dir do); returns checkpoints/."""
    monkeypatch.setattr(torch.hub, "_hub_dir", str(folder))
    return Path(folder) / "checkpoints"


def serve(monkeypatch, folder, name: str, payload, prefix: str | None = None) -> weights.WeightFile:
    """Table entry ``name`` served from folder/served/<its real file name> as a file:// URL.

    ``payload``: a state dict (saved with torch.save) or raw bytes. The entry's hash becomes the first
    8 hex digits of the served file's SHA-256 (as torchvision's names carry), or ``prefix`` when given.
    """
    real = weights.WEIGHTS[name]
    path = Path(folder) / "served" / real.filename
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(payload, bytes):
        path.write_bytes(payload)
    else:
        torch.save(payload, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    fake = dataclasses.replace(real, url=path.as_uri(), sha256_prefix=prefix or digest[:8])
    monkeypatch.setitem(weights.WEIGHTS, name, fake)
    return fake


def place_in_cache(monkeypatch, hub_checkpoints: Path, name: str, payload) -> Path:
    """A file already in the cache (installed by hand) whose hash the table entry accepts."""
    fake = serve(monkeypatch, hub_checkpoints.parent, name, payload)
    hub_checkpoints.mkdir(parents=True, exist_ok=True)
    target = hub_checkpoints / fake.filename
    target.write_bytes((hub_checkpoints.parent / "served" / fake.filename).read_bytes())
    return target


def online(monkeypatch) -> None:
    monkeypatch.delenv("SR_GAN_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)


class CountingDownloader:
    """Wraps torch.hub.download_url_to_file and counts the calls (downloads attempted)."""

    def __init__(self, monkeypatch):
        self.calls: list[str] = []
        self._real = torch.hub.download_url_to_file
        monkeypatch.setattr(torch.hub, "download_url_to_file", self)

    def __call__(self, url, dst, *args, **kwargs):
        self.calls.append(url)
        return self._real(url, dst, *args, **kwargs)
