"""Helpers shared by the metric modules (leading '_' keeps the registry scan away from it)."""
from __future__ import annotations

import numpy as np


def as_float01(img: np.ndarray) -> np.ndarray:
    """HWC/HW image as float64 in [0, 1]; uint8 is divided by 255 (the convention of image_io)."""
    img = np.asarray(img)
    if img.dtype == np.uint8:
        return img.astype(np.float64) / 255.0
    return img.astype(np.float64)
