"""Blur kernels of Real-ESRGAN's degradation model, a whole batch at once from per-sample parameters.

Every kernel of a batch lives on one K x K grid (K = the largest size, 21 by default); a kernel of
size k < K is computed and normalised on its own k x k support and is zero outside it, which is
exactly Real-ESRGAN's "compute at k, then np.pad to 21". Grid coordinates follow Real-ESRGAN's
`mesh_grid`: x is the column offset, y the row offset from the centre, and the quadratic form is
[x, y] Sigma^-1 [x, y]^T with Sigma = R diag(sigma_x^2, sigma_y^2) R^T, R the rotation by theta.
Kernels are built in float64 (they are tiny) and returned in the requested dtype.
"""
from __future__ import annotations

import math

import torch
from scipy import special
from torch import Tensor

# The kernel families a sample can use; `kinds` tensors hold these codes.
GAUSSIAN, GENERALIZED, PLATEAU, SINC, PULSE = 0, 1, 2, 3, 4
# Real-ESRGAN's kernel_list names -> (family, isotropic)
KERNEL_TYPES = {
    "iso": (GAUSSIAN, True), "aniso": (GAUSSIAN, False),
    "generalized_iso": (GENERALIZED, True), "generalized_aniso": (GENERALIZED, False),
    "plateau_iso": (PLATEAU, True), "plateau_aniso": (PLATEAU, False),
}


def _grid(size: int, device=None) -> tuple[Tensor, Tensor]:
    """(x, y) offsets from the centre of a size x size grid, x along columns, float64."""
    r = size // 2
    ax = torch.arange(-r, r + 1, dtype=torch.float64, device=device)
    return ax.view(1, -1).expand(size, size), ax.view(-1, 1).expand(size, size)


def _as64(v, n: int, device=None) -> Tensor:
    return torch.as_tensor(v, dtype=torch.float64, device=device).reshape(-1).expand(n)


def support_mask(sizes: Tensor, pad_to: int) -> Tensor:
    """(N, K, K) bool: True inside each sample's own centred sizes[i] x sizes[i] square."""
    x, y = _grid(pad_to, sizes.device)
    r = (sizes.reshape(-1, 1, 1).to(torch.float64) - 1) / 2
    return (x.abs() <= r) & (y.abs() <= r)


def quadratic_form(sigma_x, sigma_y, theta, pad_to: int) -> Tensor:
    """(N, K, K) [x, y] Sigma^-1 [x, y]^T for per-sample sigma_x, sigma_y (pixels) and theta (radians)."""
    sx = torch.as_tensor(sigma_x, dtype=torch.float64).reshape(-1)
    n = sx.numel()
    sy, th = _as64(sigma_y, n, sx.device), _as64(theta, n, sx.device)
    c, s = torch.cos(th), torch.sin(th)
    ix, iy = 1 / (sx * sx), 1 / (sy * sy)
    a = (c * c * ix + s * s * iy).view(-1, 1, 1)               # Sigma^-1 = R diag(ix, iy) R^T
    b = (c * s * (ix - iy)).view(-1, 1, 1)
    d = (s * s * ix + c * c * iy).view(-1, 1, 1)
    x, y = _grid(pad_to, sx.device)
    return a * x * x + 2 * b * x * y + d * y * y


def _finish(k: Tensor, sizes: Tensor, pad_to: int, dtype) -> Tensor:
    k = torch.where(support_mask(sizes, pad_to), k, torch.zeros((), dtype=k.dtype, device=k.device))
    return (k / k.sum(dim=(1, 2), keepdim=True)).to(dtype)


def _pad_to(sizes: Tensor, pad_to: int | None) -> int:
    return int(sizes.max()) if pad_to is None else pad_to


def gaussian_kernels(sizes: Tensor, sigma_x, sigma_y, theta, pad_to: int | None = None,
                     dtype=torch.float32) -> Tensor:
    """exp(-q/2), normalised: Real-ESRGAN's bivariate_Gaussian (isotropic: sigma_y = sigma_x, theta = 0)."""
    k = _pad_to(sizes, pad_to)
    return _finish(torch.exp(-0.5 * quadratic_form(sigma_x, sigma_y, theta, k)), sizes, k, dtype)


def generalized_gaussian_kernels(sizes: Tensor, sigma_x, sigma_y, theta, beta, pad_to: int | None = None,
                                 dtype=torch.float32) -> Tensor:
    """exp(-q^beta / 2), normalised: bivariate_generalized_Gaussian (beta = 1 is the Gaussian)."""
    k = _pad_to(sizes, pad_to)
    q = quadratic_form(sigma_x, sigma_y, theta, k)
    b = _as64(beta, q.shape[0], q.device).view(-1, 1, 1)
    return _finish(torch.exp(-0.5 * q.pow(b)), sizes, k, dtype)


def plateau_kernels(sizes: Tensor, sigma_x, sigma_y, theta, beta, pad_to: int | None = None,
                    dtype=torch.float32) -> Tensor:
    """1 / (1 + q^beta), normalised: bivariate_plateau (a flat top with heavy tails)."""
    k = _pad_to(sizes, pad_to)
    q = quadratic_form(sigma_x, sigma_y, theta, k)
    b = _as64(beta, q.shape[0], q.device).view(-1, 1, 1)
    return _finish(1 / (q.pow(b) + 1), sizes, k, dtype)


def sinc_kernels(sizes: Tensor, omega_c, pad_to: int | None = None, dtype=torch.float32) -> Tensor:
    """Circular low-pass (2-D sinc) with cutoff omega_c (radians, pi = Nyquist): omega_c J1(omega_c r) /
    (2 pi r), centre omega_c^2 / (4 pi) (its limit at r = 0), normalised: circular_lowpass_kernel.
    It rings, which is how Real-ESRGAN imitates the overshoot artifacts of real resizers."""
    k = _pad_to(sizes, pad_to)
    w = _as64(omega_c, sizes.numel(), sizes.device).view(-1, 1, 1)
    x, y = _grid(k, sizes.device)
    r = torch.sqrt(x * x + y * y)
    r_safe = torch.where(r == 0, torch.ones_like(r), r)
    j1 = torch.from_numpy(special.j1((w * r_safe).cpu().numpy())).to(r.device)   # torch's J1 is off by ~5e-7
    val = w * j1 / (2 * math.pi * r_safe)
    val = torch.where(r == 0, w * w / (4 * math.pi), val)
    return _finish(val, sizes, k, dtype)


def shifted_gaussian_kernels(sigma, size: int, shift: float, dtype=torch.float32) -> Tensor:
    """Isotropic Gaussians whose centre sits `shift` pixels right of and below the grid centre, normalised:
    blurring with one and keeping every sf-th pixel, shift = (sf - 1) / 2, averages around the centre of
    each sf x sf block (BSRGAN's shifted kernel + nearest downsampling)."""
    s = torch.as_tensor(sigma, dtype=torch.float64).reshape(-1, 1, 1)
    x, y = _grid(size, s.device)
    k = torch.exp(-((x - shift) ** 2 + (y - shift) ** 2) / (2 * s * s))
    return (k / k.sum(dim=(1, 2), keepdim=True)).to(dtype)


def pulse_kernels(n: int, pad_to: int, dtype=torch.float32, device=None) -> Tensor:
    """The identity kernel (1 at the centre): Real-ESRGAN's `pulse_tensor` when no final sinc is drawn."""
    out = torch.zeros(n, pad_to, pad_to, dtype=dtype, device=device)
    out[:, pad_to // 2, pad_to // 2] = 1
    return out


def mixed_kernels(kinds: Tensor, sizes: Tensor, sigma_x: Tensor, sigma_y: Tensor, theta: Tensor,
                  beta: Tensor, omega_c: Tensor, pad_to: int, dtype=torch.float32) -> Tensor:
    """One kernel per sample, each of its own family (GAUSSIAN/GENERALIZED/PLATEAU/SINC/PULSE codes in
    `kinds`); unused parameters of a sample are ignored. Same values as the single-family builders."""
    q = quadratic_form(sigma_x, sigma_y, theta, pad_to)
    b = beta.to(torch.float64).view(-1, 1, 1)
    kd = kinds.view(-1, 1, 1)
    gauss = torch.exp(-0.5 * torch.where(kd == GENERALIZED, q.pow(b), q))
    plateau = 1 / (q.pow(b) + 1)
    sinc = sinc_kernels(sizes, omega_c, pad_to, torch.float64)
    pulse = pulse_kernels(kinds.numel(), pad_to, torch.float64, kinds.device)
    k = torch.where(kd == PLATEAU, plateau, gauss)
    k = _finish(k, sizes, pad_to, torch.float64)
    k = torch.where(kd == SINC, sinc, torch.where(kd == PULSE, pulse, k))
    return k.to(dtype)
