"""NIQE (Mittal et al. 2013), MATLAB-compatible: the no-reference score used for perceptual SR.

GAN SR outputs are judged without a reference (PIRM: perceptual index from NIQE), and NIQE numbers
are only comparable when computed like the MATLAB release, as BasicSR does: Y channel of
rgb2ycbcr rounded to integers, 96x96 blocks without overlap, two scales (the second made by MATLAB
bicubic imresize 1/2), MSCN with a 7x7 Gaussian (sigma 7/6), AGGD/GGD parameters from the gamma
lookup table, 36 features per block, and the distance to the shipped pristine model
(data/niqe_pristine.npz, the MATLAB release's parameters -- see data/README.txt).
"""
from __future__ import annotations

import os
from functools import lru_cache

import cv2
import numpy as np
from scipy.ndimage import convolve
from scipy.special import gamma

from sr_gan.data.bicubic import imresize
from sr_gan.metrics._common import as_float01
from sr_gan.metrics.psnr_ssim import rgb_to_y
from sr_gan.registry import METRICS

PRISTINE_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "niqe_pristine.npz")
BLOCK = 96
_SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))  # horizontal, vertical, two diagonals


@lru_cache(maxsize=1)
def load_pristine_model() -> tuple[np.ndarray, np.ndarray]:
    """(mu (36,), cov (36, 36)) of the MATLAB release's pristine model."""
    with np.load(PRISTINE_FILE) as data:
        return data["mu_pris_param"].reshape(-1).copy(), data["cov_pris_param"].copy()


def gaussian_window(size: int = 7, sigma: float = 7 / 6) -> np.ndarray:
    """MATLAB fspecial('gaussian', size, sigma): separable, normalised to sum 1."""
    g = cv2.getGaussianKernel(size, sigma, ktype=cv2.CV_64F)
    return g @ g.T


@lru_cache(maxsize=1)
def _gamma_table() -> tuple[np.ndarray, np.ndarray]:
    """MATLAB's lookup: shape parameter grid 0.2:0.001:10 and its moment ratio r(gam)."""
    gam = np.arange(0.2, 10.001, 0.001)
    r_gam = gamma(2 / gam) ** 2 / (gamma(1 / gam) * gamma(3 / gam))
    return gam, r_gam


def estimate_aggd(values: np.ndarray) -> tuple[float, float, float]:
    """Asymmetric generalised Gaussian fit (alpha, beta_left, beta_right) by moment matching."""
    x = values.ravel()
    gam, r_gam = _gamma_table()
    left_std = np.sqrt(np.mean(x[x < 0] ** 2))
    right_std = np.sqrt(np.mean(x[x > 0] ** 2))
    gammahat = left_std / right_std
    rhat = np.mean(np.abs(x)) ** 2 / np.mean(x ** 2)
    rhatnorm = rhat * (gammahat ** 3 + 1) * (gammahat + 1) / (gammahat ** 2 + 1) ** 2
    alpha = gam[np.argmin((r_gam - rhatnorm) ** 2)]
    factor = np.sqrt(gamma(1 / alpha) / gamma(3 / alpha))
    return float(alpha), float(left_std * factor), float(right_std * factor)


def block_features(block: np.ndarray) -> list[float]:
    """18 features of one MSCN block: GGD (alpha, mean beta) + AGGD of 4 neighbour products."""
    alpha, beta_l, beta_r = estimate_aggd(block)
    feats = [alpha, (beta_l + beta_r) / 2]
    for shift in _SHIFTS:
        alpha, beta_l, beta_r = estimate_aggd(block * np.roll(block, shift, axis=(0, 1)))
        mean = (beta_r - beta_l) * gamma(2 / alpha) / gamma(1 / alpha)
        feats.extend([alpha, mean, beta_l, beta_r])
    return feats


def image_features(y: np.ndarray) -> np.ndarray:
    """(num_blocks, 36) features of a Y image in [0, 255] (cropped to whole 96x96 blocks)."""
    rows, cols = y.shape[0] // BLOCK, y.shape[1] // BLOCK
    if rows == 0 or cols == 0:
        raise ValueError(f"NIQE needs an image of at least {BLOCK}x{BLOCK} pixels, got {y.shape}")
    img = y[: rows * BLOCK, : cols * BLOCK].astype(np.float64)
    window = gaussian_window()
    per_scale = []
    for scale in (1, 2):
        mu = convolve(img, window, mode="nearest")
        sigma = np.sqrt(np.abs(convolve(img * img, window, mode="nearest") - mu * mu))
        mscn = (img - mu) / (sigma + 1)
        size = BLOCK // scale
        per_scale.append(np.array([block_features(mscn[r * size:(r + 1) * size, c * size:(c + 1) * size])
                                   for c in range(cols) for r in range(rows)]))
        if scale == 1:
            img = imresize(img / 255.0, 0.5, antialiasing=True) * 255.0
    return np.concatenate(per_scale, axis=1)


def niqe_distance(features: np.ndarray, mu_pris: np.ndarray, cov_pris: np.ndarray) -> float:
    """sqrt((mu_p - mu_d)^T pinv((cov_p + cov_d) / 2) (mu_p - mu_d)) with MATLAB nanmean/nancov."""
    mu_dist = np.nanmean(features, axis=0)
    complete = features[~np.isnan(features).any(axis=1)]
    # MATLAB cov normalises by N-1, or by N for a single observation (giving zeros)
    cov_dist = np.cov(complete, rowvar=False, ddof=1 if len(complete) > 1 else 0)
    diff = mu_pris - mu_dist
    value = diff @ np.linalg.pinv((cov_pris + cov_dist) / 2) @ diff
    return float(np.sqrt(value))


def calculate_niqe(img: np.ndarray, crop_border: int = 0) -> float:
    """NIQE of an RGB HWC image in [0, 1] (or uint8, or HW gray in [0, 1]); lower is better."""
    arr = np.asarray(img)
    if arr.ndim == 3 and arr.shape[2] == 3:
        y = rgb_to_y(arr)
    elif arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 1):
        y = as_float01(arr).reshape(arr.shape[:2]) * 255.0
    else:
        raise ValueError(f"NIQE expects an HxWx3 RGB or HxW gray image, got shape {arr.shape}")
    if crop_border:
        y = y[crop_border:-crop_border, crop_border:-crop_border]
    mu_pris, cov_pris = load_pristine_model()
    return niqe_distance(image_features(np.round(y)), mu_pris, cov_pris)  # round: as MATLAB's uint8 Y


@METRICS.register("niqe")
class NIQE:
    """No-reference NIQE for validation; ``hr`` is accepted and ignored so all metrics share a call."""

    higher_is_better: bool = False
    needs_reference: bool = False

    def __init__(self, crop_border: int = 0, device: str = "cpu"):
        self.crop_border = int(crop_border)
        self.device = device  # numpy metric

    def __call__(self, sr: np.ndarray, hr: np.ndarray | None = None) -> float:
        return calculate_niqe(sr, self.crop_border)
