"""Sobel edge loss: L1 between the image gradients of SR and its target.

A pixel loss treats a one-pixel edge shift and a uniform brightness error alike; comparing Sobel
responses weighs edges and fine texture, which pixel losses blur first. The 3x3 Sobel kernels are
OpenCV's ``cv2.Sobel(ksize=3)`` (unnormalised, [-1 0 1] x [1 2 1]) with its default mirrored
border (reflect-101), applied per channel.
  mode xy (default): 0.5 * (mean |Gx(sr) - Gx(t)| + mean |Gy(sr) - Gy(t)|) -- keeps the edge
      direction, and is differentiable everywhere the residual is non-zero.
  mode magnitude: mean | |G(sr)| - |G(t)| | with |G| = sqrt(Gx^2 + Gy^2 + 1e-12) -- insensitive to
      the edge's sign and direction (the eps keeps the gradient finite on flat areas).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sr_gan.degradations.usm import reflect_pad
from sr_gan.errors import OptionError
from sr_gan.registry import LOSSES

MODES = ("xy", "magnitude")
_SOBEL_X = ((-1.0, 0.0, 1.0), (-2.0, 0.0, 2.0), (-1.0, 0.0, 1.0))


def sobel(img: Tensor) -> tuple[Tensor, Tensor]:
    """(Gx, Gy) of every channel of an N x C x H x W batch: cv2.Sobel(ksize=3), reflect-101 border."""
    n, c, h, w = img.shape
    kx = torch.tensor(_SOBEL_X, dtype=img.dtype, device=img.device)
    kernels = torch.stack((kx, kx.t())).unsqueeze(1)                  # (2, 1, 3, 3): Gx, Gy
    g = F.conv2d(reflect_pad(img.reshape(n * c, 1, h, w), 1, 1), kernels)
    g = g.view(n, c, 2, h, w)
    return g[:, :, 0], g[:, :, 1]


@LOSSES.register("gradient", kind="generator")
class GradientLoss(nn.Module):
    """L1 between Sobel gradients of SR and target; ``mode``: xy (Gx and Gy) | magnitude."""

    def __init__(self, mode: str = "xy"):
        super().__init__()
        if mode not in MODES:
            raise OptionError(f"train.losses.gradient.mode: expected one of {', '.join(MODES)}, got '{mode}'")
        self.mode = mode

    def forward(self, sr: Tensor, target: Tensor) -> Tensor:
        sx, sy = sobel(sr)
        with torch.no_grad():
            tx, ty = sobel(target.detach())
        if self.mode == "xy":
            return 0.5 * ((sx - tx).abs().mean() + (sy - ty).abs().mean())
        mag_sr = torch.sqrt(sx * sx + sy * sy + 1e-12)
        mag_t = torch.sqrt(tx * tx + ty * ty + 1e-12)
        return (mag_sr - mag_t).abs().mean()
