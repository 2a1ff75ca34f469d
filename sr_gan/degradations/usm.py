"""Unsharp masking of the ground truth (Real-ESRGAN's `USMSharp`), batched on the device.

Real-ESRGAN sharpens HR before degrading it and can train each loss term against the sharpened HR
(`l1_gt_usm`, `percep_gt_usm`, `gan_gt_usm`). Its Gaussian (cv2.getGaussianKernel(51, 0), sigma 8)
is separable: filters.separable_blur runs it as one matmul per axis with the banded blur matrix
(borders folded in), or on CPUs for larger images as a per-sample FFT: the same values up to float
rounding, without 51 x 51 taps per pixel. Borders are mirrored like OpenCV's default
(BORDER_REFLECT_101, = torch's 'reflect'), for any image size.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .filters import reflect_pad, separable_blur  # noqa: F401  (reflect_pad: part of this module's API)


def gaussian_kernel_1d(size: int, sigma: float = 0.0, dtype=torch.float32, device=None) -> Tensor:
    """cv2.getGaussianKernel(size, sigma) (cv2 has fixed tables for small sizes with sigma <= 0); sigma <= 0 means 0.3 * ((size - 1) * 0.5 - 1) + 0.8."""
    if sigma <= 0:
        sigma = 0.3 * ((size - 1) * 0.5 - 1) + 0.8
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    k = torch.exp(-(x * x) / (2 * sigma * sigma))
    return (k / k.sum()).to(dtype=dtype, device=device)


def usm_sharp(img: Tensor, weight: float = 0.5, radius: int = 50, threshold: float = 10.0) -> Tensor:
    """Real-ESRGAN's USM: img + weight * (img - blur), clipped to [0, 1], blended in only where the
    residual exceeds `threshold`/255 (a blurred mask, so edges sharpen and flat areas stay clean)."""
    if radius % 2 == 0:
        radius += 1
    kernel = gaussian_kernel_1d(radius, 0.0, dtype=img.dtype, device=img.device)
    residual = img - separable_blur(img, kernel)
    soft_mask = separable_blur((residual.abs() * 255 > threshold).to(img.dtype), kernel)
    sharp = img.add(residual, alpha=weight).clamp_(0, 1)
    return torch.lerp(img, sharp, soft_mask)                   # soft_mask * sharp + (1 - soft_mask) * img
