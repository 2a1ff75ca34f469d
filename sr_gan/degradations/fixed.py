"""A validation set degraded by the training pipeline with a fixed seed (`datasets.<val>.degrade: true`).

Image i's LR is `degrade_step(pipeline, hr_i, degrade_seed, i).lr` with the pipeline's final crop turned
off (gt_size null), on the 8-bit grid like any LR file. It is computed once, on the CPU, and kept: every
validation of a run -- and every machine -- scores the model on the same inputs, so the curve shows the
model changing, not the draw. The HR target is the plain HR (the pipeline may degrade its USM-sharpened
copy, like training); the bicubic baseline upsamples this LR.
"""
from __future__ import annotations

import torch

from .pipelines import degrade_step


class FixedDegradedSet(torch.utils.data.Dataset):
    def __init__(self, dataset, pipeline, seed: int):
        """`dataset` yields {'hr', 'key'} items (a paired dataset with hr_only); `pipeline` has no final crop."""
        if getattr(pipeline, "gt_size", None) is not None:
            raise ValueError("a fixed degraded validation set needs the pipeline without its final crop (gt_size None)")
        self.dataset, self.pipeline, self.seed = dataset, pipeline, int(seed)
        self._lr: dict[int, torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self.dataset)

    def __getattr__(self, name):          # scan_summary, save_scan_cache, ... of the wrapped dataset
        if name == "dataset":
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def lr(self, index: int, hr: torch.Tensor) -> torch.Tensor:
        if index not in self._lr:
            self._lr[index] = degrade_step(self.pipeline, hr.unsqueeze(0).cpu(), self.seed, index).lr[0]
        return self._lr[index]

    def __getitem__(self, index: int) -> dict:
        item = self.dataset[index]
        return {"lr": self.lr(index, item["hr"]), "hr": item["hr"], "key": item.get("key", str(index))}
