"""Validation: run the (EMA) generator on every image of a validation set and score it next to the
MATLAB-bicubic baseline, with the paper convention (Y channel, `crop_border` = scale by default)."""
from __future__ import annotations

import logging
import os

import numpy as np
import torch

from .utils.image_io import tensor_to_img, write_image

log = logging.getLogger("sr_gan")


def build_metrics(specs: list, crop_border: int, y_channel: bool, device: str) -> dict:
    """label -> metric object, or label -> str (why it is unavailable, e.g. missing LPIPS weights)."""
    from .metrics import build_metrics as build, metric_label
    built, missing = build(specs, crop_border, y_channel, device)
    for label, reason in missing.items():
        log.warning(f"val.metrics: {label} unavailable: {reason}")
    return {label: built.get(label, "n/a (weights missing, see log)") for label in map(metric_label, specs)}


def _score(metrics: dict, sr: np.ndarray, hr: np.ndarray) -> dict:
    return {n: float(m(sr, hr)) for n, m in metrics.items() if not isinstance(m, str)}


def _bicubic_up(lr: np.ndarray, scale: int) -> np.ndarray:
    from .data.bicubic import imresize
    return np.clip(imresize(lr, scale), 0.0, 1.0)


@torch.no_grad()
def evaluate(model, dataset, metrics: dict, scale: int, save_dir: str | None = None, tag: str = "",
             baseline_cache: dict | None = None) -> dict:
    """Mean metric values for the model and for bicubic over `dataset` (full images, batch 1)."""
    per_model, per_bicubic = [], []
    for i in range(len(dataset)):
        item = dataset[i]
        lr = item["lr"].unsqueeze(0)
        sr = tensor_to_img(model.test(lr)[0].cpu())
        hr = tensor_to_img(item["hr"])
        per_model.append(_score(metrics, sr, hr))
        key = item.get("key", str(i))
        if baseline_cache is not None:
            if key not in baseline_cache:
                baseline_cache[key] = _score(metrics, _bicubic_up(tensor_to_img(item["lr"]), scale), hr)
            per_bicubic.append(baseline_cache[key])
        if save_dir:
            write_image(os.path.join(save_dir, f"{key}{tag}.png"), sr)
    mean = lambda rows: {k: float(np.mean([r[k] for r in rows])) for k in (rows[0] if rows else {})}  # noqa: E731
    result = {"model": mean(per_model), "bicubic": mean(per_bicubic) if per_bicubic else {}}
    for name, m in metrics.items():
        if isinstance(m, str):
            result["model"][name] = m
            if per_bicubic:
                result["bicubic"][name] = m
    return result
