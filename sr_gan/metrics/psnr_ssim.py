"""PSNR and SSIM as SR papers report them: MATLAB rgb2ycbcr Y channel, [0, 255] scale, border cropped.

Benchmarks (Set5, Set14, DIV2K val...) are compared in the published tables on the Y channel
with ``scale`` pixels removed on each side; computing them any other way (RGB, [0,1], uint8
rounding, 'same' SSIM borders) moves the numbers by tenths of a dB and makes them incomparable.
SSIM follows BasicSR / MATLAB ``ssim_index``: 11x11 Gaussian window (sigma 1.5) applied, then the
5-pixel border where the window leaves the image is dropped ('valid' region).
"""
from __future__ import annotations

import cv2
import numpy as np

from sr_gan.metrics._common import as_float01
from sr_gan.registry import METRICS

# MATLAB rgb2ycbcr (ITU-R BT.601, studio swing) for R, G, B in [0, 1]
_Y_WEIGHTS = np.array([65.481, 128.553, 24.966])
_SSIM_WINDOW = 11
_SSIM_SIGMA = 1.5


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """Y of MATLAB rgb2ycbcr as HxW float64 in [16, 235] (not rounded); input RGB [0,1] or uint8."""
    img = as_float01(img)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"rgb_to_y expects an HxWx3 RGB image, got shape {img.shape}")
    return img @ _Y_WEIGHTS + 16.0


def _prepare(sr: np.ndarray, hr: np.ndarray, crop_border: int, y_channel: bool) -> tuple[np.ndarray, np.ndarray]:
    """Both images as HxWxC float64 in [0, 255] (Y only when asked), border removed."""
    sr, hr = np.asarray(sr), np.asarray(hr)
    if sr.shape != hr.shape:
        raise ValueError(f"image shapes differ: sr {sr.shape} vs hr {hr.shape}")
    if crop_border < 0:
        raise ValueError(f"crop_border must be >= 0, got {crop_border}")
    out = []
    for img in (sr, hr):
        img = as_float01(img)
        if img.ndim == 2:
            img = img[:, :, None]
        if y_channel and img.shape[2] == 3:
            img = rgb_to_y(img)[:, :, None]
        else:
            img = img * 255.0
        if crop_border:
            img = img[crop_border:-crop_border, crop_border:-crop_border]
        if img.shape[0] == 0 or img.shape[1] == 0:
            raise ValueError(f"crop_border={crop_border} leaves nothing of an image of shape {sr.shape}")
        out.append(img)
    return out[0], out[1]


def calculate_psnr(sr: np.ndarray, hr: np.ndarray, crop_border: int = 0, y_channel: bool = True) -> float:
    """PSNR in dB with peak 255; ``inf`` for identical images. All channels when ``y_channel`` is False."""
    a, b = _prepare(sr, hr, crop_border, y_channel)
    mse = float(np.mean((a - b) ** 2))
    if mse == 0:
        return float("inf")
    return float(20.0 * np.log10(255.0 / np.sqrt(mse)))


def _ssim_single(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two HxW float64 images in [0, 255] over the 'valid' region (Wang et al. 2004)."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    g = cv2.getGaussianKernel(_SSIM_WINDOW, _SSIM_SIGMA)
    window = g @ g.T
    pad = _SSIM_WINDOW // 2
    if a.shape[0] <= 2 * pad or a.shape[1] <= 2 * pad:
        raise ValueError(f"SSIM needs images larger than {2 * pad}x{2 * pad} after cropping, got {a.shape}")

    def filt(x: np.ndarray) -> np.ndarray:
        return cv2.filter2D(x, -1, window)[pad:-pad, pad:-pad]

    mu_a, mu_b = filt(a), filt(b)
    var_a = filt(a * a) - mu_a ** 2
    var_b = filt(b * b) - mu_b ** 2
    cov_ab = filt(a * b) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov_ab + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return float(ssim_map.mean())


def calculate_ssim(sr: np.ndarray, hr: np.ndarray, crop_border: int = 0, y_channel: bool = True) -> float:
    """Mean SSIM (Gaussian 11x11, sigma 1.5, 'valid' region); averaged over channels in RGB mode."""
    a, b = _prepare(sr, hr, crop_border, y_channel)
    return float(np.mean([_ssim_single(a[:, :, c], b[:, :, c]) for c in range(a.shape[2])]))


class _PaperMetric:
    """A full-reference metric computed the paper way (Y channel, border crop) by `compute`."""

    needs_reference: bool = True
    compute = None          # calculate_psnr / calculate_ssim

    def __init__(self, crop_border: int = 0, y_channel: bool = True, device: str = "cpu"):
        self.crop_border = int(crop_border)
        self.y_channel = bool(y_channel)
        self.device = device  # numpy metric: accepted so all metrics share one constructor schema

    def __call__(self, sr: np.ndarray, hr: np.ndarray) -> float:
        return type(self).compute(sr, hr, self.crop_border, self.y_channel)


@METRICS.register("psnr")
class PSNR(_PaperMetric):
    """Per-image PSNR (dB); see :func:`calculate_psnr`."""

    higher_is_better: bool = True
    compute = staticmethod(calculate_psnr)


@METRICS.register("ssim")
class SSIM(_PaperMetric):
    """Per-image SSIM; see :func:`calculate_ssim`."""

    higher_is_better: bool = True
    compute = staticmethod(calculate_ssim)
