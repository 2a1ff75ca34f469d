"""Pixel-space reconstruction losses (L1, MSE, Charbonnier): generator terms of `train.losses`.

Unweighted: the model multiplies each term by its YAML ``weight``. Constructor arguments are the
YAML schema, so they are typed and defaulted.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from sr_gan.errors import OptionError
from sr_gan.registry import LOSSES

_REDUCTIONS = ("mean", "sum")


def _check_reduction(reduction: str) -> str:
    if reduction not in _REDUCTIONS:
        raise OptionError(f"reduction: expected one of {', '.join(_REDUCTIONS)}, got '{reduction}'")
    return reduction


def _reduce(values: Tensor, reduction: str) -> Tensor:
    return values.mean() if reduction == "mean" else values.sum()


@LOSSES.register("l1", kind="generator")
class L1Loss(nn.Module):
    """mean |pred - target|: the PSNR-oriented default (sharper than MSE, per EDSR/ESRGAN)."""

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = _check_reduction(reduction)

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        return _reduce((pred - target).abs(), self.reduction)


@LOSSES.register("mse", kind="generator")
class MSELoss(nn.Module):
    """mean (pred - target)^2: directly maximises PSNR (SRResNet)."""

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = _check_reduction(reduction)

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        return _reduce((pred - target).pow(2), self.reduction)


@LOSSES.register("charbonnier", kind="generator")
class CharbonnierLoss(nn.Module):
    """mean sqrt((pred - target)^2 + eps): a differentiable L1 (LapSRN), same eps default as BasicSR."""

    def __init__(self, eps: float = 1e-12, reduction: str = "mean"):
        super().__init__()
        if eps < 0:
            raise OptionError(f"eps: expected a value >= 0, got {eps}")
        self.eps = float(eps)
        self.reduction = _check_reduction(reduction)

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        return _reduce(torch.sqrt((pred - target).pow(2) + self.eps), self.reduction)
