"""Real-ESRGAN's training-pair pool (`queue_size`): mixes degraded pairs across batches.

A batch shares its resize factors and noise type, so Real-ESRGAN keeps `queue_size` past pairs and
trains on a random subset: while the pool fills, batches pass through and are stored; once full, each
new batch swaps places with `batch` pairs chosen uniformly at random (the first entries of a random
permutation drawn from the batch's generator). Real-ESRGAN permutes the whole queue to do this; picking
the same positions without moving the rest gives the same distribution without copying the pool.

state_dict() stores the pool compactly but losslessly: a tensor whose every value is k/255 (LR always,
HR from 8-bit images) is saved as uint8, anything else as is. At queue_size 180, GT 256, x4 that is
180 x 3 x 256 x 256 + 180 x 3 x 64 x 64 bytes = 37.6 MB (150 MB in float32).
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..errors import OptionError


def _pack(x: Tensor) -> dict:
    """{'u8': uint8} when x == round(x * 255) / 255 exactly (bit for bit), else {'raw': x}."""
    x = x.detach().cpu()
    q = (x * 255).round()
    if bool((q >= 0).all() and (q <= 255).all()) and torch.equal(q / 255, x):
        return {"u8": q.to(torch.uint8), "dtype": str(x.dtype).replace("torch.", "")}
    return {"raw": x.clone()}


def _unpack(d: dict) -> Tensor:
    if "u8" in d:
        return d["u8"].to(getattr(torch, d["dtype"])) / 255
    return d["raw"].clone()


class TrainingPairPool:
    def __init__(self, queue_size: int):
        self.queue_size = int(queue_size)
        self.lr: Tensor | None = None
        self.hr: Tensor | None = None
        self.filled = 0

    @torch.no_grad()
    def __call__(self, lr: Tensor, hr: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Store (lr, hr) and return the pairs to train on (the inputs themselves while filling).
        `generator` is a CPU generator (the batch's degradation generator)."""
        b = lr.shape[0]
        if self.lr is None:
            if self.queue_size % b:
                raise OptionError(f"degradation.queue_size: {self.queue_size} must be a multiple of the batch size {b}")
            self.lr = lr.new_zeros((self.queue_size, *lr.shape[1:]))
            self.hr = hr.new_zeros((self.queue_size, *hr.shape[1:]))
        if self.lr.shape[1:] != lr.shape[1:] or self.hr.shape[1:] != hr.shape[1:]:
            raise ValueError(f"pool holds {tuple(self.lr.shape[1:])} / {tuple(self.hr.shape[1:])} pairs, "
                             f"got {tuple(lr.shape[1:])} / {tuple(hr.shape[1:])}")
        if self.lr.device != lr.device or self.lr.dtype != lr.dtype:
            self.lr, self.hr = self.lr.to(lr), self.hr.to(hr)
        if self.filled < self.queue_size:
            self.lr[self.filled:self.filled + b] = lr
            self.hr[self.filled:self.filled + b] = hr
            self.filled += b
            return lr, hr
        pick = torch.randperm(self.queue_size, generator=generator)[:b].to(lr.device)
        out_lr, out_hr = self.lr.index_select(0, pick), self.hr.index_select(0, pick)
        self.lr.index_copy_(0, pick, lr)
        self.hr.index_copy_(0, pick, hr)
        return out_lr, out_hr

    def state_dict(self) -> dict:
        state = {"queue_size": self.queue_size, "filled": self.filled}
        if self.lr is not None:
            state["lr"], state["hr"] = _pack(self.lr[:self.filled]), _pack(self.hr[:self.filled])
            state["lr_shape"], state["hr_shape"] = list(self.lr.shape), list(self.hr.shape)
        return state

    def load_state_dict(self, state: dict) -> None:
        if int(state["queue_size"]) != self.queue_size:
            raise OptionError(f"degradation.queue_size: {self.queue_size} differs from the checkpoint's "
                              f"{state['queue_size']}")
        self.filled = int(state["filled"])
        self.lr = self.hr = None
        if "lr" in state:
            lr, hr = _unpack(state["lr"]), _unpack(state["hr"])
            self.lr = lr.new_zeros(state["lr_shape"])
            self.hr = hr.new_zeros(state["hr_shape"])
            self.lr[:self.filled], self.hr[:self.filled] = lr, hr
