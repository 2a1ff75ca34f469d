"""Set-level GAN metrics: Frechet Inception Distance and Inception Score.

Both compare distributions, not image pairs, so they are not in the per-image METRICS registry:
extract features/probabilities for a whole set with :class:`InceptionFeatures`, then call
:func:`fid_from_features` / :func:`inception_score`.

Caveat: the network is torchvision's ``inception_v3`` with ``IMAGENET1K_V1`` weights. The
published FID numbers use the TF-slim "pt_inception-2015-12-05" graph (pytorch-fid's
``FIDInceptionA/C/E`` blocks differ in pooling and the weights differ), so values here are
internally comparable between runs of this project but are NOT directly comparable with
papers' FID/IS tables.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import linalg
from scipy.special import rel_entr

from sr_gan.errors import MissingWeightsError
from sr_gan.weights import weight_file

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     eps: float = 1e-6) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)), as pytorch-fid computes it.

    A singular product gets ``eps`` added to both diagonals; numerical imaginary parts from
    sqrtm are dropped (an error if they are not negligible).
    """
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(f"mean/covariance shapes differ: {mu1.shape}/{sigma1.shape} vs {mu2.shape}/{sigma2.shape}")
    diff = mu1 - mu2
    covmean = linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"sqrtm has a large imaginary component {np.max(np.abs(covmean.imag)):.3g}")
        covmean = covmean.real
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def fid_from_features(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    """FID between two (N, D) feature sets (Gaussian fit: mean and unbiased covariance)."""
    feats_a, feats_b = np.asarray(feats_a, np.float64), np.asarray(feats_b, np.float64)
    if feats_a.ndim != 2 or feats_b.ndim != 2 or feats_a.shape[1] != feats_b.shape[1]:
        raise ValueError(f"feature sets must be (N, D) with equal D, got {feats_a.shape} and {feats_b.shape}")
    if min(len(feats_a), len(feats_b)) < 2:
        raise ValueError("FID needs at least 2 samples per set for a covariance")
    return frechet_distance(feats_a.mean(0), np.cov(feats_a, rowvar=False),
                            feats_b.mean(0), np.cov(feats_b, rowvar=False))


def inception_score(probs: np.ndarray, splits: int = 1) -> tuple[float, float]:
    """(mean, std) over ``splits`` of exp(E_x[KL(p(y|x) || p(y))]) for (N, classes) probabilities."""
    probs = np.asarray(probs, np.float64)
    if probs.ndim != 2 or not 1 <= splits <= len(probs):
        raise ValueError(f"need (N, classes) probabilities with 1 <= splits <= N, got {probs.shape}, splits={splits}")
    scores = []
    for part in np.array_split(probs, splits):
        marginal = part.mean(axis=0, keepdims=True)
        kl = rel_entr(part, marginal).sum(axis=1)  # rel_entr(0, q) = 0: one-hot rows are fine
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


class InceptionFeatures:
    """torchvision Inception-v3 (ImageNet weights via sr_gan.weights): pool features and class probs.

    ``__call__(batch)`` takes NCHW RGB in [0, 1], resizes to 299 (bilinear), normalises with the
    ImageNet mean/std (torchvision's ``transform_input`` then maps that to the [-1, 1] input the
    Google weights expect), and returns the 2048-d avgpool output and the softmax over 1000 classes.
    """

    def __init__(self, device: str = "cpu", weights_path: str | None = None):
        path = weight_file("inception_v3", weights_path, option="--inception-weights PATH")
        from torchvision.models import inception_v3
        net = inception_v3(weights=None, aux_logits=True, init_weights=False, transform_input=True)
        state = torch.load(path, map_location="cpu", weights_only=True)
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            first = str(exc).splitlines()[0]
            raise MissingWeightsError(f"'{path}' is not a torchvision inception_v3 state dict ({first})") from None
        self.device = device
        self.net = net.eval().requires_grad_(False).to(device)
        self._pool: torch.Tensor | None = None
        self.net.avgpool.register_forward_hook(self._keep_pool)
        self._mean = torch.tensor(_IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
        self._std = torch.tensor(_IMAGENET_STD, device=device).view(1, 3, 1, 1)

    def _keep_pool(self, module, inputs, output) -> None:
        self._pool = output

    @torch.no_grad()
    def __call__(self, batch: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        if batch.ndim != 4 or batch.shape[1] != 3:
            raise ValueError(f"expected an NCHW RGB batch, got shape {tuple(batch.shape)}")
        x = batch.to(self.device, torch.float32)
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        logits = self.net((x - self._mean) / self._std)
        pool = self._pool.flatten(1)
        probs = torch.softmax(logits.double(), dim=1)
        return pool.cpu().numpy(), probs.cpu().numpy()
