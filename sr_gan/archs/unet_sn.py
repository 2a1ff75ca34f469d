"""Real-ESRGAN's U-Net discriminator with spectral norm: one realness score per pixel.

Per-pixel scores give the generator local feedback on texture, and spectral norm (on conv1..conv8,
as published; conv0 and the conv9 head are plain) keeps this deep discriminator Lipschitz-bounded
so it does not overpower the generator. Parameter names and the ``weight_orig``/``weight_u``/
``weight_v`` state-dict entries match Real-ESRGAN's ``UNetDiscriminatorSN``, so its weights load.
Inputs whose size is not a multiple of 8 work: each decoder upsampling interpolates to the size of
its skip tensor instead of a fixed factor 2 (identical to the published net for multiples of 8).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

from sr_gan.registry import ARCHS


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, negative_slope=0.2)


@ARCHS.register("unet_sn", kind="discriminator")
class UNetDiscriminatorSN(nn.Module):
    """forward(x) -> (N, 1, H, W) logits; with ``return_features`` also encoder/decoder maps."""

    returns_features = True      # feature matching may use it (sr_gan.archs contract)

    def __init__(self, num_in_ch: int = 3, num_feat: int = 64, skip_connection: bool = True):
        super().__init__()
        self.skip_connection = skip_connection
        sn = spectral_norm
        self.conv0 = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
        # encoder
        self.conv1 = sn(nn.Conv2d(num_feat, num_feat * 2, 4, 2, 1, bias=False))
        self.conv2 = sn(nn.Conv2d(num_feat * 2, num_feat * 4, 4, 2, 1, bias=False))
        self.conv3 = sn(nn.Conv2d(num_feat * 4, num_feat * 8, 4, 2, 1, bias=False))
        # decoder
        self.conv4 = sn(nn.Conv2d(num_feat * 8, num_feat * 4, 3, 1, 1, bias=False))
        self.conv5 = sn(nn.Conv2d(num_feat * 4, num_feat * 2, 3, 1, 1, bias=False))
        self.conv6 = sn(nn.Conv2d(num_feat * 2, num_feat, 3, 1, 1, bias=False))
        # head
        self.conv7 = sn(nn.Conv2d(num_feat, num_feat, 3, 1, 1, bias=False))
        self.conv8 = sn(nn.Conv2d(num_feat, num_feat, 3, 1, 1, bias=False))
        self.conv9 = nn.Conv2d(num_feat, 1, 3, 1, 1)

    def _up(self, x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)

    def forward(self, x: torch.Tensor, return_features: bool = False):
        x0 = _lrelu(self.conv0(x))
        x1 = _lrelu(self.conv1(x0))
        x2 = _lrelu(self.conv2(x1))
        x3 = _lrelu(self.conv3(x2))
        x4 = _lrelu(self.conv4(self._up(x3, x2)))
        if self.skip_connection:
            x4 = x4 + x2
        x5 = _lrelu(self.conv5(self._up(x4, x1)))
        if self.skip_connection:
            x5 = x5 + x1
        x6 = _lrelu(self.conv6(self._up(x5, x0)))
        if self.skip_connection:
            x6 = x6 + x0
        out = _lrelu(self.conv8(_lrelu(self.conv7(x6))))
        logits = self.conv9(out)
        return (logits, [x1, x2, x3, x4, x5, x6]) if return_features else logits
