"""Batched degradation operations: resize, Gaussian and Poisson noise (blur: filters.py, JPEG: jpeg.py).

Each is a plain function of explicit per-sample parameters; randomness comes only from the
`generator` argument (or from noise tensors the caller passes), never from a global RNG.
Images are (N, C, H, W) float tensors in [0, 1] on any device.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


RESIZE_MODES = ("area", "bilinear", "bicubic")
# torchvision's rgb_to_grayscale weights, which Real-ESRGAN's batched grey Poisson noise uses
_GRAY = (0.2989, 0.587, 0.114)


def resize(img: Tensor, size: tuple[int, int] | None = None, scale_factor: float | None = None,
           mode: str = "bilinear") -> Tensor:
    """F.interpolate as Real-ESRGAN calls it: 'area' (adaptive average pooling), 'bilinear' or 'bicubic'
    (a = -0.75, half-pixel centres, no antialiasing, so bicubic may overshoot [0, 1])."""
    if mode not in RESIZE_MODES:
        raise ValueError(f"resize mode must be one of {RESIZE_MODES}, got {mode!r}")
    return F.interpolate(img, size=size, scale_factor=scale_factor, mode=mode)


def _per_sample(v, n: int, like: Tensor) -> Tensor:
    return torch.as_tensor(v, dtype=like.dtype).reshape(-1).expand(n).to(like.device).view(n, 1, 1, 1)


def _host_flags(v, n: int) -> Tensor:
    """Per-sample booleans on the host (a device tensor is copied back: one sync; the sampler's are CPU)."""
    return torch.as_tensor(v, dtype=torch.bool).reshape(-1).expand(n).cpu()


def gaussian_noise(img: Tensor, sigma, gray, generator: torch.Generator | None = None,
                   unit_noise: Tensor | None = None) -> Tensor:
    """clamp(img + n * sigma / 255, 0, 1) with n ~ N(0, 1) per pixel and channel; where gray[i], sample i
    gets one noise plane for all channels. sigma (on the 0..255 scale) and gray are per sample (gray is
    read on the host). The standard normals come from `generator` (on img's device) or are passed as
    `unit_noise` (img's shape; it is not modified)."""
    n = img.shape[0]
    if unit_noise is None:
        noise = torch.randn(img.shape, generator=generator, dtype=img.dtype, device=img.device)
    else:
        noise = unit_noise.to(img.dtype, copy=True)
    grey = _host_flags(gray, n).nonzero().view(-1).tolist()
    if grey:
        noise[grey, 1:] = noise[grey, :1]
    return noise.mul_(_per_sample(sigma, n, img)).div_(255).add_(img).clamp_(0, 1)


def mixed_gaussian_noise(img: Tensor, mix: Tensor, generator: torch.Generator | None = None,
                         unit_noise: Tensor | None = None) -> Tensor:
    """clamp(img + mix[i] @ z, 0, 1) per pixel, z ~ N(0, I_3): noise with covariance mix[i] mix[i]^T per
    sample (BSRGAN's colour, grey and cross-channel-correlated Gaussian noise are all such mixes:
    sigma I, sigma [1 0 0]^T broadcast, and L U^T sqrt(D)). mix: (N, 3, 3), on the 0..1 scale."""
    if unit_noise is None:
        unit_noise = torch.randn(img.shape, generator=generator, dtype=img.dtype, device=img.device)
    noise = torch.einsum("nij,njhw->nihw", mix.to(img), unit_noise)
    return (img + noise).clamp_(0, 1)


def quantize8(img: Tensor) -> Tensor:
    """Round to the 8-bit grid: clamp(round(img * 255), 0, 255) / 255 (ties to even, like torch.round)."""
    return (img * 255).round().clamp_(0, 255) / 255


def gray(img: Tensor) -> Tensor:
    """(N, 3, H, W) -> (N, 1, H, W) luma (torchvision's rgb_to_grayscale)."""
    w = torch.tensor(_GRAY, dtype=img.dtype, device=img.device).view(1, 3, 1, 1)
    return (img * w).sum(1, keepdim=True)


def poisson_levels(img8: Tensor) -> Tensor:
    """Real-ESRGAN's Poisson 'vals' per sample: the number of distinct 8-bit values in the sample
    (all channels), rounded up to a power of two. A presence table filled by index, so no per-sample
    loop and no device sync. img8: values on the 8-bit grid. Returns (N,) float."""
    n = img8.shape[0]
    codes = (img8.reshape(n, -1) * 255).round().long() + 256 * torch.arange(n, device=img8.device).view(-1, 1)
    present = torch.zeros(n * 256, dtype=torch.bool, device=img8.device)
    present.index_fill_(0, codes.reshape(-1), True)
    count = present.view(n, 256).sum(1)
    powers = 2 ** torch.arange(9, device=img8.device)                       # 1 .. 256
    return powers[(powers.view(1, -1) < count.view(-1, 1)).sum(1)].to(img8.dtype)


def _shot_noise(base8: Tensor, generator) -> Tensor:
    """poisson(base * vals) / vals - base, vals = poisson_levels(base) per sample."""
    vals = poisson_levels(base8).view(-1, 1, 1, 1)
    return torch.poisson(base8 * vals, generator=generator) / vals - base8


def poisson_noise(img: Tensor, scale, gray_noise, generator: torch.Generator | None = None) -> Tensor:
    """Real-ESRGAN's shot noise: r = img on the 8-bit grid, noise = (poisson(r * vals) / vals - r) * scale,
    result clamp(img + noise, 0, 1); for grey samples r is the luma and the noise is shared by all
    channels. scale per sample; gray_noise per sample, read on the host (it only selects which samples
    take which path, so colour samples draw 3 planes and grey ones 1: two groups, not a sample loop)."""
    n = img.shape[0]
    is_gray = _host_flags(gray_noise, n)
    noise = None
    for flag in (False, True):
        idx = (is_gray == flag).nonzero().view(-1)
        if idx.numel() == 0:
            continue
        part = img if idx.numel() == n else img.index_select(0, idx.to(img.device))
        shot = _shot_noise(quantize8(gray(part) if flag else part), generator)
        if idx.numel() == n:
            noise = shot.expand_as(img).contiguous() if flag else shot
        else:
            noise = torch.empty_like(img) if noise is None else noise
            noise.index_copy_(0, idx.to(img.device), shot.expand_as(part))
    return noise.mul_(_per_sample(scale, n, img)).add_(img).clamp_(0, 1)
