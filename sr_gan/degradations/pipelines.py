"""Degradation pipelines: HR batch -> (LR, HR, HR-USM) on the batch's device, registered by name.

A pipeline is a dataclass whose fields are the YAML keys of the `degradation:` section (so the option
schema reads names, types and defaults from its signature); `scale` is injected. Calling it with an
HR batch and a generator from `degradation_generator(seed, iteration, rank)` returns `Degraded`.
(No `from __future__ import annotations` here: the schema needs the annotations as real types.)
"""
from dataclasses import dataclass

import torch
from torch import Tensor

from ..data.bicubic import imresize_torch
from ..errors import OptionError
from ..registry import DEGRADATIONS
from . import checks
from .filters import blur, blur_conv
from .jpeg import jpeg
from .kernels import shifted_gaussian_kernels
from .ops import gaussian_noise, mixed_gaussian_noise, poisson_noise, quantize8, resize
from .pool import TrainingPairPool
from .sampler import Noise, degradation_generator, sample_bsrgan, sample_realesrgan
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
    """Per-sample crops x[i, :, top[i]:top[i]+size, left[i]:left[i]+size] (corners on the host), stacked:
    one copy of the crops, ~15x faster than a gather of the same pixels."""
    corners = zip(torch.as_tensor(top).tolist(), torch.as_tensor(left).tolist())
    return torch.stack([x[i, :, t:t + size, l:l + size] for i, (t, l) in enumerate(corners)])


def lr_size(hr: Tensor, scale: int, gt_size: "int | None") -> tuple[int, int]:
    """(h, w) of the LR batch before the final crop, after checking the HR batch's size."""
    if hr.ndim != 4 or hr.shape[1] != 3 or not hr.is_floating_point():
        raise ValueError(f"degradations take an (N, 3, H, W) float batch in [0, 1], got {tuple(hr.shape)} {hr.dtype}")
    h, w = hr.shape[-2:]
    if gt_size is not None and (h < gt_size or w < gt_size):
        raise OptionError(f"degradation.gt_size: {gt_size} is larger than the HR batch ({h} x {w})")
    if gt_size is None and (h % scale or w % scale):
        raise OptionError(f"degradation.gt_size: HR batch {h} x {w} is not a multiple of scale {scale}; set gt_size to crop")
    return h // scale, w // scale


def finish(lr: Tensor, hr: Tensor, hr_usm: Tensor, p, scale: int, gt_size: "int | None") -> Degraded:
    """The per-sample final crop (LR patch gt_size // scale at the drawn corner, HR at scale times it)."""
    if gt_size is not None and tuple(hr.shape[-2:]) != (gt_size, gt_size):
        lp = gt_size // scale
        lr = crop_batch(lr, p.crop_top, p.crop_left, lp)
        top, left = p.crop_top * scale, p.crop_left * scale
        same = hr_usm is hr
        hr = crop_batch(hr, top, left, gt_size)
        hr_usm = hr if same else crop_batch(hr_usm, top, left, gt_size)
    return Degraded(lr.contiguous(), hr, hr_usm, p.describe())


def degrade_step(pipeline, hr: Tensor, seed: int, iteration: int, rank: int = 0,
                 pool: "TrainingPairPool | None" = None) -> Degraded:
    """One training step's degradation: `pipeline` on the generator of (seed, iteration, rank), then the
    pool (drawing from the same generator) and the USM of the pooled HR (Real-ESRGAN re-sharpens after
    its pool). `params` still describes the freshly degraded batch. For a fixed validation set, call it
    with a fixed seed and the image index as `iteration`: the same LR at every validation."""
    gen = degradation_generator(seed, iteration, rank)
    out = pipeline(hr, gen)
    if pool is None:
        return out
    lr, hr = pool(out.lr, out.hr, gen)
    return Degraded(lr, hr, usm_sharp(hr) if pipeline.usm else hr, out.params)


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
    [JPEG] in random order; clamp and round to 8 bits; random crop of gt_size (HR pixels, per sample;
    null = no crop). blur_kernel_size(2): the largest kernel, sizes drawn from the odd 7..it (Real-ESRGAN
    reads the key but hard-codes 7..21, the default). queue_size is the training-pair pool that mixes
    batches (0 = off; see `make_pool`; Real-ESRGAN's top-level key, kept with the pipeline's options).

    Same distributions as BasicSR 1.4.2; where the implementation differs, on purpose: JPEG is libjpeg's
    codec bit for bit (DiffJPEG is 34-40 dB away from it) at the drawn quality rounded to an integer;
    grey Gaussian noise is drawn per sample (BasicSR draws one grey plane for the whole batch); the
    final crop is per sample (BasicSR: one corner per batch); hr_usm is the crop of the sharpened full
    input (BasicSR re-sharpens the crop; degrade_step does too after the pool)."""
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
        return lr_size(hr, self.scale, self.gt_size)

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
        return finish(quantize8(out), hr, hr_usm, p, self.scale, self.gt_size)


@DEGRADATIONS.register("bsrgan")
@dataclass
class BSRGANDegradation:
    """BSRGAN's degradation (Zhang et al., ICCV 2021; KAIR utils_blindsr.degradation_bsrgan), batched:
    for x4, with probability scale2_prob first halve (antialiased MATLAB bicubic or an F.interpolate
    mode, 1/2 each); then in a random order per batch (downsample2 kept before downsample3): two blurs
    (isotropic or anisotropic Gaussian per sample), downsample2 (resize by 1/U(1, 2 sf), or with
    probability downsample_blur_prob a shifted Gaussian blur + nearest subsampling by sf), downsample3
    (resize to HR/scale), Gaussian noise (level ~ randint(noise_range), colour / grey / cross-channel
    correlated with probabilities 0.4 / 0.4 / 0.2), JPEG (with probability jpeg_prob); a final JPEG;
    8-bit rounding; random crop of gt_size. Per sample: kernels, noise, JPEG; per batch: order and sizes.
    Simplifications against KAIR: the camera-ISP noise step is left out (it needs a trained ISP model);
    resizes are F.interpolate (cv2's INTER_AREA differs on fractional factors); the correlated noise's
    covariance is L^2 U^T D U without KAIR's element-wise abs (which can make it indefinite); the
    shifted kernel is evaluated at the shifted grid instead of interpolated; sigmas are floored at 1e-3.
    usm sharpens HR before degrading it and is returned as hr_usm (BSRGAN itself does not; off)."""
    scale: int = 4
    gt_size: int | None = 256
    usm: bool = False
    queue_size: int = 0
    scale2_prob: float = 0.25
    downsample_blur_prob: float = 0.25
    noise_range: list[int] = (2, 25)
    jpeg_range: list[int] = (30, 95)
    jpeg_prob: float = 0.9

    def __post_init__(self):
        checks.number("scale", self.scale, 1, 16, integer=True)
        self.gt_size = checks.gt_size(self.gt_size, self.scale)
        checks.flag("usm", self.usm)
        checks.number("queue_size", self.queue_size, 0, integer=True)
        checks.prob("scale2_prob", self.scale2_prob)
        checks.prob("downsample_blur_prob", self.downsample_blur_prob)
        self.noise_range = checks.value_range("noise_range", self.noise_range, lo=0, hi=255, integer=True)
        self.jpeg_range = checks.value_range("jpeg_range", self.jpeg_range, lo=1, hi=100, integer=True)
        checks.prob("jpeg_prob", self.jpeg_prob)

    make_pool = RealESRGANDegradation.make_pool

    @torch.no_grad()
    def __call__(self, hr: Tensor, generator: torch.Generator) -> Degraded:
        n, _, h, w = hr.shape
        size = lr_size(hr, self.scale, self.gt_size)
        p = sample_bsrgan(self, n, size, generator)
        dev, dt = hr.device, hr.dtype
        noise_gen = torch.Generator(device=dev).manual_seed(p.noise_seed)
        hr_usm = usm_sharp(hr) if self.usm else hr
        out, sf = hr_usm, self.scale
        if p.halve:
            sf = 2
            if p.halve_mode == "matlab":
                out = imresize_torch(out, 0.5).clamp(0, 1)
            else:
                out = resize(out, size=(int(1 / 2 * out.shape[-2]), int(1 / 2 * out.shape[-1])), mode=p.halve_mode).clamp(0, 1)
        for op in p.order:
            if op in ("blur1", "blur2"):
                k = p.kernel1 if op == "blur1" else p.kernel2
                out = blur(out, k.build(25, dt, dev), sizes=k.sizes)
            elif op == "downsample2":
                if p.down2_resize:
                    f = p.down2_factor
                    out = resize(out, size=(int(1 / f * out.shape[-2]), int(1 / f * out.shape[-1])), mode=p.down2_mode)
                else:
                    k = shifted_gaussian_kernels(p.down2_sigma, 25, (sf - 1) / 2, dt).to(dev)
                    out = blur_conv(out, k, stride=sf)
                out = out.clamp(0, 1)
            elif op == "downsample3":                          # to HR / scale (KAIR: size before
                out = _resize_to(out, size, p.down3_mode).clamp(0, 1)  # downsample2 / sf, the same here)
            elif op == "noise":
                out = mixed_gaussian_noise(out, p.noise_mix.to(dt), noise_gen)
            elif op == "jpeg":
                apply = p.jpeg_apply.to(dev).view(n, 1, 1, 1)
                out = torch.where(apply, jpeg(out, p.jpeg_quality), out) if bool(p.jpeg_apply.any()) else out
        out = jpeg(out, p.final_quality)
        return finish(quantize8(out), hr, hr_usm, p, self.scale, self.gt_size)
