"""LPIPS (Zhang et al. 2018) through the ``lpips`` package, with the trunk weights loaded by sr_gan.

``lpips`` ships its calibrated linear heads but takes the AlexNet/VGG trunk from torchvision's
pretrained weights. We build the trunk random (``pnet_rand=True``, lpips fetches nothing) and load
the ImageNet weights ourselves through sr_gan.weights (hub cache, fetched on first use and
hash-checked) or from an explicit file, with strict key checks: a random trunk gives numbers that
look like LPIPS but mean nothing, so it must never be reported.
"""
from __future__ import annotations

import re
import warnings
from typing import Literal

import numpy as np
import torch

from sr_gan.errors import MissingWeightsError, OptionError
from sr_gan.metrics._common import as_float01
from sr_gan.registry import METRICS
from sr_gan.weights import weight_file

BACKBONES = {"alex": "alexnet", "vgg": "vgg16"}   # lpips net -> sr_gan.weights entry of its torchvision trunk
_LPIPS_HEADS = "{pkg}/weights/v0.1/{net}.pth"


def _trunk_state_dict(trunk: torch.nn.Module, torchvision_sd: dict) -> dict:
    """Rename torchvision ``features.<i>.*`` keys to lpips' ``slice<k>.<i>.*`` (same module indices)."""
    index_to_slice = {}
    for slice_name, block in trunk.named_children():
        for idx, _ in block.named_children():
            index_to_slice[idx] = slice_name
    out = {}
    for key, value in torchvision_sd.items():
        parts = key.split(".")
        if parts[0] == "features" and parts[1] in index_to_slice:
            out[".".join([index_to_slice[parts[1]], *parts[1:]])] = value
    return out


def build_lpips(net: str = "alex", backbone_path: str | None = None):
    """An eval-mode ``lpips.LPIPS`` with calibrated heads and ImageNet trunk, both loaded locally."""
    import lpips
    if net not in BACKBONES:
        raise OptionError(f"lpips net must be one of {', '.join(BACKBONES)}, got '{net}'")
    path = weight_file(BACKBONES[net], backbone_path, option="lpips backbone_path")
    with warnings.catch_warnings():  # lpips still calls tv.alexnet(pretrained=False)
        warnings.simplefilter("ignore", UserWarning)
        model = lpips.LPIPS(net=net, pretrained=False, pnet_rand=True, verbose=False)

    heads_path = _LPIPS_HEADS.format(pkg=lpips.__path__[0], net=net)
    heads = torch.load(heads_path, map_location="cpu", weights_only=True)
    # 'lins.<k>' aliases 'lin<k>' (same parameters), so only the lin<k> keys must be in the file
    needed = {k for k in model.state_dict() if re.match(r"lin\d", k)}
    _, unexpected = model.load_state_dict(heads, strict=False)
    if unexpected or not needed <= set(heads):
        raise MissingWeightsError(f"LPIPS heads '{heads_path}' do not match the lpips '{net}' model")

    torchvision_sd = torch.load(path, map_location="cpu", weights_only=True)
    trunk_sd = _trunk_state_dict(model.net, torchvision_sd)
    try:
        model.net.load_state_dict(trunk_sd, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise MissingWeightsError(f"'{path}' is not a torchvision {net} state dict ({first})") from None
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()


def _to_tensor(img, device: str) -> torch.Tensor:
    """numpy HWC [0,1] (or uint8) / torch CHW or NCHW [0,1] -> NCHW float in [-1, 1], 3 channels."""
    if isinstance(img, torch.Tensor):
        t = img.detach().float()
        t = t[None] if t.ndim == 3 else t
    else:
        arr = as_float01(img)
        arr = arr[:, :, None] if arr.ndim == 2 else arr
        t = torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1))).float()[None]
    if t.shape[1] == 1:
        t = t.expand(-1, 3, -1, -1)
    return t.to(device) * 2 - 1


@METRICS.register("lpips")
class LPIPS:
    """Per-image LPIPS distance (lower is better) between SR and HR; RGB, border cropped."""

    higher_is_better: bool = False
    needs_reference: bool = True

    def __init__(self, net: Literal["alex", "vgg"] = "alex", crop_border: int = 0, device: str = "cpu",
                 backbone_path: str | None = None):
        self.crop_border = int(crop_border)
        self.device = device
        self.model = build_lpips(net, backbone_path).to(device)

    @torch.no_grad()
    def __call__(self, sr, hr) -> float:
        a, b = _to_tensor(sr, self.device), _to_tensor(hr, self.device)
        if a.shape != b.shape:
            raise ValueError(f"image shapes differ: sr {tuple(a.shape)} vs hr {tuple(b.shape)}")
        c = self.crop_border
        if c:
            a, b = a[..., c:-c, c:-c], b[..., c:-c, c:-c]
        return float(self.model(a, b).mean())
