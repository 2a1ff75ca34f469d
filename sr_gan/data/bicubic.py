"""MATLAB-compatible ``imresize`` (bicubic, antialiased), the degradation SR papers and benchmarks use.

cv2/PIL/torch bicubic differ from MATLAB (kernel a=-0.75, no antialiasing when shrinking, other
borders), which shifts PSNR by tenths of a dB; so the LR images are made exactly the MATLAB way:
cubic kernel a=-0.5, stretched by 1/scale when shrinking, u = x/scale + 0.5*(1 - 1/scale),
weights normalised to sum 1, mirror ("symmetric") border indices. Each axis is one dense
(out_len, taps) gather + weight table, built once per size and cached (a dense matrix for torch).
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch


def cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB's), support [-2, 2]."""
    ax = np.abs(np.asarray(x, dtype=np.float64))
    ax2, ax3 = ax * ax, ax * ax * ax
    near = (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1)
    far = (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1) & (ax <= 2))
    return near + far


def output_length(in_len: int, scale: float) -> int:
    """ceil(in_len * scale), tolerant of float noise such as 480 * (1/3) = 160.00000000000003."""
    return int(math.ceil(in_len * scale - 1e-9))


@lru_cache(maxsize=64)
def resize_weights(in_len: int, out_len: int, scale: float, antialias: bool) -> tuple[np.ndarray, np.ndarray]:
    """MATLAB's ``contributions``: 0-based input indices and float64 weights, both (out_len, taps).

    resized[i] = sum_k weights[i, k] * signal[indices[i, k]]; read-only (they are cached).
    """
    kernel_width = 4.0
    stretch = scale < 1 and antialias
    if stretch:
        kernel_width /= scale
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)                      # 1-based input coordinate
    left = np.floor(u - kernel_width / 2)
    taps = int(math.ceil(kernel_width)) + 2
    indices = left[:, None] + np.arange(taps)[None, :]         # 1-based, may fall outside [1, in_len]
    dist = u[:, None] - indices
    weights = scale * cubic(dist * scale) if stretch else cubic(dist)
    weights /= weights.sum(axis=1, keepdims=True)
    # mirror padding: 0 -> 1, -1 -> 2, in_len+1 -> in_len, ... (MATLAB: aux = [1:n, n:-1:1])
    period = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])
    idx0 = period[np.mod(indices.astype(np.int64) - 1, 2 * in_len)]
    keep = np.any(weights != 0, axis=0)                        # drop all-zero tap columns (as MATLAB)
    idx0, weights = np.ascontiguousarray(idx0[:, keep]), np.ascontiguousarray(weights[:, keep])
    idx0.setflags(write=False)
    weights.setflags(write=False)
    return idx0, weights


def resize_matrix(in_len: int, out_len: int, scale: float, antialias: bool) -> np.ndarray:
    """The same weights as a dense float64 (out_len, in_len) matrix: resized = M @ signal."""
    idx0, weights = resize_weights(in_len, out_len, float(scale), bool(antialias))
    matrix = np.zeros((out_len, in_len), dtype=np.float64)
    rows = np.repeat(np.arange(out_len), idx0.shape[1])
    np.add.at(matrix, (rows, idx0.ravel()), weights.ravel())
    return matrix


def imresize(img: np.ndarray, scale: float, antialiasing: bool = True) -> np.ndarray:
    """Resize an HWC (or HW) float array by ``scale`` like MATLAB ``imresize(img, scale, 'bicubic')``.

    Output size is ceil(in * scale); values are not clipped (bicubic overshoots slightly).
    Height is resized first (MATLAB's order for equal scales). float32 input is computed in
    float32 (error ~1e-7), anything else in float64.
    """
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    squeeze = img.ndim == 2
    x = img[:, :, None] if squeeze else img
    h, w, _ = x.shape
    dtype = np.float32 if x.dtype == np.float32 else np.float64
    x = np.ascontiguousarray(x, dtype=dtype)    # same summation order for views and copies
    ih, wh = resize_weights(h, output_length(h, scale), float(scale), bool(antialiasing))
    iw, ww = resize_weights(w, output_length(w, scale), float(scale), bool(antialiasing))
    t = np.einsum("ok,okwc->owc", wh.astype(dtype), x[ih], optimize=True)      # along height
    t = np.einsum("ok,hokc->hoc", ww.astype(dtype), t[:, iw], optimize=True)   # along width
    return t[:, :, 0] if squeeze else t


def imresize_torch(x: torch.Tensor, scale: float, antialiasing: bool = True) -> torch.Tensor:
    """Batched (N, C, H, W) version of :func:`imresize`: the same matrices, applied as two matmuls."""
    if x.ndim != 4:
        raise ValueError(f"expected an (N, C, H, W) tensor, got shape {tuple(x.shape)}")
    h, w = x.shape[-2:]
    out_h, out_w = output_length(h, scale), output_length(w, scale)
    work_dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    mh = torch.tensor(resize_matrix(h, out_h, float(scale), bool(antialiasing)))
    mw = torch.tensor(resize_matrix(w, out_w, float(scale), bool(antialiasing)))
    mh = mh.to(x.device, work_dtype)
    mw = mw.to(x.device, work_dtype)
    y = torch.matmul(mh, x.to(work_dtype))          # (N, C, out_h, W)
    y = torch.matmul(y, mw.transpose(0, 1))         # (N, C, out_h, out_w)
    return y.to(x.dtype) if x.is_floating_point() else y
