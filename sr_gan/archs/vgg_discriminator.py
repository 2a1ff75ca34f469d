"""BasicSR's VGGStyleDiscriminator (ESRGAN / SRGAN): one realness score per image.

Five stages of [3x3 conv, 4x4 stride-2 conv] shrink the input by 32, then two linear layers.
Parameter names follow BasicSR so its 128-px discriminator weights load. Any ``input_size`` that
is a multiple of 32 works: ``linear1`` is sized ``num_feat*8 * (input_size/32)**2`` (BasicSR's 256-px
variant adds a sixth stage instead; that layout is not reproduced here).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sr_gan.errors import OptionError
from sr_gan.registry import ARCHS


@ARCHS.register("vgg", kind="discriminator")
class VGGStyleDiscriminator(nn.Module):
    """forward(x) -> (N, 1) logits; with ``return_features`` also the five stage outputs."""

    returns_features = True      # feature matching may use it (sr_gan.archs contract)

    def __init__(self, num_in_ch: int = 3, num_feat: int = 64, input_size: int = 128):
        super().__init__()
        if input_size <= 0 or input_size % 32:
            raise OptionError(f"network_d.input_size: vgg discriminator needs a positive multiple of 32; got {input_size}")
        self.input_size = input_size
        widths = [num_feat, num_feat * 2, num_feat * 4, num_feat * 8, num_feat * 8]
        in_ch = num_in_ch
        for stage, width in enumerate(widths):
            # stage 0's first conv has a bias and no BN (BasicSR), every other conv is conv-BN
            self.add_module(f"conv{stage}_0", nn.Conv2d(in_ch, width, 3, 1, 1, bias=stage == 0))
            if stage > 0:
                self.add_module(f"bn{stage}_0", nn.BatchNorm2d(width, affine=True))
            self.add_module(f"conv{stage}_1", nn.Conv2d(width, width, 4, 2, 1, bias=False))
            self.add_module(f"bn{stage}_1", nn.BatchNorm2d(width, affine=True))
            in_ch = width
        self.num_stages = len(widths)
        side = input_size // 32
        self.linear1 = nn.Linear(num_feat * 8 * side * side, 100)
        self.linear2 = nn.Linear(100, 1)

    def forward(self, x: torch.Tensor, return_features: bool = False):
        if tuple(x.shape[-2:]) != (self.input_size, self.input_size):
            raise ValueError(f"vgg discriminator built for input_size {self.input_size}: expected "
                             f"{self.input_size}x{self.input_size} patches, got {x.shape[-2]}x{x.shape[-1]} "
                             f"(set network_d.input_size to the GT patch size)")
        features = []
        feat = x
        for stage in range(self.num_stages):
            feat = getattr(self, f"conv{stage}_0")(feat)
            if stage > 0:
                feat = getattr(self, f"bn{stage}_0")(feat)
            feat = F.leaky_relu(feat, 0.2)
            feat = F.leaky_relu(getattr(self, f"bn{stage}_1")(getattr(self, f"conv{stage}_1")(feat)), 0.2)
            features.append(feat)
        logits = self.linear2(F.leaky_relu(self.linear1(feat.flatten(1)), 0.2))
        return (logits, features) if return_features else logits
