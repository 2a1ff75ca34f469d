"""Differentiable RGB -> YCbCr / CIE L*a*b* for loss terms (N x 3 x H x W, RGB in [0, 1]).

YCbCr is MATLAB's ``rgb2ycbcr`` (ITU-R BT.601, studio swing), the Y the PSNR/SSIM metrics use
(its Y row is the metrics' own table), returned divided by 255 so Y lies in [16, 235] / 255.
L*a*b* is CIE 1976 under D65 from sRGB (IEC 61966-2-1 transfer curve, 2-degree observer white
point), the definition scikit-image's ``rgb2lab`` uses. Neither clips its input: a generator's
overshoot (< 0 or > 1) gets a finite value and a gradient instead of a flat zero.
"""
from __future__ import annotations

import torch
from torch import Tensor

from sr_gan.metrics.psnr_ssim import _Y_WEIGHTS

# rows: Y, Cb, Cr for R, G, B in [0, 1]; offsets added afterwards (all in 8-bit units)
_YCBCR_MATRIX = (tuple(float(w) for w in _Y_WEIGHTS), (-37.797, -74.203, 112.0), (112.0, -93.786, -18.214))
_YCBCR_OFFSET = (16.0, 128.0, 128.0)

# linear sRGB -> XYZ (D65) and the D65 reference white (X, Y, Z) of the 2-degree observer
_XYZ_FROM_RGB = ((0.412453, 0.357580, 0.180423),
                 (0.212671, 0.715160, 0.072169),
                 (0.019334, 0.119193, 0.950227))
_D65_WHITE = (0.95047, 1.0, 1.08883)


def _apply_matrix(img: Tensor, matrix) -> Tensor:
    m = torch.tensor(matrix, dtype=img.dtype, device=img.device)
    return torch.einsum("ij,njhw->nihw", m, img)


def _check_rgb(img: Tensor) -> None:
    if img.dim() != 4 or img.shape[1] != 3:
        raise ValueError(f"expected an N x 3 x H x W RGB batch, got shape {tuple(img.shape)}")


def rgb_to_ycbcr(img: Tensor) -> Tensor:
    """N x 3 x H x W RGB [0, 1] -> Y, Cb, Cr (MATLAB rgb2ycbcr) divided by 255."""
    _check_rgb(img)
    offset = torch.tensor(_YCBCR_OFFSET, dtype=img.dtype, device=img.device).view(1, 3, 1, 1)
    return (_apply_matrix(img, _YCBCR_MATRIX) + offset) / 255.0


def rgb_to_y(img: Tensor) -> Tensor:
    """The Y channel alone (N x 1 x H x W), as the PSNR/SSIM metrics compute it, divided by 255."""
    _check_rgb(img)
    w = torch.tensor(_YCBCR_MATRIX[0], dtype=img.dtype, device=img.device).view(1, 3, 1, 1)
    return ((img * w).sum(dim=1, keepdim=True) + _YCBCR_OFFSET[0]) / 255.0


def srgb_to_linear(img: Tensor) -> Tensor:
    """Inverse sRGB transfer curve: linear segment below 0.04045, 2.4 power above."""
    high = ((img.clamp_min(0.04045) + 0.055) / 1.055).pow(2.4)   # clamp keeps the unused branch finite
    return torch.where(img > 0.04045, high, img / 12.92)


def _lab_f(t: Tensor) -> Tensor:
    """CIE f(t): cube root above (6/29)^3, the tangent line 7.787 t + 16/116 below."""
    cube = t.clamp_min(0.008856).pow(1.0 / 3.0)
    return torch.where(t > 0.008856, cube, 7.787 * t + 16.0 / 116.0)


def rgb_to_lab(img: Tensor) -> Tensor:
    """N x 3 x H x W sRGB [0, 1] -> L* (0..100), a*, b* (about -128..127), D65."""
    _check_rgb(img)
    xyz = _apply_matrix(srgb_to_linear(img), _XYZ_FROM_RGB)
    white = torch.tensor(_D65_WHITE, dtype=img.dtype, device=img.device).view(1, 3, 1, 1)
    fx, fy, fz = _lab_f(xyz / white).unbind(dim=1)
    return torch.stack((116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)), dim=1)
