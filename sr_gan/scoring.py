"""How an SR image is scored, for training validation, scripts/test_sr.py and ablation evaluation alike.

The protocol of SR papers and of BasicSR's validation (its tensor2img rounds to uint8 before any metric):
  * the LR the network sees is 8-bit: a file as read, or MATLAB bicubic of the HR rounded to 8 bits
    (the released LR sets are stored that way): :func:`benchmark_lr`;
  * the SR output is rounded to 8 bits exactly as a saved PNG would be: :func:`super_resolve`;
  * the bicubic baseline is MATLAB bicubic of that same 8-bit LR, rounded the same way: :func:`bicubic_baseline`;
  * every image is scored by :func:`score_image`, and a set by :func:`mean_scores` (exactly rounded sum,
    so the order images are visited in cannot move a digit), printed by :func:`format_score`.
Both callers go through these functions, so train.log, TensorBoard and test_sr.py print the same numbers.
"""
from __future__ import annotations

import math

import numpy as np

from .data.bicubic import imresize
from .utils.image_io import to_8bit

NA = "n/a"     # a metric that cannot be computed here (missing weights, image too small)


def benchmark_lr(hr: np.ndarray, scale: int) -> np.ndarray:
    """The LR of an HR image when no LR file is given: MATLAB bicubic x1/scale, rounded to 8 bits."""
    return to_8bit(imresize(hr, 1.0 / scale))


def bicubic_baseline(lr: np.ndarray, scale: int) -> np.ndarray:
    """MATLAB bicubic upscaling of the (8-bit) LR, rounded to 8 bits like an SR output."""
    return to_8bit(imresize(lr, scale))


def super_resolve(net, lr: np.ndarray, scale: int, **kw) -> np.ndarray:
    """The network's output for an HWC RGB LR image, rounded to 8 bits (``kw``: tiling, precision)."""
    from .inference import upscale_image
    from .utils.image_io import ImageInfo
    return to_8bit(upscale_image(net, lr, ImageInfo("rgb", 8), scale, **kw))


def build_scorers(specs, crop_border: int, y_channel: bool, device: str) -> tuple[dict, dict]:
    """(label -> metric, or NA when its weights cannot be had; label -> why it is NA)."""
    from .metrics import build_metrics, metric_label
    built, missing = build_metrics(specs, crop_border, y_channel, device)
    return {label: built.get(label, NA) for label in map(metric_label, specs)}, missing


def score_image(scorers: dict, sr: np.ndarray, hr: np.ndarray, failures: dict | None = None) -> dict:
    """{label: value or NA} for one SR image against its HR. A metric that cannot score this image
    (NIQE below 96x96, say) is NA, and the first reason per metric lands in ``failures``."""
    row = {}
    for label, metric in scorers.items():
        if isinstance(metric, str):
            row[label] = metric
            continue
        try:
            row[label] = float(metric(sr, hr))
        except ValueError as e:
            row[label] = NA
            if failures is not None:
                failures.setdefault(label, str(e).splitlines()[0])
    return row


def mean_scores(rows: list[dict], labels) -> dict:
    """Per-label mean over the rows that have a number (NA where none has)."""
    out = {}
    for label in labels:
        values = [r[label] for r in rows if isinstance(r.get(label), float)]
        out[label] = math.fsum(values) / len(values) if values else NA
    return out


def format_score(value) -> str:
    """How every table prints a score: 4 decimals, 'inf' for identical images, text as it is."""
    if isinstance(value, str):
        return value
    return "inf" if math.isinf(value) else f"{value:.4f}"
