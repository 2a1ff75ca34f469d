"""An endless, resumable, shardable stream of sample keys.

Global position g (0, 1, 2, ...) maps to a dataset index through a per-epoch permutation seeded by
(seed, epoch) and to a per-sample augmentation seed. Everything a batch contains is therefore a pure
function of (seed, position): resuming at iteration i restarts the stream at i * batch and reproduces
the uninterrupted run bit for bit, whatever the number of loader workers. With DDP, rank r of w takes
global positions r, r + w, r + 2w, ..., so one step of w ranks sees exactly the samples one process
would see with a batch w times larger.
"""
from __future__ import annotations

import numpy as np
from torch.utils.data import Sampler


class ResumableSampler(Sampler):
    def __init__(self, num_samples: int, seed: int = 0, rank: int = 0, world_size: int = 1, start: int = 0):
        if num_samples <= 0:
            raise ValueError("ResumableSampler needs a non-empty dataset")
        self.n = num_samples
        self.seed = int(seed)
        self.rank = rank
        self.world = world_size
        self.start = start          # local position (samples this rank has consumed)
        self._perm_epoch = -1
        self._perm = None

    def _permutation(self, epoch: int) -> np.ndarray:
        if epoch != self._perm_epoch:
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(self.n)
            self._perm_epoch = epoch
        return self._perm

    def key(self, global_position: int) -> tuple[int, int]:
        epoch, offset = divmod(global_position, self.n)
        index = int(self._permutation(epoch)[offset])
        return index, (self.seed << 40) + global_position

    def __iter__(self):
        local = self.start
        while True:
            yield self.key(local * self.world + self.rank)
            local += 1

    def __len__(self) -> int:  # endless; DataLoader only needs a number for its own bookkeeping
        return 2 ** 62
