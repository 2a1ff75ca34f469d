"""Data-parallel training on CPU (gloo): 2 processes x batch 2 must equal 1 process x batch 4.

The processes are started with torch.multiprocessing (fork) and call sr_gan.train.run exactly as
torchrun would (RANK/WORLD_SIZE/MASTER_* in the environment). The harness wraps the model factory
to keep a handle on the built model and saves every network's weights per rank afterwards: no test
hook in the CLI or the library. The equality check uses a discriminator without BatchNorm and a
non-relativistic GAN loss: BN statistics and RaGAN's batch means are per-rank quantities, so with
them N x b is (by design) not the same computation as 1 x N*b.
"""
from __future__ import annotations

import os
import socket
import warnings

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from sr_gan import options
from sr_gan.errors import OptionError
from sr_gan.utils.image_io import write_image

STEPS = 5


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _images(folder) -> str:
    rng = np.random.default_rng(0)
    for i in range(6):
        img = rng.random((40, 40, 3), dtype=np.float32)
        write_image(os.path.join(folder, f"img{i}.png"), img)
    return str(folder)


def _opt(root: str, hr: str, model: str, batch: int, name: str) -> dict:
    raw = {
        "name": name, "model": model, "scale": 4, "device": "cpu", "seed": 3, "num_threads": 1,
        "datasets": {"train": {"type": "paired", "hr": hr, "crop": 32, "batch": batch, "workers": 0}},
        "network_g": {"type": "msrresnet", "num_feat": 8, "num_block": 1},
        "path": {"experiments_root": root},
        "train": {"total_iter": STEPS, "ema_decay": 0.9, "optim_g": {"lr": 1e-3}, "optim_d": {"lr": 1e-3},
                  "losses": [{"type": "l1", "weight": 1.0}]},
        "val": {"freq": 0, "metrics": ["psnr"]}, "logger": {"print_freq": 100, "use_tb": False}, "save": {"freq": 1000},
    }
    if model == "srgan":
        raw["network_d"] = {"type": "patchgan", "num_feat": 8, "num_layers": 2, "norm": "none"}
        raw["train"]["losses"].append({"type": "perceptual", "layers": {"conv1_2": 1.0}, "weight": 0.1, "pretrained": False})
        raw["train"]["gan"] = {"type": "vanilla", "relativistic": False, "weight": 0.1}
    return options.validate(raw)


def _train(opt: dict) -> tuple[dict, dict]:
    """run(opt) -> ({net: state before training}, {net: state after}) of the model it built."""
    from sr_gan import train
    from sr_gan.models._parts import uncompiled
    built = []
    factory = train.MODELS.get

    def recording_get(name):
        cls = factory(name)

        def build(*args, **kwargs):
            model = cls(*args, **kwargs)
            built.append((model, {k: {p: t.clone() for p, t in uncompiled(n).state_dict().items()}
                                  for k, n in model.networks().items()}))
            return model
        return build
    train.MODELS.get = recording_get
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            train.run(opt)
    finally:
        del train.MODELS.get          # back to the class's method
    model, before = built[0]
    after = {k: {p: t.detach().clone() for p, t in uncompiled(n).state_dict().items()}
             for k, n in model.networks().items()}
    return before, after


def _worker(rank: int, world: int, port: int, root: str, hr: str, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(world))
    from sr_gan.utils import distributed as dist
    try:
        for model in ("sr", "srgan"):
            _, after = _train(_opt(root, hr, model, batch=2, name=f"ddp_{model}"))
            torch.save(after, os.path.join(out, f"{model}_rank{rank}.pt"))
        torch.save({"world": dist.world_size(), "rank": dist.rank()}, os.path.join(out, f"info_rank{rank}.pt"))
    finally:
        dist.cleanup()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two ranks x batch 2 (spawned) and one process x batch 4 (here), for both models."""
    tmp = tmp_path_factory.mktemp("ddp")
    hr = _images(tmp / "HR")
    out = tmp / "weights"
    out.mkdir()
    # fork: the children inherit the imported torch/sr_gan (a spawned child re-imports them, which
    # is most of the run time); torch makes forked children safe for its CPU thread pools
    mp.start_processes(_worker, args=(2, _free_port(), str(tmp / "exp"), hr, str(out)), nprocs=2, join=True,
                       start_method="fork")
    threads = torch.get_num_threads()
    single = {m: _train(_opt(str(tmp / "exp"), hr, m, batch=4, name=f"single_{m}")) for m in ("sr", "srgan")}
    torch.set_num_threads(threads)
    ranks = {m: [torch.load(out / f"{m}_rank{r}.pt", weights_only=True) for r in (0, 1)] for m in ("sr", "srgan")}
    info = [torch.load(out / f"info_rank{r}.pt", weights_only=True) for r in (0, 1)]
    return {"tmp": tmp, "single": single, "ranks": ranks, "info": info}


def test_two_processes_really_ran_distributed(runs):
    assert runs["info"] == [{"world": 2, "rank": 0}, {"world": 2, "rank": 1}]
    # rank 0 alone writes checkpoints: exactly one final checkpoint per experiment
    ckpts = sorted(os.listdir(runs["tmp"] / "exp" / "ddp_srgan" / "checkpoints"))
    assert ckpts == ["iter_00000005.pth", "latest"]


@pytest.mark.parametrize("model", ["sr", "srgan"])
def test_ranks_hold_identical_weights(runs, model):
    rank0, rank1 = runs["ranks"][model]
    assert rank0.keys() == rank1.keys() == runs["single"][model][1].keys()
    for net in rank0:
        for key, value in rank0[net].items():
            assert torch.equal(value, rank1[net][key]), f"{model}: {net}.{key} differs between ranks"


@pytest.mark.parametrize("model", ["sr", "srgan"])
def test_two_ranks_equal_one_process_with_the_global_batch(runs, model):
    before, single = runs["single"][model]
    rank0 = runs["ranks"][model][0]
    for net in single:
        moved = 0.0
        for key, value in single[net].items():
            if not value.is_floating_point():
                continue
            # relative to the tensor's norm: Adam divides by sqrt(v), so an element whose gradient is
            # ~0 can turn a last-bit difference of the all-reduce order into a visible one by itself
            rel = (torch.linalg.vector_norm(rank0[net][key] - value) / torch.linalg.vector_norm(value)).item()
            assert rel < 1e-5, f"{model} {net}.{key}: relative difference {rel:.2e}"
            moved = max(moved, (value - before[net][key]).abs().max().item())
        assert moved > 1e-4, f"{model}: {net} did not train (max change {moved})"


def test_sync_bn_on_cpu_is_a_clear_option_error(monkeypatch):
    """SyncBatchNorm is CUDA-only in torch; asking for it in a CPU (gloo) run must say so up front."""
    from sr_gan.utils import distributed as dist
    monkeypatch.setattr(dist, "is_distributed", lambda: True)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    with pytest.raises(OptionError, match=r"^train\.sync_bn: .*CUDA"):
        dist.maybe_sync_batchnorm(net, True, torch.device("cpu"))
    assert dist.maybe_sync_batchnorm(net, False, torch.device("cpu")) is net
    monkeypatch.setattr(dist, "is_distributed", lambda: False)
    assert dist.maybe_sync_batchnorm(net, True, torch.device("cpu")) is net   # one process: plain BN is exact
