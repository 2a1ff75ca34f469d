"""The model's input step: a loader batch -> the (lr, hr, hr_usm) one training step uses, on its device.

    loader batch: HR crops (+ LR from the dataset when there is no degradation)
      -> degradation (`degradation:`, optional): degrade_step(pipeline, hr, seed, iteration, rank, pool):
         LR, HR and USM-sharpened HR made on the training device, mixed across batches by the pool
      -> hr_usm = usm_sharp(hr) when a loss term or the GAN wants it and nothing made it
      -> batch augmentation (`train.batch_augment`, optional): one of mixup/cutmix/resizemix/cutblur
Every draw derives from (seed, iteration, rank), so a step's input is a pure function of those and of
the pool; the pool is the only state, kept per rank in checkpoints (model.rank_state()). The checks
here join the `degradation:` / `train.batch_augment` sections to the data sections (options.validate
calls them before anything is built or written).
"""
from __future__ import annotations

import torch

from .degradations.pipelines import degrade_step
from .degradations.usm import usm_sharp
from .errors import SRGanError
from .registry import DATASETS, DEGRADATIONS
from .utils import distributed as dist


def build_pipeline(opt: dict, **changes):
    """The `degradation:` section's pipeline (None when off); `changes` replace keys (e.g. gt_size=None)."""
    cfg = opt.get("degradation")
    if cfg is None:
        return None
    params = DEGRADATIONS.signature(cfg["type"]).parameters
    return DEGRADATIONS.build({**cfg, **{k: v for k, v in changes.items() if k in params}}, scale=opt["scale"])


def train_patch_size(opt: dict) -> int | None:
    """HR side of the patches a training step sees: the pipeline's gt_size, else the train crop."""
    crop = (opt["datasets"].get("train") or {}).get("crop")
    pipe = build_pipeline(opt)
    gt_size = getattr(pipe, "gt_size", None) if pipe is not None else None
    return gt_size or crop


def _takes_hr_only(ds: dict) -> bool:
    return "hr_only" in DATASETS.signature(ds["type"]).parameters


def check_options(opt: dict) -> str | None:
    """The one-line problem with how `degradation:` / `train.batch_augment` fit the rest, or None."""
    pipe = None
    if opt.get("degradation") is not None:
        try:
            pipe = build_pipeline(opt)                 # the pipeline's own checks: `degradation.<key>: ...`
        except SRGanError as e:
            return str(e)
    for name, ds in opt["datasets"].items():
        if not ds.get("degrade"):
            continue
        if name == "train":
            return ("datasets.train.degrade: only for validation sets (the training batches are degraded by the "
                    "top-level degradation: section)")
        if pipe is None:
            return f"datasets.{name}.degrade: needs a top-level degradation: section (the pipeline that makes its LR)"
        if ds.get("lr"):
            return (f"datasets.{name}.lr: not used with degrade: true (the pipeline makes the LR from HR); "
                    f"remove lr or degrade")
        if not _takes_hr_only(ds):
            return f"datasets.{name}.type: '{ds['type']}' cannot deliver HR only (no hr_only argument), needed by degrade: true"
    train = opt["datasets"].get("train")
    if pipe is not None and train is not None:
        if train.get("lr"):
            return ("datasets.train.lr: not used with a degradation: pipeline (it makes the LR from HR on the "
                    "training device); remove lr, or set degradation: null to train on the paired LR")
        if not _takes_hr_only(train):
            return f"datasets.train.type: '{train['type']}' cannot deliver HR only (no hr_only argument), needed by degradation:"
        crop, gt_size = train.get("crop"), getattr(pipe, "gt_size", None)
        if crop is None:
            return ("datasets.train.crop: needed with a degradation: pipeline (it degrades a batch of equal HR crops), "
                    "e.g. crop: 256, or 400 with degradation.gt_size: 256 like Real-ESRGAN")
        if gt_size is not None and gt_size > crop:
            return (f"degradation.gt_size: {gt_size} is larger than datasets.train.crop {crop} (the pipeline degrades "
                    f"the crop, then cuts gt_size out of it); make crop >= gt_size")
        queue = getattr(pipe, "queue_size", 0)
        if queue and queue % train["batch"]:
            return (f"degradation.queue_size: {queue} must be a multiple of datasets.train.batch {train['batch']} "
                    f"(the pool swaps whole batches)")
    if opt["train"].get("batch_augment") is not None:
        from .augmentations.moa import BatchAugment
        try:
            BatchAugment(**opt["train"]["batch_augment"], seed=opt["seed"])   # its own checks, keys named
        except SRGanError as e:
            return str(e)
    return None


class InputStage:
    """Degradation (+ pool) and batch augmentation of one model; pass-through when both are off."""

    def __init__(self, opt: dict):
        self.seed = int(opt["seed"])
        self.pipeline = build_pipeline(opt)
        self.pool = self.pipeline.make_pool() if self.pipeline is not None else None
        aug = opt["train"].get("batch_augment")
        if aug is not None:
            from .augmentations.moa import BatchAugment
            self.augment = BatchAugment(**aug, seed=self.seed)
        else:
            self.augment = None
        self.info: dict = {}      # what the last batch drew (degradation params, augmentation), for inspection

    @property
    def active(self) -> bool:
        return self.pipeline is not None or self.augment is not None

    @torch.no_grad()
    def __call__(self, batch: dict, iteration: int, want_usm: bool) -> dict:
        """{'lr', 'hr', 'hr_usm'} (hr_usm None unless wanted) from a batch already on the device;
        `iteration` is the 1-based step the batch is for."""
        lr, hr, hr_usm = batch.get("lr"), batch.get("hr"), batch.get("hr_usm")
        rank = dist.rank()
        self.info = {}
        if self.pipeline is not None:
            if hr is None:
                raise ValueError("the degradation stage needs the batch's 'hr' crops")
            out = degrade_step(self.pipeline, hr, self.seed, iteration, rank, self.pool)
            lr, hr = out.lr, out.hr
            hr_usm = out.hr_usm if getattr(self.pipeline, "usm", False) else None   # usm off: hr_usm is hr
            self.info["degradation"] = out.params
        if want_usm and hr_usm is None and hr is not None:
            hr_usm = usm_sharp(hr)
        if not want_usm:
            hr_usm = None
        if self.augment is not None and hr is not None:
            new, self.info["augment"] = self.augment.augment_batch({"lr": lr, "hr": hr, "hr_usm": hr_usm},
                                                                   iteration, rank)
            lr, hr, hr_usm = new["lr"], new["hr"], new.get("hr_usm")
        return {"lr": lr, "hr": hr, "hr_usm": hr_usm}

    def state_dict(self) -> dict:
        """Per-rank state for the checkpoint's `per_rank` entry: the training-pair pool, when there is one."""
        return {"pool": self.pool.state_dict()} if self.pool is not None else {}

    def load_state_dict(self, state: dict) -> None:
        """A pool saved by this rank; none saved (a run without one) leaves the fresh, empty pool."""
        if self.pool is not None and state.get("pool") is not None:
            self.pool.load_state_dict(state["pool"])

