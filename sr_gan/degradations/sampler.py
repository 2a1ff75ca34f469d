"""Every random choice of a degradation batch, drawn at once from one seeded generator.

`degradation_generator(seed, iteration, rank)` makes the generator, so a batch's degradation is a pure
function of (seed, iteration, rank): exact resume needs no saved RNG state. Parameters are drawn on
the CPU (a few hundred numbers) in a fixed order that does not depend on earlier draws, so the stream
is the same whatever branch a batch takes; the per-pixel noise comes from a device generator seeded by
`noise_seed`, one of the drawn numbers.

Reproducibility: the same (seed, iteration, rank), options and input give bit-identical parameters on
every machine, and bit-identical images on the same device type and library versions (on CUDA with
deterministic cuDNN algorithms, as bit-exact training needs anyway: the grouped-convolution blur is a
cuDNN call). CPU and CUDA results differ: their per-pixel noise streams differ (torch draws normals and
Poisson variates differently per device) and float sums (blur, resize, USM) round differently. The
JPEG step is exact integer arithmetic, identical everywhere for the same input.

The distributions are Real-ESRGAN's (basicsr/data/realesrgan_dataset.py and
basicsr/models/realesrgan_model.py), per sample where Real-ESRGAN draws per sample (kernels, noise
sigmas/scales, grey flags, JPEG qualities) and per batch where it draws per batch (resize direction,
scale and mode, noise type, second blur, final order), except the final crop, drawn per sample here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .kernels import GAUSSIAN, KERNEL_TYPES, PLATEAU, PULSE, SINC, mixed_kernels
from .ops import RESIZE_MODES

RESIZE_TYPES = ("up", "down", "keep")


def degradation_generator(seed: int, iteration: int, rank: int = 0) -> torch.Generator:
    """A CPU generator for one batch: numpy's SeedSequence hashes (seed, iteration, rank) into a 63-bit
    seed, so neighbouring iterations and ranks get unrelated streams."""
    words = [int(v) & (2 ** 64 - 1) for v in (seed, iteration, rank)]
    state = np.random.SeedSequence(words).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state) & (2 ** 63 - 1))


class Draw:
    """Vectorised draws from one CPU generator (float64)."""

    def __init__(self, generator: torch.Generator):
        self.g = generator

    def uniform(self, n: int, lo: float, hi: float) -> Tensor:
        return lo + (hi - lo) * torch.rand(n, generator=self.g, dtype=torch.float64)

    def bernoulli(self, n: int, p: float) -> Tensor:
        return torch.rand(n, generator=self.g, dtype=torch.float64) < p

    def choice(self, n: int, probs) -> Tensor:
        """Indices drawn with the given (non-negative) weights, like random.choices."""
        w = torch.as_tensor(probs, dtype=torch.float64)
        return torch.multinomial(w, n, replacement=True, generator=self.g)

    def randint(self, n: int, lo: int, hi: int) -> Tensor:
        """Integers in [lo, hi], both inclusive (random.randint)."""
        return torch.randint(lo, hi + 1, (n,), generator=self.g)

    def seed(self) -> int:
        return int(torch.randint(0, 2 ** 62, (1,), generator=self.g))


@dataclass
class KernelParams:
    """One blur kernel per sample: family code (kernels.GAUSSIAN...PULSE), odd size and shape parameters
    (CPU tensors of length N); `names` are the kernel_list names for the JSON description."""
    kinds: Tensor
    sizes: Tensor
    sigma_x: Tensor
    sigma_y: Tensor
    theta: Tensor
    beta: Tensor
    omega_c: Tensor
    names: list[str]

    def build(self, pad_to: int, dtype=torch.float32, device=None) -> Tensor:
        k = mixed_kernels(self.kinds, self.sizes, self.sigma_x, self.sigma_y, self.theta, self.beta,
                          self.omega_c, pad_to, dtype)
        return k.to(device)

    def describe(self, i: int) -> dict:
        name, kind = self.names[i], int(self.kinds[i])
        out = {"type": name}
        if kind == PULSE:
            return out
        out["size"] = int(self.sizes[i])
        if kind == SINC:
            out["omega_c"] = float(self.omega_c[i])
            return out
        out["sigma_x"] = float(self.sigma_x[i])
        if not KERNEL_TYPES[name][1]:
            out.update(sigma_y=float(self.sigma_y[i]), theta=float(self.theta[i]))
        if kind != GAUSSIAN:
            out["beta"] = float(self.beta[i])
        return out


def kernel_sizes(max_size: int) -> list[int]:
    """Real-ESRGAN's kernel_range: odd sizes from 7 to max_size (21)."""
    return list(range(7, max_size + 1, 2))


def sample_kernels(d: Draw, n: int, kernel_list, kernel_prob, sinc_prob: float, blur_sigma, betag_range,
                   betap_range, max_size: int) -> KernelParams:
    """RealESRGANDataset's kernel draw: a size from kernel_sizes, then with probability sinc_prob a sinc
    with omega_c ~ U(pi/3, pi) (size < 13) or U(pi/5, pi), else random_mixed_kernels: a type by
    kernel_prob, sigma_x (and for anisotropic types sigma_y, theta ~ U(-pi, pi)) ~ U(blur_sigma), beta
    ~ U(lo, 1) or U(1, hi) with probability 1/2 each (betag_range for generalized, betap_range for plateau)."""
    sizes = torch.tensor(kernel_sizes(max_size))[d.randint(n, 0, len(kernel_sizes(max_size)) - 1)]
    is_sinc = d.bernoulli(n, sinc_prob)
    omega = torch.where(sizes < 13, d.uniform(n, math.pi / 3, math.pi), d.uniform(n, math.pi / 5, math.pi))
    type_idx = d.choice(n, kernel_prob)
    sx, sy = d.uniform(n, *blur_sigma), d.uniform(n, *blur_sigma)
    theta = d.uniform(n, -math.pi, math.pi)
    low_half = d.bernoulli(n, 0.5)
    bg = torch.where(low_half, d.uniform(n, betag_range[0], 1), d.uniform(n, 1, betag_range[1]))
    bp = torch.where(low_half, d.uniform(n, betap_range[0], 1), d.uniform(n, 1, betap_range[1]))
    fam = torch.tensor([KERNEL_TYPES[k][0] for k in kernel_list])[type_idx]
    iso = torch.tensor([KERNEL_TYPES[k][1] for k in kernel_list])[type_idx]
    sy = torch.where(iso, sx, sy)
    theta = torch.where(iso, torch.zeros_like(theta), theta)
    beta = torch.where(fam == GAUSSIAN, torch.ones_like(bg), torch.where(fam == PLATEAU, bp, bg))
    kinds = torch.where(is_sinc, torch.full_like(fam, SINC), fam)
    names = ["sinc" if s else kernel_list[t] for s, t in zip(is_sinc.tolist(), type_idx.tolist())]
    return KernelParams(kinds, sizes, sx, sy, theta, beta, omega, names)


def sample_final_sinc(d: Draw, n: int, final_sinc_prob: float, max_size: int) -> KernelParams:
    """The final sinc of RealESRGANDataset: with probability final_sinc_prob a sinc of a random size with
    omega_c ~ U(pi/3, pi), else the pulse (identity)."""
    sizes = torch.tensor(kernel_sizes(max_size))[d.randint(n, 0, len(kernel_sizes(max_size)) - 1)]
    use = d.bernoulli(n, final_sinc_prob)
    omega = d.uniform(n, math.pi / 3, math.pi)
    kinds = torch.where(use, torch.tensor(SINC), torch.tensor(PULSE))
    sizes = torch.where(use, sizes, torch.ones_like(sizes))        # a pulse is a 1 x 1 identity
    zeros = torch.zeros(n, dtype=torch.float64)
    return KernelParams(kinds, sizes, zeros + 1, zeros + 1, zeros, zeros + 1, omega,
                        ["sinc" if u else "pulse" for u in use.tolist()])


@dataclass
class Resize:
    """One batch-level resize: direction, factor (relative, as Real-ESRGAN's) and interpolation mode."""
    direction: str
    factor: float
    mode: str

    def describe(self) -> dict:
        return {"direction": self.direction, "factor": self.factor, "mode": self.mode}


def sample_resize(d: Draw, resize_prob, resize_range) -> Resize:
    """up/down/keep by resize_prob; factor ~ U(1, hi) up, U(lo, 1) down, 1 keep; mode uniform of 3."""
    direction = RESIZE_TYPES[int(d.choice(1, resize_prob))]
    up, down = float(d.uniform(1, 1, resize_range[1])), float(d.uniform(1, resize_range[0], 1))
    mode = RESIZE_MODES[int(d.randint(1, 0, 2))]
    return Resize(direction, {"up": up, "down": down, "keep": 1.0}[direction], mode)


@dataclass
class Noise:
    """One batch's noise: its type (per batch) and per-sample strength and grey flag."""
    kind: str                 # 'gaussian' | 'poisson'
    strength: Tensor          # sigma (0..255 scale) or Poisson scale, per sample
    gray: Tensor              # bool per sample

    def describe(self, i: int) -> dict:
        key = "sigma" if self.kind == "gaussian" else "scale"
        return {"type": self.kind, key: float(self.strength[i]), "gray": bool(self.gray[i])}


def sample_noise(d: Draw, n: int, gaussian_prob: float, noise_range, poisson_scale_range, gray_prob: float) -> Noise:
    """Gaussian with probability gaussian_prob (sigma ~ U(noise_range)) else Poisson (scale ~
    U(poisson_scale_range)), grey per sample with probability gray_prob."""
    gaussian = bool(d.bernoulli(1, gaussian_prob))
    sigma, scale = d.uniform(n, *noise_range), d.uniform(n, *poisson_scale_range)
    gray = d.bernoulli(n, gray_prob)
    return Noise("gaussian" if gaussian else "poisson", sigma if gaussian else scale, gray)


@dataclass
class RealESRGANParams:
    """Everything random about one batch of the `realesrgan` pipeline (CPU tensors, per sample)."""
    kernel1: KernelParams
    kernel2: KernelParams
    final_sinc: KernelParams
    resize1: Resize
    noise1: Noise
    jpeg1: Tensor
    second_blur: bool
    resize2: Resize
    noise2: Noise
    jpeg2: Tensor
    sinc_first: bool          # final stage: [resize back + sinc] then JPEG (True), or JPEG first
    final_mode: str
    crop_top: Tensor | None   # LR coordinates of the final crop, per sample
    crop_left: Tensor | None
    noise_seed: int = 0

    def describe(self) -> list[dict]:
        """A JSON-able description per sample (batch-level choices repeated in each)."""
        out = []
        for i in range(len(self.jpeg1)):
            s = {"blur1": self.kernel1.describe(i), "resize1": self.resize1.describe(),
                 "noise1": self.noise1.describe(i), "jpeg1": float(self.jpeg1[i]),
                 "blur2": self.kernel2.describe(i) if self.second_blur else None,
                 "resize2": self.resize2.describe(), "noise2": self.noise2.describe(i),
                 "final_order": "resize+sinc, jpeg" if self.sinc_first else "jpeg, resize+sinc",
                 "final_mode": self.final_mode, "final_sinc": self.final_sinc.describe(i),
                 "jpeg2": float(self.jpeg2[i])}
            if self.crop_top is not None:
                s["crop_lr"] = [int(self.crop_top[i]), int(self.crop_left[i])]
            out.append(s)
        return out


def sample_realesrgan(opt, n: int, lr_size: tuple[int, int], generator: torch.Generator) -> RealESRGANParams:
    """Draw one batch's parameters. `opt` carries the pipeline's options (RealESRGANOptions fields),
    lr_size is the LR size before the final crop (HR size // scale)."""
    d = Draw(generator)
    k1 = sample_kernels(d, n, opt.kernel_list, opt.kernel_prob, opt.sinc_prob, opt.blur_sigma,
                        opt.betag_range, opt.betap_range, opt.blur_kernel_size)
    k2 = sample_kernels(d, n, opt.kernel_list2, opt.kernel_prob2, opt.sinc_prob2, opt.blur_sigma2,
                        opt.betag_range2, opt.betap_range2, opt.blur_kernel_size2)
    final = sample_final_sinc(d, n, opt.final_sinc_prob, opt.blur_kernel_size)
    r1 = sample_resize(d, opt.resize_prob, opt.resize_range)
    n1 = sample_noise(d, n, opt.gaussian_noise_prob, opt.noise_range, opt.poisson_scale_range, opt.gray_noise_prob)
    j1 = d.uniform(n, *opt.jpeg_range)
    second_blur = bool(d.bernoulli(1, opt.second_blur_prob))
    r2 = sample_resize(d, opt.resize_prob2, opt.resize_range2)
    n2 = sample_noise(d, n, opt.gaussian_noise_prob2, opt.noise_range2, opt.poisson_scale_range2, opt.gray_noise_prob2)
    j2 = d.uniform(n, *opt.jpeg_range2)
    sinc_first = bool(d.bernoulli(1, 0.5))
    final_mode = RESIZE_MODES[int(d.randint(1, 0, 2))]
    top = left = None
    if opt.gt_size is not None:
        lp = opt.gt_size // opt.scale
        top, left = d.randint(n, 0, lr_size[0] - lp), d.randint(n, 0, lr_size[1] - lp)
    return RealESRGANParams(k1, k2, final, r1, n1, j1, second_blur, r2, n2, j2, sinc_first, final_mode,
                            top, left, d.seed())


# ------------------------------------------------------------------------------------------- BSRGAN
BSRGAN_OPS = ("blur1", "blur2", "downsample2", "downsample3", "noise", "jpeg")


def sample_bsrgan_kernels(d: Draw, n: int, sf: int) -> KernelParams:
    """KAIR's add_blur(sf): with probability 1/2 an anisotropic Gaussian with eigenvalues (variances)
    l1, l2 ~ U(0, 4 + sf) and angle ~ U(0, pi), else an isotropic one with sigma ~ U(0, 2 + 0.2 sf);
    size 2 * randint(2, 11) + 3 (7..25). Sigmas are floored at 1e-3 (a pulse) instead of dividing by 0."""
    aniso = d.bernoulli(n, 0.5)
    sizes = 2 * d.randint(n, 2, 11) + 3
    theta = d.uniform(n, 0, math.pi)
    l1, l2 = d.uniform(n, 0, 4.0 + sf), d.uniform(n, 0, 4.0 + sf)
    sig = d.uniform(n, 0, 2.0 + 0.2 * sf)
    sx = torch.where(aniso, l1.sqrt(), sig).clamp_min(1e-3)
    sy = torch.where(aniso, l2.sqrt(), sig).clamp_min(1e-3)
    theta = torch.where(aniso, theta, torch.zeros_like(theta))
    ones = torch.ones(n, dtype=torch.float64)
    return KernelParams(torch.full((n,), GAUSSIAN), sizes, sx, sy, theta, ones, ones,
                        ["aniso" if a else "iso" for a in aniso.tolist()])


@dataclass
class BSRGANParams:
    """Everything random about one batch of the `bsrgan` pipeline."""
    halve: bool                 # downsample1: x4 models first halve with probability scale2_prob
    halve_mode: str             # 'matlab' (antialiased bicubic) or an F.interpolate mode
    order: list[str]            # BSRGAN_OPS shuffled, downsample2 before downsample3
    kernel1: KernelParams
    kernel2: KernelParams
    down2_resize: bool          # resize by 1/U(1, 2 sf), else shifted Gaussian blur + nearest subsampling
    down2_factor: float
    down2_mode: str
    down2_sigma: Tensor         # per sample, for the blur + subsample branch
    down3_mode: str
    noise_kind: list[str]       # per sample: 'color' | 'gray' | 'correlated'
    noise_level: Tensor         # per sample, 0..255 scale
    noise_mix: Tensor           # (N, 3, 3) noise = mix @ N(0, I)
    jpeg_apply: Tensor          # per sample: the in-shuffle JPEG happens
    jpeg_quality: Tensor
    final_quality: Tensor
    crop_top: Tensor | None
    crop_left: Tensor | None
    noise_seed: int = 0

    def describe(self) -> list[dict]:
        out = []
        for i in range(len(self.jpeg_quality)):
            s = {"downsample1": self.halve_mode if self.halve else None, "order": list(self.order),
                 "blur1": self.kernel1.describe(i), "blur2": self.kernel2.describe(i),
                 "downsample2": ({"resize": self.down2_factor, "mode": self.down2_mode} if self.down2_resize
                                 else {"shifted_gaussian_sigma": float(self.down2_sigma[i])}),
                 "downsample3": self.down3_mode,
                 "noise": {"type": self.noise_kind[i], "level": float(self.noise_level[i])},
                 "jpeg": float(self.jpeg_quality[i]) if self.jpeg_apply[i] else None,
                 "final_jpeg": float(self.final_quality[i])}
            if self.crop_top is not None:
                s["crop_lr"] = [int(self.crop_top[i]), int(self.crop_left[i])]
            out.append(s)
        return out


def sample_bsrgan(opt, n: int, lr_size: tuple[int, int], generator: torch.Generator) -> BSRGANParams:
    """KAIR's degradation_bsrgan (utils_blindsr.py), batched: the order, resizes and their modes per
    batch, kernels, noise and JPEG per sample. `opt`: BSRGANDegradation's fields."""
    d = Draw(generator)
    halve = opt.scale == 4 and bool(d.bernoulli(1, opt.scale2_prob))
    matlab = bool(d.bernoulli(1, 0.5))
    halve_mode = RESIZE_MODES[int(d.randint(1, 0, 2))]
    sf = 2 if halve else opt.scale
    order = [BSRGAN_OPS[i] for i in torch.randperm(len(BSRGAN_OPS), generator=d.g).tolist()]
    i2, i3 = order.index("downsample2"), order.index("downsample3")
    if i2 > i3:                                                     # keep downsample3 after downsample2
        order[i2], order[i3] = order[i3], order[i2]
    k1, k2 = sample_bsrgan_kernels(d, n, sf), sample_bsrgan_kernels(d, n, sf)
    down2_resize = bool(d.bernoulli(1, 1 - opt.downsample_blur_prob))
    down2_factor = float(d.uniform(1, 1, 2 * sf))
    down2_mode = RESIZE_MODES[int(d.randint(1, 0, 2))]
    down2_sigma = d.uniform(n, 0.1, 0.6 * sf)
    down3_mode = RESIZE_MODES[int(d.randint(1, 0, 2))]
    level = d.randint(n, int(opt.noise_range[0]), int(opt.noise_range[1])).to(torch.float64)
    r = d.uniform(n, 0, 1)
    diag = d.uniform(3 * n, 0, 1).view(n, 3)
    basis = torch.linalg.svd(torch.rand(n, 3, 3, generator=d.g, dtype=torch.float64))[0]   # scipy.linalg.orth
    eye = torch.eye(3, dtype=torch.float64)
    grey = torch.zeros(3, 3, dtype=torch.float64)
    grey[:, 0] = 1
    sigma = (level / 255).view(n, 1, 1)
    corr = opt.noise_range[1] / 255 * basis.transpose(1, 2) @ torch.diag_embed(diag.sqrt())
    kind = torch.where(r > 0.6, 0, torch.where(r < 0.4, 1, 2))
    mix = torch.where(kind.view(n, 1, 1) == 0, sigma * eye, torch.where(kind.view(n, 1, 1) == 1, sigma * grey, corr))
    jpeg_apply = d.bernoulli(n, opt.jpeg_prob)
    jq = d.randint(n, int(opt.jpeg_range[0]), int(opt.jpeg_range[1])).to(torch.float64)
    fq = d.randint(n, int(opt.jpeg_range[0]), int(opt.jpeg_range[1])).to(torch.float64)
    top = left = None
    if opt.gt_size is not None:
        lp = opt.gt_size // opt.scale
        top, left = d.randint(n, 0, lr_size[0] - lp), d.randint(n, 0, lr_size[1] - lp)
    return BSRGANParams(halve, "matlab" if matlab else halve_mode, order, k1, k2, down2_resize, down2_factor,
                        down2_mode, down2_sigma, down3_mode, [("color", "gray", "correlated")[int(k)] for k in kind],
                        level, mix, jpeg_apply, jq, fq, top, left, d.seed())
