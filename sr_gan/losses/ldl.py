"""LDL artifact loss (Liang, Zeng & Zhang, "Details or Artifacts: A Locally Discriminative Learning
Approach to Realistic Image Super-Resolution", CVPR 2022).

GAN-trained SR makes realistic texture and artifacts alike; LDL tells them apart by the residual
R = sum over channels of |HR - SR|: artifacts leave residuals whose *local* variance is high, and
an artifact that the EMA generator (a temporally smoothed, more stable model) does not make is one
the current model has just started making. Per image:
  pixel map   = variance of R in the 7 x 7 window around each pixel (unbiased, /48; the border
                mirrored, reflect-101), the paper's local-variance map (official get_local_weights);
  patch scale = (variance of R over the whole crop, unbiased) ^ (1/5) -- the paper's 1/a with a = 5
                damps the global term so that it only scales images with many artifacts up;
  map M       = patch scale * pixel map, set to 0 where |HR - SR| < |HR - SR_ema| (summed over
                channels): pixels where the current model is already closer than the EMA are not
                artifacts to suppress; ties keep M, as the official code does (so the loss is not
                zero at the first iteration, when the EMA is a copy of the generator);
  loss        = mean |M * SR - M * HR| (L1 over pixels and channels, i.e. the paper's ||M (HR - SR)||_1
                normalised by the element count, as BasicSR's L1Loss does in the official code).
``detach_map``: the official code lets gradients flow through M as well as through M * SR
(``detach_map: false``, the default here); ``true`` treats M as a constant weight. The global
variance is floored at 1e-12 before the 1/5 power: the value is unchanged (the local map is then
zero too) but the gradient of v^(1/5), infinite at v = 0, stays finite on a perfect reconstruction.
Needs ``sr_ema``: the EMA generator's output on the same LR (the model provides it; train with
``ema_decay`` > 0).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sr_gan.degradations.usm import reflect_pad
from sr_gan.errors import OptionError
from sr_gan.registry import LOSSES

GLOBAL_POWER = 1.0 / 5.0
VAR_FLOOR = 1e-12


def local_variance(x: Tensor, ksize: int) -> Tensor:
    """Unbiased variance of each ksize x ksize neighbourhood (reflect-101 border), same size as x."""
    pad = ksize // 2
    xp = reflect_pad(x - x.mean(dim=(-2, -1), keepdim=True).detach(), pad, pad)   # shift: less cancellation
    n = ksize * ksize
    mean = F.avg_pool2d(xp, ksize, stride=1)
    mean_sq = F.avg_pool2d(xp * xp, ksize, stride=1)
    return ((mean_sq - mean * mean) * (n / (n - 1))).clamp_min(0.0)


def artifact_map(sr: Tensor, hr: Tensor, sr_ema: Tensor, ksize: int = 7) -> Tensor:
    """LDL's refined artifact map M (N x 1 x H x W); differentiable w.r.t. sr."""
    residual = (hr - sr).abs().sum(dim=1, keepdim=True)
    residual_ema = (hr - sr_ema).abs().sum(dim=1, keepdim=True)
    patch = residual.var(dim=(1, 2, 3), keepdim=True).clamp_min(VAR_FLOOR).pow(GLOBAL_POWER)
    weights = patch * local_variance(residual, ksize)
    return torch.where(residual < residual_ema, torch.zeros_like(weights), weights)


@LOSSES.register("ldl", kind="generator")
class LDLLoss(nn.Module):
    """L1 between M*SR and M*HR, M = LDL's artifact map from the local residual variance (needs sr_ema)."""

    def __init__(self, ksize: int = 7, detach_map: bool = False):
        super().__init__()
        if isinstance(ksize, bool) or not isinstance(ksize, int) or ksize < 3 or ksize % 2 == 0:
            raise OptionError(f"train.losses.ldl.ksize: expected an odd integer >= 3, got {ksize}")
        self.ksize = ksize
        self.detach_map = bool(detach_map)

    def forward(self, sr: Tensor, target: Tensor, sr_ema: Tensor) -> Tensor:
        target, sr_ema = target.detach(), sr_ema.detach()
        weights = artifact_map(sr.detach() if self.detach_map else sr, target, sr_ema, self.ksize)
        return (weights * sr - weights * target).abs().mean()
