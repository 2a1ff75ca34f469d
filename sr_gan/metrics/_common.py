"""Helpers shared by the metric modules (leading '_' keeps the registry scan away from it)."""
from __future__ import annotations

import os
from urllib.parse import urlparse

import numpy as np
import torch

from sr_gan.errors import MissingWeightsError


def as_float01(img: np.ndarray) -> np.ndarray:
    """HWC/HW image as float64 in [0, 1]; uint8 is divided by 255 (the convention of image_io)."""
    img = np.asarray(img)
    if img.dtype == np.uint8:
        return img.astype(np.float64) / 255.0
    return img.astype(np.float64)


def hub_checkpoint_path(url: str) -> str:
    """Where torch.hub would cache ``url``: <hub dir>/checkpoints/<file name of the url>."""
    return os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(urlparse(url).path))


def resolve_weights(url: str, explicit_path: str | None, what: str, how_to_pass: str) -> str:
    """The local weights file to load: ``explicit_path`` if given, else torch.hub's cached copy.

    Never downloads: pretrained weights cannot be fetched here, and silently falling back to a
    random network would report meaningless numbers, so a missing file is a one-line error.
    """
    path = explicit_path if explicit_path else hub_checkpoint_path(url)
    if not os.path.isfile(path):
        folder, name = os.path.split(os.path.abspath(path))
        raise MissingWeightsError(
            f"{what} weights '{name}' not found in '{folder}' (no download is attempted); "
            f"copy the file there or pass {how_to_pass}")
    return path
