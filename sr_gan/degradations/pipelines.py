"""Degradation pipelines: HR batch -> (LR, HR, HR-USM) on the batch's device, registered by name.

A pipeline is a dataclass whose fields are the YAML keys of the `degradation:` section (so the option
schema reads names, types and defaults from its signature); `scale` is injected. Calling it with an
HR batch and a generator from `degradation_generator(seed, iteration, rank)` returns `Degraded`.
(No `from __future__ import annotations` here: the schema needs the annotations as real types.)
"""
from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import OptionError
from ..registry import DEGRADATIONS
from . import checks
from .jpeg import jpeg
from .kernels import KERNEL_TYPES
from .ops import blur, gaussian_noise, poisson_noise, quantize8, resize
from .pool import TrainingPairPool
from .sampler import Noise, sample_realesrgan
from .usm import usm_sharp

ALL_KERNELS = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso")
DEFAULT_KERNEL_PROB = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)


@dataclass
class Degraded:
    """A degraded batch: lr (N, 3, h, w) on the 8-bit grid, hr and hr_usm (N, 3, h*scale, w*scale)
    cropped alike, and params: one JSON-able dict per sample of everything that was drawn."""
    lr: Tensor
    hr: Tensor
    hr_usm: Tensor
    params: list


def crop_batch(x: Tensor, top: Tensor, left: Tensor, size: int) -> Tensor:
    """Per-sample crops x[i, :, top[i]:top[i]+size, left[i]:left[i]+size] in one gather."""
    n = x.shape[0]
    ar = torch.arange(size, device=x.device)
    rows = (top.to(x.device).view(n, 1) + ar).view(n, size, 1)
    cols = (left.to(x.device).view(n, 1) + ar).view(n, 1, size)
    idx = torch.arange(n, device=x.device).view(n, 1, 1)
    return x.permute(0, 2, 3, 1)[idx, rows, cols].permute(0, 3, 1, 2).contiguous()


def add_noise(img: Tensor, noise: Noise, generator: torch.Generator) -> Tensor:
    """The batch's drawn noise (Gaussian or Poisson, per-sample strength and grey flag), clamped to [0, 1]."""
    if noise.kind == "gaussian":
        return gaussian_noise(img, noise.strength, noise.gray, generator)
    return poisson_noise(img, noise.strength, noise.gray, generator)


def _resize_to(img: Tensor, size: tuple[int, int], mode: str) -> Tensor:
    """Resize to `size`; a no-op when the size already matches (F.interpolate is then the identity)."""
    return img if tuple(img.shape[-2:]) == tuple(size) else resize(img, size=size, mode=mode)


def _check_kernels(o, suffix: str) -> None:
    names = checks.names(f"kernel_list{suffix}", getattr(o, f"kernel_list{suffix}"), ALL_KERNELS)
    setattr(o, f"kernel_list{suffix}", names)
    setattr(o, f"kernel_prob{suffix}", checks.probs(f"kernel_prob{suffix}", getattr(o, f"kernel_prob{suffix}"), len(names)))
    checks.prob(f"sinc_prob{suffix}", getattr(o, f"sinc_prob{suffix}"))
    setattr(o, f"blur_sigma{suffix}", checks.value_range(f"blur_sigma{suffix}", getattr(o, f"blur_sigma{suffix}"), lo=1e-3))
    for key in (f"betag_range{suffix}", f"betap_range{suffix}"):
        setattr(o, key, checks.value_range(key, getattr(o, key), lo=1e-3, around_one=True))
    checks.odd_size(f"blur_kernel_size{suffix}", getattr(o, f"blur_kernel_size{suffix}"), 7, 21)


def _check_stage(o, suffix: str) -> None:
    setattr(o, f"resize_prob{suffix}", checks.probs(f"resize_prob{suffix}", getattr(o, f"resize_prob{suffix}"), 3))
    setattr(o, f"resize_range{suffix}",
            checks.value_range(f"resize_range{suffix}", getattr(o, f"resize_range{suffix}"), lo=1e-3, hi=16, around_one=True))
    checks.prob(f"gaussian_noise_prob{suffix}", getattr(o, f"gaussian_noise_prob{suffix}"))
    setattr(o, f"noise_range{suffix}", checks.value_range(f"noise_range{suffix}", getattr(o, f"noise_range{suffix}"), lo=0, hi=255))
    setattr(o, f"poisson_scale_range{suffix}",
            checks.value_range(f"poisson_scale_range{suffix}", getattr(o, f"poisson_scale_range{suffix}"), lo=0))
    checks.prob(f"gray_noise_prob{suffix}", getattr(o, f"gray_noise_prob{suffix}"))
    setattr(o, f"jpeg_range{suffix}", checks.value_range(f"jpeg_range{suffix}", getattr(o, f"jpeg_range{suffix}"), lo=1, hi=100))


@DEGRADATIONS.register("realesrgan")
@dataclass
class RealESRGANDegradation:
    """Real-ESRGAN's second-order degradation (Wang et al., ICCVW 2021), keys and defaults of its
    train_realesrgan_x4plus.yml. HR is unsharp-masked first (usm) and degraded: blur, resize, noise,
    JPEG; second blur (second_blur_prob), resize, noise; then [resize to HR/scale + final sinc] and
    [JPEG] in random order; clamp and round to 8 bits; random crop of gt_size (HR pixels, per sample).
    queue_size is the training-pair pool that mixes batches (0 = off; see `make_pool`)."""
    scale: int = 4
    gt_size: int | None = 256
    usm: bool = True
    queue_size: int = 180
    kernel_list: list[str] = ALL_KERNELS
    kernel_prob: list[float] = DEFAULT_KERNEL_PROB
    sinc_prob: float = 0.1
    blur_sigma: list[float] = (0.2, 3.0)
    betag_range: list[float] = (0.5, 4.0)
    betap_range: list[float] = (1.0, 2.0)
    blur_kernel_size: int = 21
    kernel_list2: list[str] = ALL_KERNELS
    kernel_prob2: list[float] = DEFAULT_KERNEL_PROB
    sinc_prob2: float = 0.1
    blur_sigma2: list[float] = (0.2, 1.5)
    betag_range2: list[float] = (0.5, 4.0)
    betap_range2: list[float] = (1.0, 2.0)
    blur_kernel_size2: int = 21
    final_sinc_prob: float = 0.8
    resize_prob: list[float] = (0.2, 0.7, 0.1)
    resize_range: list[float] = (0.15, 1.5)
    gaussian_noise_prob: float = 0.5
    noise_range: list[float] = (1.0, 30.0)
    poisson_scale_range: list[float] = (0.05, 3.0)
    gray_noise_prob: float = 0.4
    jpeg_range: list[float] = (30.0, 95.0)
    second_blur_prob: float = 0.8
    resize_prob2: list[float] = (0.3, 0.4, 0.3)
    resize_range2: list[float] = (0.3, 1.2)
    gaussian_noise_prob2: float = 0.5
    noise_range2: list[float] = (1.0, 25.0)
    poisson_scale_range2: list[float] = (0.05, 2.5)
    gray_noise_prob2: float = 0.4
    jpeg_range2: list[float] = (30.0, 95.0)

    def __post_init__(self):
        checks.number("scale", self.scale, 1, 16, integer=True)
        self.gt_size = checks.gt_size(self.gt_size, self.scale)
        checks.flag("usm", self.usm)
        checks.number("queue_size", self.queue_size, 0, integer=True)
        for suffix in ("", "2"):
            _check_kernels(self, suffix)
            _check_stage(self, suffix)
        checks.prob("final_sinc_prob", self.final_sinc_prob)
        checks.prob("second_blur_prob", self.second_blur_prob)

    def make_pool(self) -> "TrainingPairPool | None":
        """The training-pair pool of `queue_size` pairs, or None when queue_size is 0."""
        return TrainingPairPool(self.queue_size) if self.queue_size else None

    def lr_size(self, hr: Tensor) -> tuple[int, int]:
        """(h, w) of the LR batch before the final crop, after checking the HR batch's size."""
        h, w = hr.shape[-2:]
        if self.gt_size is not None and (h < self.gt_size or w < self.gt_size):
            raise OptionError(f"degradation.gt_size: {self.gt_size} is larger than the HR batch ({h} x {w})")
        if self.gt_size is None and (h % self.scale or w % self.scale):
            raise OptionError(f"degradation.gt_size: HR batch {h} x {w} is not a multiple of scale {self.scale}; "
                              "set gt_size to crop")
        return h // self.scale, w // self.scale

    @torch.no_grad()
    def __call__(self, hr: Tensor, generator: torch.Generator) -> Degraded:
        n, _, h, w = hr.shape
        lr_size = self.lr_size(hr)
        p = sample_realesrgan(self, n, lr_size, generator)
        dev, dt = hr.device, hr.dtype
        noise_gen = torch.Generator(device=dev).manual_seed(p.noise_seed)
        hr_usm = usm_sharp(hr) if self.usm else hr
        # first order
        out = blur(hr_usm, p.kernel1.build(self.blur_kernel_size, dt, dev), sizes=p.kernel1.sizes)
        if p.resize1.factor != 1.0:
            out = resize(out, scale_factor=p.resize1.factor, mode=p.resize1.mode)
        out = add_noise(out, p.noise1, noise_gen)
        out = jpeg(out, p.jpeg1)
        # second order
        if p.second_blur:
            out = blur(out, p.kernel2.build(self.blur_kernel_size2, dt, dev), sizes=p.kernel2.sizes)
        size2 = (int(h / self.scale * p.resize2.factor), int(w / self.scale * p.resize2.factor))
        out = _resize_to(out, size2, p.resize2.mode)
        out = add_noise(out, p.noise2, noise_gen)
        # [resize back + final sinc] and JPEG, in the drawn order
        sinc = p.final_sinc.build(self.blur_kernel_size, dt, dev)
        if p.sinc_first:
            out = blur(_resize_to(out, lr_size, p.final_mode), sinc, sizes=p.final_sinc.sizes)
            out = jpeg(out, p.jpeg2)
        else:
            out = jpeg(out, p.jpeg2)
            out = blur(_resize_to(out, lr_size, p.final_mode), sinc, sizes=p.final_sinc.sizes)
        lr = quantize8(out)
        if self.gt_size is not None and (h, w) != (self.gt_size, self.gt_size):
            lp = self.gt_size // self.scale
            lr = crop_batch(lr, p.crop_top, p.crop_left, lp)
            top, left = p.crop_top * self.scale, p.crop_left * self.scale
            hr = crop_batch(hr, top, left, self.gt_size)
            hr_usm = crop_batch(hr_usm, top, left, self.gt_size) if self.usm else hr
        return Degraded(lr.contiguous(), hr, hr_usm, p.describe())
