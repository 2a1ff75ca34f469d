"""Focal frequency loss (Jiang, Dai, Wu & Loy, "Focal Frequency Loss for Image Reconstruction and
Synthesis", ICCV 2021).

Pixel and perceptual losses under-weight the frequencies a generator finds hard (typically the high
ones), so they stay wrong; FFL compares 2-D spectra and focuses on the worst frequencies:
  F = orthonormal 2-D DFT of each channel (of each patch when ``patch_factor`` > 1),
  d(u, v) = |F_sr(u, v) - F_t(u, v)|^2,
  w(u, v) = |F_sr - F_t|^alpha, optionally log(1 + .), divided by its maximum -- over each image,
            patch and channel, or over the whole batch with ``batch_matrix`` -- with 0/0 = 0, and
            detached (a weight, not a path for gradients),
  loss = mean over images, patches, channels and frequencies of w * d.
``ave_spectrum`` first averages the spectra over the batch (the paper's minibatch-average option).
Options and defaults are the paper's and its official code's (alpha 1, patch_factor 1, the three
switches off).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from sr_gan.errors import OptionError
from sr_gan.registry import LOSSES


@LOSSES.register("focal_frequency", kind="generator")
class FocalFrequencyLoss(nn.Module):
    """Spectrum distance weighted by its own (detached, max-normalised) magnitude^alpha."""

    def __init__(self, alpha: float = 1.0, patch_factor: int = 1, ave_spectrum: bool = False,
                 log_matrix: bool = False, batch_matrix: bool = False):
        super().__init__()
        if not alpha > 0:
            raise OptionError(f"train.losses.focal_frequency.alpha: expected a value > 0, got {alpha}")
        if isinstance(patch_factor, bool) or not isinstance(patch_factor, int) or patch_factor < 1:
            raise OptionError(f"train.losses.focal_frequency.patch_factor: expected an integer >= 1, got {patch_factor}")
        self.alpha = float(alpha)
        self.patch_factor = patch_factor
        self.ave_spectrum = bool(ave_spectrum)
        self.log_matrix = bool(log_matrix)
        self.batch_matrix = bool(batch_matrix)

    def spectrum(self, x: Tensor) -> Tensor:
        """N x P x C x h x w complex spectra of the P = patch_factor^2 patches (row-major order)."""
        n, c, h, w = x.shape
        p = self.patch_factor
        if h % p or w % p:
            raise OptionError(f"train.losses.focal_frequency.patch_factor: {p} does not divide the {h}x{w} output")
        patches = x.reshape(n, c, p, h // p, p, w // p).permute(0, 2, 4, 1, 3, 5)
        patches = patches.reshape(n, p * p, c, h // p, w // p)
        if patches.dtype in (torch.float16, torch.bfloat16):
            patches = patches.float()
        return torch.fft.fft2(patches, norm="ortho")

    def forward(self, sr: Tensor, target: Tensor) -> Tensor:
        f_sr = self.spectrum(sr)
        f_t = self.spectrum(target.detach())
        if self.ave_spectrum:
            f_sr = f_sr.mean(dim=0, keepdim=True)
            f_t = f_t.mean(dim=0, keepdim=True)
        diff = f_sr - f_t
        distance = diff.real.pow(2) + diff.imag.pow(2)
        with torch.no_grad():
            weight = distance.sqrt().pow(self.alpha)
            if self.log_matrix:
                weight = torch.log1p(weight)
            peak = weight.amax() if self.batch_matrix else weight.amax(dim=(-2, -1), keepdim=True)
            weight = torch.nan_to_num(weight / peak, nan=0.0).clamp(0.0, 1.0)
        return (weight * distance).mean()
