"""BasicSR's MSRResNet: SRResNet without batch norm, with a global bilinear residual.

The residual ``out += bilinear_upsample(x)`` means the trunk only learns the high-frequency
correction, so even a tiny net beats bicubic after a few hundred iterations.
Upsampling is sub-pixel (conv + PixelShuffle): x2/x3 one stage (``upconv1``), x4 two x2 stages
(``upconv1``, ``upconv2``), x8 three x2 stages (``upconv3`` added; not a BasicSR layout).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sr_gan.archs import check_scale
from sr_gan.archs._blocks import default_init_weights
from sr_gan.errors import OptionError
from sr_gan.registry import ARCHS

# scale -> pixel-shuffle factor of each upconv stage
_STAGES = {2: (2,), 3: (3,), 4: (2, 2), 8: (2, 2, 2)}


class ResidualBlockNoBN(nn.Module):
    """conv-ReLU-conv with identity skip; initialised at 0.1 scale so it starts near identity."""

    def __init__(self, num_feat: int = 64):
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.relu = nn.ReLU(inplace=True)
        default_init_weights([self.conv1, self.conv2], 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.relu(self.conv1(x)))


@ARCHS.register("msrresnet", kind="generator")
class MSRResNet(nn.Module):
    """Modified SRResNet; maps (N, C, h, w) in [0, 1] to (N, C, h*scale, w*scale)."""

    supported_scales = tuple(sorted(_STAGES))

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 64, num_block: int = 16,
                 scale: int = 4):
        super().__init__()
        check_scale("msrresnet", MSRResNet, scale)
        if num_in_ch != num_out_ch:
            raise OptionError(f"network_g.num_out_ch: msrresnet adds the upsampled input to its output, so it "
                              f"needs num_out_ch == num_in_ch; got {num_out_ch} vs {num_in_ch}")
        self.scale = scale
        self.conv_first = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*[ResidualBlockNoBN(num_feat) for _ in range(num_block)])
        self.stages = _STAGES[scale]
        upconvs = []
        for i, factor in enumerate(self.stages):
            conv = nn.Conv2d(num_feat, num_feat * factor * factor, 3, 1, 1)
            setattr(self, f"upconv{i + 1}", conv)
            upconvs.append(conv)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.1, inplace=True)
        default_init_weights([self.conv_first, *upconvs, self.conv_hr, self.conv_last], 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(self.lrelu(self.conv_first(x)))
        for i, factor in enumerate(self.stages):
            out = self.lrelu(F.pixel_shuffle(getattr(self, f"upconv{i + 1}")(out), factor))
        out = self.conv_last(self.lrelu(self.conv_hr(out)))
        return out + F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
