"""Colour consistency: L1 between the chroma of SR and its target, lightness left out.

GAN and perceptual terms let colours drift (tints, shifted saturation) while PSNR-style terms are
dominated by luminance; comparing chroma alone penalises exactly the drift. The default space is
CIE L*a*b* (D65): a*b* distances track perceived colour differences roughly uniformly (CIE76
Delta-E without the L* part), whereas YCbCr's CbCr -- offered as ``space: ycbcr`` for parity with
neosr's colour loss, which compares CbCr -- is a linear map of gamma-encoded RGB whose distances
overweight saturated colours and underweight dark ones.
  lab:   mean |a*(sr) - a*(t)| and |b*(sr) - b*(t)| divided by 100 (L* spans 0..100), so a value
         of 0.01 is one Delta-E unit of chroma and the term is on the scale of an L1 on [0, 1].
  ycbcr: mean |Cb(sr) - Cb(t)| and |Cr(sr) - Cr(t)| with Cb, Cr as MATLAB rgb2ycbcr / 255.
``blur_sigma`` > 0 blurs both images first (Gaussian, 2*ceil(3 sigma)+1 taps, mirrored border),
so only the colour of regions is compared and the term does not fight texture from other terms
(the idea behind neosr's down-scaled colour loss).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from sr_gan.degradations.usm import gaussian_kernel_1d, separable_blur
from sr_gan.errors import OptionError
from sr_gan.losses._colorspace import rgb_to_lab, rgb_to_ycbcr
from sr_gan.registry import LOSSES

SPACES = ("lab", "ycbcr")


@LOSSES.register("color", kind="generator")
class ColorLoss(nn.Module):
    """L1 between the chroma (a*b* of CIE Lab, or CbCr) of SR and target, optionally blurred first."""

    def __init__(self, space: str = "lab", blur_sigma: float = 0.0):
        super().__init__()
        if space not in SPACES:
            raise OptionError(f"train.losses.color.space: expected one of {', '.join(SPACES)}, got '{space}'")
        if not blur_sigma >= 0:
            raise OptionError(f"train.losses.color.blur_sigma: expected a value >= 0, got {blur_sigma}")
        self.space = space
        self.blur_sigma = float(blur_sigma)

    def _chroma(self, img: Tensor) -> Tensor:
        if self.blur_sigma > 0:
            size = 2 * math.ceil(3 * self.blur_sigma) + 1
            img = separable_blur(img, gaussian_kernel_1d(size, self.blur_sigma, dtype=img.dtype, device=img.device))
        if self.space == "lab":
            return rgb_to_lab(img)[:, 1:] / 100.0
        return rgb_to_ycbcr(img)[:, 1:]

    def forward(self, sr: Tensor, target: Tensor) -> Tensor:
        with torch.no_grad():
            t = self._chroma(target.detach())
        return (self._chroma(sr) - t).abs().mean()
