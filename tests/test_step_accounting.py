"""What the loss log line says about a step (issue 14, "also found"): optimizer steps skipped by the fp16
grad scaler or a non-finite loss are counted per network (skipped_g / skipped_d in the log line and
TensorBoard), torch's scheduler-order warning does not leak, a skipped step shows its own loss values,
and under DDP the logged values are the mean over ranks from one all-reduce."""
from __future__ import annotations

import os
import socket
import types
import warnings

import pytest
import torch
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import nn

from reliability_utils import cli_main, tiny_options, write_options, write_photos
from sr_gan import options
from sr_gan.models.sr_model import SRModel
from sr_gan.registry import LOSSES, MODELS


def _srgan(amp: str):
    raw = {"name": "acc", "model": "srgan", "scale": 4, "device": "cpu",
           "network_g": {"type": "msrresnet", "num_feat": 8, "num_block": 1},
           "network_d": {"type": "patchgan", "num_feat": 8, "num_layers": 2, "norm": "none"},
           "train": {"amp": amp, "ema_decay": 0.0, "optim_g": {"lr": 1e-3}, "optim_d": {"lr": 1e-3},
                     "scheduler": {"type": "cosine", "warmup_iter": 2},
                     "losses": [{"type": "l1", "weight": 1.0}], "gan": {"type": "vanilla", "weight": 0.1}}}
    torch.manual_seed(0)
    m = MODELS.get("srgan")(options.validate(raw), torch.device("cpu"))
    g = torch.Generator().manual_seed(1)
    m.feed_data({"lr": torch.rand(2, 3, 4, 4, generator=g), "hr": torch.rand(2, 3, 16, 16, generator=g)})
    return m


@pytest.mark.parametrize("overflowing", ["g", "d"])
def test_fp16_scaler_skips_are_counted_per_network(overflowing):
    m = _srgan("fp16")
    m.precision.scaler = torch.amp.GradScaler("cpu", init_scale=1.0)   # no overflow of its own at 65536
    net = m.net_g if overflowing == "g" else m.net_d
    next(net.parameters()).register_hook(lambda grad: grad * float("inf"))   # this network's grads overflow
    before = {k: [p.detach().clone() for p in n.parameters()] for k, n in (("g", m.net_g), ("d", m.net_d))}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for step in range(1, 4):
            m.optimize_parameters(step)
            m.update_learning_rate()
    assert not [w for w in caught if "lr_scheduler.step()" in str(w.message)], [str(w.message) for w in caught]
    other = "d" if overflowing == "g" else "g"
    assert m.skipped_steps() == {f"skipped_{overflowing}": 3, f"skipped_{other}": 0}
    assert m.skipped_steps() == {"skipped_g": 0, "skipped_d": 0}          # counted since the previous call
    moved = {k: any(not torch.equal(a, p) for a, p in zip(before[k], n.parameters()))
             for k, n in (("g", m.net_g), ("d", m.net_d))}
    assert moved == {overflowing: False, other: True}                    # the counts match what happened
    assert m.schedulers["g"].last_epoch == m.schedulers["d"].last_epoch == 3   # the schedule follows the iteration


class NaNAtCall(nn.Module):
    """L1 whose 2nd forward call is NaN."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, sr, target):
        self.calls += 1
        loss = F.l1_loss(sr, target)
        return loss * float("nan") if self.calls == 2 else loss


if "test_nan_at_2" not in LOSSES:
    LOSSES.register("test_nan_at_2", kind="generator")(NaNAtCall)


def test_a_skipped_step_logs_its_own_values_and_the_skip(tmp_path, monkeypatch):
    from sr_gan import train
    seen: list = []

    class Recorder:                      # stands in for TensorBoard: what would be written, per step
        def __init__(self, folder, enabled):
            pass

        def scalars(self, values, step, prefix=""):
            seen.append((step, prefix, dict(values)))

        def close(self):
            pass
    monkeypatch.setattr(train, "TensorBoard", Recorder)
    hr = os.path.dirname(write_photos(tmp_path / "hr", count=2, size=48)[0])
    yml = write_options(tmp_path / "o.yml", tiny_options(hr, str(tmp_path / "exp"), train__total_iter=3,
                                                         train__losses=[{"type": "test_nan_at_2", "name": "bad"}],
                                                         logger__print_freq=1))
    assert cli_main(["-opt", yml]) == 0
    lines = [ln.split(": ", 1)[1] for ln in open(tmp_path / "exp" / "tiny" / "train.log")
             if ln.split(": ", 1)[1].startswith("iter ")]
    values = [dict(kv.split("=") for kv in ln.split("): ", 1)[1].split()) for ln in lines]
    assert [v["skipped_g"] for v in values] == ["0", "1", "0"]
    assert values[1]["l_g_bad"] == "nan"                        # step 2's own value, not step 1's
    assert values[0]["l_g_bad"] != "nan" and values[2]["l_g_bad"] != "nan"
    tb = {step: v for step, prefix, v in seen if prefix == "train/"}
    assert [tb[s]["skipped_g"] for s in (1, 2, 3)] == [0, 1, 0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank(rank: int, port: int, out: str) -> None:
    import torch.distributed as td
    td.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    calls = []
    real = td.all_reduce

    def counting(tensor, *args, **kwargs):
        calls.append(tuple(tensor.shape))
        return real(tensor, *args, **kwargs)
    td.all_reduce = counting
    try:
        model = types.SimpleNamespace(log_dict={"l_g_l1": torch.tensor(1.0 + rank), "l_d_gan": torch.tensor(10.0 * (rank + 1)),
                                                "out_d_real": torch.tensor(-float(rank))})
        got = SRModel.current_losses(model)
        torch.save({"got": got, "calls": calls}, os.path.join(out, f"rank{rank}.pt"))
    finally:
        td.all_reduce = real
        td.destroy_process_group()


def test_ddp_logs_the_mean_over_ranks_with_one_all_reduce(tmp_path):
    mp.start_processes(_rank, args=(_free_port(), str(tmp_path)), nprocs=2, join=True, start_method="fork")
    for r in (0, 1):
        res = torch.load(tmp_path / f"rank{r}.pt", weights_only=True)
        # rank 0 holds (1, 10, 0), rank 1 (2, 20, -1): the means, worked out by hand
        assert res["got"] == {"l_g_l1": 1.5, "l_d_gan": 15.0, "out_d_real": -0.5}
        assert res["calls"] == [(3,)]                 # one all-reduce of the stacked values per log line
