"""Initialisation helpers shared by the generators (BasicSR's ``arch_util`` conventions).

Kept here so that checkpoints trained with this code and with BasicSR start from the same
distribution: residual branches scaled by 0.1 start close to identity, which is what lets deep
RRDB/ResNet trunks train without batch norm.
"""
from __future__ import annotations

from typing import Iterable, Union

import torch
from torch import nn


@torch.no_grad()
def default_init_weights(modules: Union[nn.Module, Iterable[nn.Module]], scale: float = 1.0, bias_fill: float = 0.0) -> None:
    """Kaiming-normal init of every Conv2d/Linear inside ``modules``, multiplied by ``scale``."""
    if isinstance(modules, nn.Module):
        modules = [modules]
    for module in modules:
        for m in module.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)
                m.weight.mul_(scale)
                if m.bias is not None:
                    m.bias.fill_(bias_fill)
            elif isinstance(m, nn.modules.batchnorm._BatchNorm):
                nn.init.constant_(m.weight, 1)
                if m.bias is not None:
                    m.bias.fill_(bias_fill)
