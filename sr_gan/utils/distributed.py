"""Multi-process data parallel training under torchrun (gloo on CPU, NCCL on CUDA).

Gradients are averaged with one coalesced all-reduce per network per update rather than through
torch's DDP wrapper: the GAN step runs the discriminator on real and fake batches and reuses those
two forwards for both the generator's and the discriminator's loss, a pattern DDP's reducer (one
forward, one backward) does not allow. Every rank starts from rank 0's weights and takes its own
shard of the sample stream, so N processes with batch b equal one process with batch N*b.
"""
from __future__ import annotations

import os

import torch
import torch.distributed as td


def is_distributed() -> bool:
    return td.is_available() and td.is_initialized()


def rank() -> int:
    return td.get_rank() if is_distributed() else 0


def world_size() -> int:
    return td.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    return rank() == 0


def init_from_env(device_kind: str) -> torch.device | None:
    """Initialise the process group when launched by torchrun; returns this rank's CUDA device."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or is_distributed():
        return None
    backend = "nccl" if device_kind == "cuda" else "gloo"
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if backend == "nccl":
        torch.cuda.set_device(local)
    td.init_process_group(backend=backend)
    return torch.device("cuda", local) if backend == "nccl" else None


def broadcast_module(net: torch.nn.Module) -> None:
    if is_distributed():
        for t in list(net.parameters()) + list(net.buffers()):
            td.broadcast(t.data, src=0)


def maybe_sync_batchnorm(net: torch.nn.Module, enabled: bool, device: torch.device) -> torch.nn.Module:
    """`train.sync_bn`: BatchNorm statistics over the global batch instead of each rank's shard.

    torch's SyncBatchNorm only runs on CUDA (NCCL); on CPU (gloo) it is refused up front rather than
    failing at the first forward. One process needs nothing: plain BN already sees the whole batch."""
    if not enabled or not is_distributed():
        return net
    if device.type != "cuda":
        from ..errors import OptionError
        raise OptionError("train.sync_bn: SyncBatchNorm needs CUDA (torch supports it only on GPU); "
                          "set train.sync_bn=false for CPU/gloo runs")
    return torch.nn.SyncBatchNorm.convert_sync_batchnorm(net)


def average_gradients(net: torch.nn.Module) -> None:
    if not is_distributed():
        return
    grads = [p.grad for p in net.parameters() if p.grad is not None]
    if not grads:
        return
    flat = torch._utils._flatten_dense_tensors(grads)
    td.all_reduce(flat)
    flat.div_(world_size())
    for g, r in zip(grads, torch._utils._unflatten_dense_tensors(flat, grads)):
        g.copy_(r)


def all_reduce_mean(value: torch.Tensor) -> torch.Tensor:
    """The mean of `value` over all ranks (every rank must call it). Used by SRModel.current_losses: the
    logged losses are one all-reduce of the stacked values per log line, not rank 0's half batch."""
    if is_distributed():
        value = value.clone()
        td.all_reduce(value)
        value /= world_size()
    return value


_control_group = None


def _control() -> "td.ProcessGroup | None":
    """A gloo group for small CPU-side messages (stop flags, per-rank states): on NCCL these would need
    a GPU tensor and a device sync every step. None = the default group (already gloo)."""
    global _control_group
    if td.get_backend() == "gloo":
        return None
    if _control_group is None:
        _control_group = td.new_group(backend="gloo")
    return _control_group


def max_over_ranks(value: int) -> int:
    """The largest ``value`` any rank holds (e.g. a signal number: every rank stops at the same step)."""
    if not is_distributed():
        return value
    t = torch.tensor([value], dtype=torch.int64)
    td.all_reduce(t, op=td.ReduceOp.MAX, group=_control())
    return int(t.item())


def gather_to_main(obj) -> list | None:
    """Every rank's ``obj`` in rank order on rank 0, None on the others; ``[obj]`` in one process."""
    if not is_distributed():
        return [obj]
    out = [None] * world_size() if is_main() else None
    td.gather_object(obj, out, dst=0, group=_control())
    return out


def barrier() -> None:
    if is_distributed():
        td.barrier()


def cleanup() -> None:
    global _control_group
    if is_distributed():
        td.destroy_process_group()
    _control_group = None
