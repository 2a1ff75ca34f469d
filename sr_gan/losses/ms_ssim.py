"""MS-SSIM loss, 1 - MS-SSIM (Wang, Simoncelli & Bovik, "Multi-scale structural similarity for
image quality assessment", Asilomar 2003), as in the authors' reference code:

  per scale j: Gaussian window 11 x 11, sigma 1.5, 'valid' filtering (statistics from real pixels
  only), C1 = (0.01 L)^2, C2 = (0.03 L)^2 with L = 1;
  cs_j = mean of (2 s_xy + C2) / (s_x^2 + s_y^2 + C2), and at the coarsest scale M the full SSIM
  mean of l * cs; between scales a 2 x 2 average and subsampling by 2 (an odd last row/column is
  averaged with itself, MATLAB's 'symmetric' border);
  MS-SSIM = ssim_M ^ w_M * prod_{j<M} cs_j ^ w_j, w = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333),
  computed per image and channel, then averaged over the batch and channels.

Decisions where the paper is silent:
  * Small crops: the five scales need a short side of at least 161 px (the fifth scale must still
    hold an 11 x 11 window). A smaller crop uses the first M scales that fit (M = 3 for 64 px,
    4 for 128 px) with their weights renormalised to sum to 1, so that equal per-scale similarity s
    still gives MS-SSIM = s; nothing is padded, since padded borders would dominate the coarse
    scales of a small crop. Crops under 11 px are an error.
  * Negative values: cs_j (or ssim_M) can be negative for anti-correlated content, and a fractional
    power of a negative number is undefined; each per-scale mean is clamped to >= 1e-6 before the
    power (a scale at the floor gives no gradient; the loss is then close to 1).
  * ``channels: y`` compares the BT.601 Y channel (as the PSNR/SSIM metrics), ``rgb`` each channel.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sr_gan.degradations.usm import gaussian_kernel_1d
from sr_gan.errors import OptionError
from sr_gan.losses._colorspace import rgb_to_y
from sr_gan.registry import LOSSES

WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
WINDOW, SIGMA, K1, K2 = 11, 1.5, 0.01, 0.03
FLOOR = 1e-6
CHANNELS = ("rgb", "y")


def num_scales(height: int, width: int) -> int:
    """Scales (of 5) whose image still holds the 11 x 11 window when halving (ceil) the short side."""
    side, m = min(height, width), 0
    while m < len(WEIGHTS) and side >= WINDOW:
        m += 1
        side = (side + 1) // 2
    return m


def _filter_valid(x: Tensor, kernel: Tensor) -> Tensor:
    n, c, h, w = x.shape
    y = F.conv2d(x.reshape(n * c, 1, h, w), kernel.view(1, 1, -1, 1))
    y = F.conv2d(y, kernel.view(1, 1, 1, -1))
    return y.view(n, c, y.shape[-2], y.shape[-1])


def _halve(x: Tensor) -> Tensor:
    """2 x 2 average then every other pixel; odd sizes repeat their last row/column first."""
    pad_h, pad_w = x.shape[-2] % 2, x.shape[-1] % 2
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
    return F.avg_pool2d(x, 2)


def ssim_terms(x: Tensor, y: Tensor, kernel: Tensor) -> tuple[Tensor, Tensor]:
    """(mean SSIM, mean contrast-structure cs), each N x C, over the 'valid' window positions."""
    c1, c2 = K1 ** 2, K2 ** 2
    mu_x, mu_y = _filter_valid(x, kernel), _filter_valid(y, kernel)
    var_x = _filter_valid(x * x, kernel) - mu_x * mu_x
    var_y = _filter_valid(y * y, kernel) - mu_y * mu_y
    cov = _filter_valid(x * y, kernel) - mu_x * mu_y
    cs = (2 * cov + c2) / (var_x + var_y + c2)
    lum = (2 * mu_x * mu_y + c1) / (mu_x * mu_x + mu_y * mu_y + c1)
    return (lum * cs).mean(dim=(-2, -1)), cs.mean(dim=(-2, -1))


def ms_ssim(x: Tensor, y: Tensor) -> Tensor:
    """MS-SSIM per image and channel (N x C) of two N x C x H x W batches in [0, 1]."""
    scales = num_scales(*x.shape[-2:])
    if scales == 0:
        raise OptionError(f"train.losses.ms_ssim: the {x.shape[-2]}x{x.shape[-1]} output is smaller than the "
                          f"{WINDOW}x{WINDOW} SSIM window; use a larger crop")
    kernel = gaussian_kernel_1d(WINDOW, SIGMA, dtype=x.dtype, device=x.device)
    weights = torch.tensor(WEIGHTS[:scales], dtype=x.dtype, device=x.device)
    if scales < len(WEIGHTS):           # (the published five sum to 1.0001; they are used as printed)
        weights = weights / weights.sum()
    out = None
    for j in range(scales):
        ssim_j, cs_j = ssim_terms(x, y, kernel)
        value = ssim_j if j == scales - 1 else cs_j
        term = value.clamp_min(FLOOR).pow(weights[j])
        out = term if out is None else out * term
        if j < scales - 1:
            x, y = _halve(x), _halve(y)
    return out


@LOSSES.register("ms_ssim", kind="generator")
class MSSSIMLoss(nn.Module):
    """1 - MS-SSIM (5 scales, published weights; fewer, renormalised, on crops under 161 px)."""

    def __init__(self, channels: str = "rgb"):
        super().__init__()
        if channels not in CHANNELS:
            raise OptionError(f"train.losses.ms_ssim.channels: expected one of {', '.join(CHANNELS)}, got '{channels}'")
        self.channels = channels

    def forward(self, sr: Tensor, target: Tensor) -> Tensor:
        target = target.detach()
        if self.channels == "y":
            sr, target = rgb_to_y(sr), rgb_to_y(target)
        return 1.0 - ms_ssim(sr, target).mean()
