"""Aligned crops and flips for (LR, HR) pairs.

Every random choice takes an explicit ``np.random.Generator`` (never the global RNG), so a sample is
a pure function of its seed and a resumed run reproduces its batches exactly.
"""
from __future__ import annotations

import numpy as np

from sr_gan.errors import DataError


def mod_crop(img: np.ndarray, scale: int) -> np.ndarray:
    """Crop the bottom/right so height and width are multiples of ``scale`` (LR size = HR size / scale)."""
    h, w = img.shape[:2]
    return img[: h - h % scale, : w - w % scale]


def random_crop(img: np.ndarray, crop: int, rng: np.random.Generator, key: str = "") -> np.ndarray:
    """One random ``crop`` x ``crop`` patch (any position)."""
    h, w = img.shape[:2]
    if h < crop or w < crop:
        raise DataError(f"{key or 'image'}: size {w}x{h} is smaller than the crop {crop}x{crop}")
    top = int(rng.integers(0, h - crop + 1))
    left = int(rng.integers(0, w - crop + 1))
    return img[top:top + crop, left:left + crop]


def paired_random_crop(hr: np.ndarray, lr: np.ndarray, hr_crop: int, scale: int,
                       rng: np.random.Generator, key: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Aligned patches: LR (hr_crop//scale)^2 at (top, left), HR hr_crop^2 at (top*scale, left*scale)."""
    if hr_crop % scale:
        raise DataError(f"{key or 'crop'}: crop {hr_crop} is not divisible by scale {scale}")
    lr_crop = hr_crop // scale
    h_lr, w_lr = lr.shape[:2]
    h_hr, w_hr = hr.shape[:2]
    if h_hr < h_lr * scale or w_hr < w_lr * scale:
        raise DataError(f"{key or 'image'}: HR {w_hr}x{h_hr} is smaller than LR {w_lr}x{h_lr} x{scale}")
    if h_lr < lr_crop or w_lr < lr_crop:
        raise DataError(f"{key or 'image'}: LR size {w_lr}x{h_lr} is smaller than the LR crop "
                        f"{lr_crop}x{lr_crop} (HR crop {hr_crop} / scale {scale})")
    top = int(rng.integers(0, h_lr - lr_crop + 1))
    left = int(rng.integers(0, w_lr - lr_crop + 1))
    lr_patch = lr[top:top + lr_crop, left:left + lr_crop]
    hr_patch = hr[top * scale:(top + lr_crop) * scale, left * scale:(left + lr_crop) * scale]
    return hr_patch, lr_patch


def augment(images: list[np.ndarray], hflip: bool, rot: bool, rng: np.random.Generator) -> list[np.ndarray]:
    """The same random horizontal flip, vertical flip and H/W transpose applied to every image.

    BasicSR semantics: hflip with p=0.5 if ``hflip``; vflip and transpose each with p=0.5 if ``rot``
    (together they give all 8 dihedral transforms). Three draws are always taken so the RNG stream
    does not depend on the flags.
    """
    draws = rng.random(3)
    do_hflip = hflip and draws[0] < 0.5
    do_vflip = rot and draws[1] < 0.5
    do_transpose = rot and draws[2] < 0.5
    out = []
    for img in images:
        if do_hflip:
            img = img[:, ::-1]
        if do_vflip:
            img = img[::-1]
        if do_transpose:
            img = img.transpose(1, 0, *range(2, img.ndim))
        out.append(np.ascontiguousarray(img))
    return out
