"""Score a run's final EMA generator on its validation sets, through the same library as
scripts/test_sr.py (sr_gan.evaluation), and cache the numbers next to the checkpoint they came from.

The cache (<run>/eval.json) is keyed by checkpoint path, size and mtime, so re-running a finished
sweep re-reports instantly, and a retrained run is re-scored.
"""
from __future__ import annotations

import json
import os
from typing import Any

METRICS = ("psnr", "ssim", "lpips", "niqe")     # better-direction: sr_gan.metrics.higher_is_better


def val_sets(opt: dict) -> dict[str, dict]:
    """Validation sets named in the options: every dataset except `train` -> {'hr', 'lr'}."""
    return {name: {"hr": ds.get("hr"), "lr": ds.get("lr")}
            for name, ds in opt["datasets"].items() if name != "train" and ds.get("hr")}


def eval_device(opt: dict | None = None) -> str:
    import torch
    want = (opt or {}).get("device", "auto")
    return "cuda" if want != "cpu" and torch.cuda.is_available() else "cpu"


def _number(v: Any) -> Any:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else "n/a"


def evaluate(checkpoint: str, sets: dict[str, dict], scale: int, y_channel: bool = True,
             metrics: tuple = METRICS, device: str = "cpu") -> dict:
    """{set: {'model': {metric: float | 'n/a'}, 'bicubic': {...}}} via sr_gan.evaluation."""
    from sr_gan.evaluation import evaluate_checkpoint
    out = {}
    for name, s in sets.items():
        report = evaluate_checkpoint(checkpoint, s["hr"], scale, lr_dir=s.get("lr"), metrics=tuple(metrics),
                                     y_channel=y_channel, device=device)
        out[name] = {"model": {m: _number(report.mean.get(m)) for m in metrics},
                     "bicubic": {m: _number((report.bicubic_mean or {}).get(m)) for m in metrics}}
    return out


def _stamp(path: str) -> list:
    st = os.stat(path)
    return [os.path.abspath(path), st.st_size, st.st_mtime_ns]


def cached_evaluate(folder: str, checkpoint: str, opt: dict, metrics: tuple = METRICS) -> dict:
    """evaluate() of a run's checkpoint, re-used from <folder>/eval.json while the file is unchanged."""
    cache = os.path.join(folder, "eval.json")
    stamp = _stamp(checkpoint)
    sets = val_sets(opt)
    key = {"stamp": stamp, "sets": sets, "metrics": list(metrics), "y_channel": opt["val"]["y_channel"]}
    if os.path.isfile(cache):
        try:
            with open(cache, encoding="utf-8") as f:
                data = json.load(f)
            if data.get("key") == key:
                return data["results"]
        except (OSError, ValueError):
            pass
    results = evaluate(checkpoint, sets, opt["scale"], opt["val"]["y_channel"], metrics, eval_device(opt))
    tmp = cache + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({"key": key, "checkpoint": checkpoint, "results": results}, f, indent=1)
    os.replace(tmp, cache)
    return results
