"""Total variation of the generator output: a smoothness prior that penalises noise and ringing.

TV looks at SR alone -- ``target`` is accepted (every term gets it) and ignored -- so it pulls
towards flat images and is only useful with a small weight next to terms that want detail.
Differences are forward differences between neighbouring pixels, per channel:
  l1 (default, anisotropic TV, Rudin-Osher-Fatemi style): mean |dy| + mean |dx|
  l2 (squared / "smooth" TV, Mahendran & Vedaldi 2015 with beta = 2): mean dy^2 + mean dx^2
  isotropic: mean sqrt(dy^2 + dx^2 + 1e-12) on the (H-1) x (W-1) pixels that have both neighbours
Each mean is over its own differences (N*C*(H-1)*W for dy, N*C*H*(W-1) for dx), so the value does
not grow with the crop size.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from sr_gan.errors import OptionError
from sr_gan.registry import LOSSES

NORMS = ("l1", "l2", "isotropic")


@LOSSES.register("tv", kind="generator")
class TVLoss(nn.Module):
    """Total variation of SR (target unused); ``norm``: l1 (anisotropic) | l2 (squared) | isotropic."""

    def __init__(self, norm: str = "l1"):
        super().__init__()
        if norm not in NORMS:
            raise OptionError(f"train.losses.tv.norm: expected one of {', '.join(NORMS)}, got '{norm}'")
        self.norm = norm

    def forward(self, sr: Tensor, target: Tensor | None = None) -> Tensor:
        dy = sr[..., 1:, :] - sr[..., :-1, :]
        dx = sr[..., :, 1:] - sr[..., :, :-1]
        if self.norm == "l1":
            return dy.abs().mean() + dx.abs().mean()
        if self.norm == "l2":
            return dy.pow(2).mean() + dx.pow(2).mean()
        return torch.sqrt(dy[..., :, :-1].pow(2) + dx[..., :-1, :].pow(2) + 1e-12).mean()
