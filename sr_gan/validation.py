"""Validation: run the (EMA) generator on every image of a validation set and score it next to the
MATLAB-bicubic baseline, through the same scoring code as scripts/test_sr.py (sr_gan.scoring), so a
checkpoint's numbers in train.log equal test_sr.py's on the same folder."""
from __future__ import annotations

import logging
import os

import torch

from .scoring import bicubic_baseline, build_scorers, mean_scores, score_image, super_resolve
from .utils.image_io import tensor_to_img, write_image

log = logging.getLogger("sr_gan")


def build_metrics(specs: list, crop_border: int, y_channel: bool, device: str) -> dict:
    """label -> metric object, or 'n/a' when it is unavailable (the reason is logged once)."""
    scorers, missing = build_scorers(specs, crop_border, y_channel, device)
    for label, reason in missing.items():
        log.warning(f"val.metrics: {label} unavailable: {reason}")
    return scorers


@torch.no_grad()
def evaluate(model, dataset, metrics: dict, scale: int, save_dir: str | None = None, tag: str = "",
             baseline_cache: dict | None = None) -> dict:
    """Mean metric values for the model and for bicubic over `dataset` (full images, one at a time, fp32)."""
    net = model.inference_net
    was_training = net.training
    net.eval()
    rows, bicubic_rows, failures = [], [], {}
    try:
        for i in range(len(dataset)):
            item = dataset[i]
            lr, hr = tensor_to_img(item["lr"]), tensor_to_img(item["hr"])
            sr = super_resolve(net, lr, scale)
            rows.append(score_image(metrics, sr, hr, failures))
            key = item.get("key", str(i))
            if baseline_cache is not None:
                if key not in baseline_cache:
                    baseline_cache[key] = score_image(metrics, bicubic_baseline(lr, scale), hr, failures)
                bicubic_rows.append(baseline_cache[key])
            if save_dir:
                write_image(os.path.join(save_dir, f"{key}{tag}.png"), sr)
    finally:
        net.train(was_training)
    for label, reason in failures.items():
        log.warning(f"val.metrics: {label}: n/a for some images ({reason})")
    return {"model": mean_scores(rows, metrics), "bicubic": mean_scores(bicubic_rows, metrics) if bicubic_rows else {}}
