"""The batch-augmentation step: one augmentation (or none) per batch, drawn like neosr's and
traiNNer-redux's "MoA" from ``augs`` with selection weights ``probs``.

Randomness comes from a generator seeded by (seed, iteration, rank) through numpy's SeedSequence,
so the n-th batch of a run is augmented the same way whether or not the run was resumed, with no
state in the checkpoint, and each DDP rank augments its own shard differently. Which augmentation
runs and every value it draws are taken from that one generator, in that order.

YAML (a section of ``train``; absent = no batch augmentation):
  batch_augment:
    augs: [none, mixup, cutmix, resizemix, cutblur]
    probs: [0.2, 0.2, 0.2, 0.2, 0.2]            # selection weights, normalised; default: equal
    options: {cutblur: {alpha: 0.7}}            # per-augmentation constructor arguments
Exactly one entry is applied per batch (neosr's optional "several at once" mode is not offered).
"""
import difflib
import inspect
from typing import Optional

import numpy as np
import torch

from sr_gan.augmentations._common import Augmented, uniform
from sr_gan.errors import OptionError
from sr_gan.registry import AUGMENTATIONS

KEY = "train.batch_augment"
NONE = "none"
_STREAM_TAG = 0x6D6F61    # "moa": keeps this stream apart from other (seed, iteration, rank) streams


def augmentation_generator(seed: int, iteration: int, rank: int = 0) -> torch.Generator:
    """A CPU torch.Generator determined by (seed, iteration, rank) alone."""
    words = np.random.SeedSequence([seed % 2 ** 64, iteration, rank, _STREAM_TAG]).generate_state(2, np.uint32)
    return torch.Generator().manual_seed((int(words[0]) << 32) | int(words[1]))


def _unknown(name: str, known: list, what: str, key: str) -> OptionError:
    close = difflib.get_close_matches(str(name), known, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return OptionError(f"{key}: unknown {what} '{name}'{hint}; known: {', '.join(known)}")


class BatchAugment:
    """Picks and applies one of ``augs`` per batch; ``seed`` is the run's top-level seed (injected)."""

    def __init__(self, augs: list = (NONE, "mixup", "cutmix", "resizemix", "cutblur"),
                 probs: Optional[list] = None, options: Optional[dict] = None, seed: int = 0):
        augs = list(augs)
        if not augs:
            raise OptionError(f"{KEY}.augs: expected at least one name ({NONE} or a batch augmentation)")
        known = [NONE] + AUGMENTATIONS.names()
        for name in augs:
            if name not in known:
                raise _unknown(name, known, "batch augmentation", f"{KEY}.augs")
        if len(set(augs)) != len(augs):
            raise OptionError(f"{KEY}.augs: each name may appear once, got {augs}")
        probs = [1.0] * len(augs) if probs is None else list(probs)
        if len(probs) != len(augs):
            raise OptionError(f"{KEY}.probs: expected {len(augs)} weights (one per entry of augs), got {len(probs)}")
        if any(isinstance(p, bool) or not isinstance(p, (int, float)) or not p >= 0 for p in probs) or sum(probs) <= 0:
            raise OptionError(f"{KEY}.probs: expected numbers >= 0 with a positive sum, got {probs}")
        options = dict(options or {})
        for name, opts in options.items():
            if name not in augs or name == NONE:
                raise _unknown(name, [a for a in augs if a != NONE], "entry (options are given for names in augs)", f"{KEY}.options")
            if not isinstance(opts, dict):
                raise OptionError(f"{KEY}.options.{name}: expected a mapping of option names to values, got {opts!r}")
            params = list(inspect.signature(AUGMENTATIONS.get(name)).parameters)
            for k in opts:
                if k not in params:
                    raise _unknown(k, params, "option", f"{KEY}.options.{name}")
        self.augs = augs
        total = float(sum(probs))
        self.cumulative = np.cumsum([p / total for p in probs])
        self.last = max(i for i, p in enumerate(probs) if p > 0)   # (a sum that rounds below 1)
        self.seed = int(seed)
        self.steps = {name: AUGMENTATIONS.get(name)(**options.get(name, {})) for name in augs if name != NONE}

    def pick(self, generator: torch.Generator) -> str:
        index = int(np.searchsorted(self.cumulative, uniform(generator), side="right"))
        return self.augs[min(index, self.last)]

    def __call__(self, lr: torch.Tensor, hr: torch.Tensor, iteration: int, rank: int = 0) -> Augmented:
        """Augment one batch; ``hr`` may stack several HR-grid targets on its channel axis."""
        generator = augmentation_generator(self.seed, iteration, rank)
        name = self.pick(generator)
        if name == NONE:
            return Augmented(lr, hr, {"aug": NONE})
        out = self.steps[name](lr, hr, generator)
        return Augmented(out.lr, out.hr, {"aug": name, **out.info})

    def augment_batch(self, batch: dict, iteration: int, rank: int = 0) -> tuple[dict, dict]:
        """The training batch dict: ``lr`` and the HR-grid targets ``hr`` (and ``hr_usm`` when the
        degradation pipeline made one) are augmented together; other entries pass through."""
        targets = [k for k in ("hr", "hr_usm") if batch.get(k) is not None]
        widths = [batch[k].shape[1] for k in targets]
        out = self(batch["lr"], torch.cat([batch[k] for k in targets], dim=1), iteration, rank)
        new = dict(batch, lr=out.lr)
        new.update(zip(targets, torch.split(out.hr, widths, dim=1)))
        return new, out.info
