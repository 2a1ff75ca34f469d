"""pix2pix's N-layer PatchGAN discriminator: one realness score per overlapping patch.

Layout (pix2pix ``NLayerDiscriminator``, same ``model.{i}`` parameter names): a 4x4 stride-2 conv,
``num_layers - 1`` further 4x4 stride-2 conv-norm-LReLU, one 4x4 stride-1 conv-norm-LReLU and a 4x4
stride-1 conv to one channel. Each output logit sees a ``receptive_field`` x ``receptive_field``
input patch: 70 px for 3 layers (the "70x70 PatchGAN"), 34 for 2, 16 for 1.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import spectral_norm

from sr_gan.errors import OptionError
from sr_gan.registry import ARCHS

_NORMS = ("batch", "instance", "spectral", "none")


@ARCHS.register("patchgan", kind="discriminator")
class PatchGANDiscriminator(nn.Module):
    """forward(x) -> (N, 1, h', w') logits; with ``return_features`` also each LReLU output."""

    returns_features = True      # feature matching may use it (sr_gan.archs contract)

    def __init__(self, num_in_ch: int = 3, num_feat: int = 64, num_layers: int = 3, norm: str = "batch"):
        super().__init__()
        if norm not in _NORMS:
            raise OptionError(f"network_d.norm: patchgan supports {', '.join(_NORMS)}; got '{norm}'")
        if num_layers < 1:
            raise OptionError(f"network_d.num_layers: patchgan needs at least 1; got {num_layers}")
        wrap = spectral_norm if norm == "spectral" else (lambda m: m)
        use_bias = norm in ("instance", "none", "spectral")  # a conv before BN needs no bias

        def norm_layer(ch: int) -> list[nn.Module]:
            if norm == "batch":
                return [nn.BatchNorm2d(ch)]
            if norm == "instance":
                return [nn.InstanceNorm2d(ch)]
            return []

        layers: list[nn.Module] = [wrap(nn.Conv2d(num_in_ch, num_feat, 4, 2, 1)), nn.LeakyReLU(0.2, True)]
        mult = 1
        strides = [2]
        for n in range(1, num_layers + 1):
            prev, mult = mult, min(2 ** n, 8)
            stride = 2 if n < num_layers else 1
            layers += [wrap(nn.Conv2d(num_feat * prev, num_feat * mult, 4, stride, 1, bias=use_bias)),
                       *norm_layer(num_feat * mult), nn.LeakyReLU(0.2, True)]
            strides.append(stride)
        layers.append(wrap(nn.Conv2d(num_feat * mult, 1, 4, 1, 1)))
        strides.append(1)
        self.model = nn.Sequential(*layers)
        self.receptive_field = self._receptive_field(strides, kernel=4)

    @staticmethod
    def _receptive_field(strides: list[int], kernel: int) -> int:
        field = 1
        for stride in reversed(strides):
            field = (field - 1) * stride + kernel
        return field

    def forward(self, x: torch.Tensor, return_features: bool = False):
        features = []
        for layer in self.model:
            x = layer(x)
            if isinstance(layer, nn.LeakyReLU):
                features.append(x)
        return (x, features) if return_features else x
