"""What every batch augmentation shares: the result type, the LR/HR scale check, seeded draws
(scalars and permutations only, from a CPU generator, so CPU and CUDA runs draw the same values)
and the MATLAB-bicubic resize the paired dataset uses to make LR images."""
from __future__ import annotations

from typing import NamedTuple

import torch
from scipy.special import betaincinv
from torch import Tensor

from sr_gan.data.bicubic import resize_matrix
from sr_gan.errors import OptionError


class Augmented(NamedTuple):
    lr: Tensor
    hr: Tensor
    info: dict          # what was drawn (plain Python values), for logging and tests


def scale_of(lr: Tensor, hr: Tensor) -> int:
    """The integer factor s with hr's H x W = s * lr's H x W (batch sizes must match)."""
    if lr.dim() != 4 or hr.dim() != 4 or lr.shape[0] != hr.shape[0]:
        raise ValueError(f"expected N x C x H x W LR/HR batches of one size, got {tuple(lr.shape)} and {tuple(hr.shape)}")
    h, w = lr.shape[-2:]
    s = hr.shape[-2] // h
    if s < 1 or hr.shape[-2:] != (s * h, s * w):
        raise ValueError(f"HR {tuple(hr.shape[-2:])} is not an integer multiple of LR {tuple(lr.shape[-2:])}")
    return s


def uniform(generator: torch.Generator) -> float:
    return float(torch.rand((), generator=generator, dtype=torch.float64))


def normal(generator: torch.Generator, mean: float, std: float) -> float:
    return mean + std * float(torch.randn((), generator=generator, dtype=torch.float64))


def randint(generator: torch.Generator, low: int, high: int) -> int:
    """Uniform integer in [low, high] (both included)."""
    return int(torch.randint(low, high + 1, (), generator=generator))


def beta(generator: torch.Generator, a: float, b: float) -> float:
    """Beta(a, b) by inversion of one uniform draw (torch's Beta sampler takes no generator)."""
    return float(betaincinv(a, b, uniform(generator)))


def permutation(generator: torch.Generator, n: int, device) -> Tensor:
    """Partner of each image (torch.randperm, as the papers' code: an image may draw itself)."""
    return torch.randperm(n, generator=generator).to(device)


def draw_box(generator: torch.Generator, h: int, w: int, ratio: float) -> tuple[int, int, int, int]:
    """(top, left, height, width) of a box with sides int(ratio * side), placed uniformly inside."""
    ratio = min(max(ratio, 0.0), 1.0)
    bh, bw = int(h * ratio), int(w * ratio)
    return randint(generator, 0, h - bh), randint(generator, 0, w - bw), bh, bw


def resize(x: Tensor, out_h: int, out_w: int) -> Tensor:
    """MATLAB-bicubic (antialiased) resize of an N x C x H x W batch to out_h x out_w."""
    h, w = x.shape[-2:]
    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    mh = torch.as_tensor(resize_matrix(h, out_h, out_h / h, True), dtype=dtype, device=x.device)
    mw = torch.as_tensor(resize_matrix(w, out_w, out_w / w, True), dtype=dtype, device=x.device)
    return (mh @ x.to(dtype) @ mw.t()).to(x.dtype)


def check_ratio(key: str, value: float, low: float = 0.0, high: float = 1.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise OptionError(f"{key}: expected a number in [{low:g}, {high:g}], got {value!r}")
    return float(value)
