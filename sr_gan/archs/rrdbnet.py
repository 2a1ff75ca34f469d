"""ESRGAN's RRDBNet with BasicSR / Real-ESRGAN parameter names, so published weights load as-is.

Scales and their layouts (each the one used by published checkpoints):
  * x4: two nearest-x2 upsamplings, each followed by ``conv_up1`` / ``conv_up2`` (BasicSR).
  * x2: the input is ``pixel_unshuffle``-d by 2 (``conv_first`` takes ``num_in_ch * 4``) and then
    runs the x4 trunk -- Real-ESRGAN's x2 layout, so ``RealESRGAN_x2plus`` weights load.
    Needs even input height and width (declared by ``input_multiple``).
  * x1: the same with ``pixel_unshuffle`` by 4 (``conv_first`` takes ``num_in_ch * 16``), Real-ESRGAN's
    x1 layout; input sides must be multiples of 4.
  * x8: a third nearest-x2 stage through ``conv_up3`` (old ESRGAN / spandrel x8 models).
  * x3: a single nearest-x3 upsampling through ``conv_up1`` (the old ESRGAN x3 layout).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sr_gan.archs import check_scale
from sr_gan.archs._blocks import default_init_weights
from sr_gan.registry import ARCHS

# scale -> (nearest upsampling factor per conv_up stage, pixel-unshuffle factor of the input)
_LAYOUTS = {1: ((2, 2), 4), 2: ((2, 2), 2), 3: ((3,), 1), 4: ((2, 2), 1), 8: ((2, 2, 2), 1)}


class ResidualDenseBlock(nn.Module):
    """Five densely connected 3x3 convs; the output is scaled by 0.2 and added to the input."""

    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32):
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_grow_ch, 3, 1, 1)
        self.conv2 = nn.Conv2d(num_feat + num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv3 = nn.Conv2d(num_feat + 2 * num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv4 = nn.Conv2d(num_feat + 3 * num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv5 = nn.Conv2d(num_feat + 4 * num_grow_ch, num_feat, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)
        default_init_weights([self.conv1, self.conv2, self.conv3, self.conv4, self.conv5], 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.lrelu(self.conv1(x))
        x2 = self.lrelu(self.conv2(torch.cat((x, x1), 1)))
        x3 = self.lrelu(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = self.lrelu(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))
        return x5 * 0.2 + x


class RRDB(nn.Module):
    """Residual-in-residual dense block: three RDBs with a 0.2-scaled outer residual."""

    def __init__(self, num_feat: int, num_grow_ch: int = 32):
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.rdb3(self.rdb2(self.rdb1(x)))
        return out * 0.2 + x


@ARCHS.register("rrdbnet", kind="generator")
class RRDBNet(nn.Module):
    """ESRGAN generator; maps (N, C, h, w) in [0, 1] to (N, C, h*scale, w*scale)."""

    supported_scales = tuple(sorted(_LAYOUTS))

    @staticmethod
    def input_multiple(scale: int) -> int:
        """LR sides must be multiples of the pixel-unshuffle factor (2 at x2, 4 at x1)."""
        return _LAYOUTS[scale][1]

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, scale: int = 4, num_feat: int = 64,
                 num_block: int = 23, num_grow_ch: int = 32):
        super().__init__()
        check_scale("rrdbnet", RRDBNet, scale)
        self.scale = scale
        self.up_factors, self.unshuffle = _LAYOUTS[scale]
        self.conv_first = nn.Conv2d(num_in_ch * self.unshuffle ** 2, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*[RRDB(num_feat, num_grow_ch) for _ in range(num_block)])
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        for i in range(len(self.up_factors)):
            setattr(self, f"conv_up{i + 1}", nn.Conv2d(num_feat, num_feat, 3, 1, 1))
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.unshuffle > 1:
            if x.shape[-1] % self.unshuffle or x.shape[-2] % self.unshuffle:
                raise ValueError(f"rrdbnet x{self.scale} needs input height and width divisible by "
                                 f"{self.unshuffle}; got {tuple(x.shape[-2:])}")
            x = F.pixel_unshuffle(x, self.unshuffle)
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        for i, factor in enumerate(self.up_factors):
            conv = getattr(self, f"conv_up{i + 1}")
            feat = self.lrelu(conv(F.interpolate(feat, scale_factor=factor, mode="nearest")))
        return self.conv_last(self.lrelu(self.conv_hr(feat)))
