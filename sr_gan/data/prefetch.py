"""Overlap the host-to-GPU copy of batch i+1 with the training step on batch i.

The loader's workers already decode and crop in parallel; what is left on the critical path on a
GPU is the copy itself. `CUDAPrefetcher` issues it on a side stream from pinned memory
(non_blocking), makes the compute stream wait for it when the batch is taken, and marks the
tensors with record_stream so the caching allocator does not reuse their memory while the side
stream may still write it. On CPU it is a plain pass-through iterator.
"""
from __future__ import annotations

from typing import Iterable, Iterator

import torch


class CUDAPrefetcher:
    """iter(CUDAPrefetcher(loader, device)) yields the loader's dict batches, tensors on `device`."""

    def __init__(self, loader: Iterable, device: torch.device):
        self.loader = loader
        self.device = torch.device(device)
        self.enabled = self.device.type == "cuda"

    def __iter__(self) -> Iterator[dict]:
        # the loader's iterator is made here, not lazily at the first next(): creating it draws a base
        # seed from torch's RNG, and the loop restores a checkpoint's RNG state right after iter()
        source = iter(self.loader)
        return self._prefetch(source) if self.enabled else source

    def _prefetch(self, source: Iterator) -> Iterator[dict]:
        stream = torch.cuda.Stream(device=self.device)
        current = torch.cuda.current_stream(self.device)
        pending = self._copy(next(source, None), stream)
        while pending is not None:
            current.wait_stream(stream)
            if isinstance(pending, dict):
                for value in pending.values():
                    if isinstance(value, torch.Tensor):
                        value.record_stream(current)
            batch = pending
            pending = self._copy(next(source, None), stream)   # issued before the step uses `batch`
            yield batch

    def _copy(self, batch, stream):
        if not isinstance(batch, dict):       # None (end) or an error value from the loader: as is
            return batch
        with torch.cuda.stream(stream):
            return {k: (v if v.is_pinned() else v.pin_memory()).to(self.device, non_blocking=True)
                    if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
