"""NaN/Inf losses or gradients: the step is skipped (weights, EMA and optimizer state untouched), logged
with the iteration and the loss term at fault; `train.max_nonfinite` in a row stop the run with exit 2,
one line, and the last good checkpoint intact."""
from __future__ import annotations

import copy
import os

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from reliability_utils import cli_main, tiny_options, write_options, write_photos
from sr_gan import options
from sr_gan.models.sr_model import NonFiniteStep
from sr_gan.registry import LOSSES, MODELS
from sr_gan.utils import checkpoint as ckpt


class _InfGrad(torch.autograd.Function):
    """Identity forward (the loss stays finite), infinite backward."""
    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad * float("inf")


class NonFiniteAtCalls(nn.Module):
    """L1 whose n-th forward calls (1-based) return NaN (`bad: loss`) or an infinite gradient (`bad: grad`)."""

    def __init__(self, calls: list = (), bad: str = "loss"):
        super().__init__()
        self.calls, self.bad, self.count = set(calls), bad, 0

    def forward(self, pred, target):
        self.count += 1
        loss = F.l1_loss(pred, target)
        if self.count in self.calls:
            loss = loss * float("nan") if self.bad == "loss" else _InfGrad.apply(loss)
        return loss


if "test_nonfinite_l1" not in LOSSES:
    LOSSES.register("test_nonfinite_l1", kind="generator")(NonFiniteAtCalls)


def _model(tmp_path, model="sr", **over):
    opt = options.validate(tiny_options(str(tmp_path), str(tmp_path / "exp"), model=model, **over))
    return MODELS.get(model)(opt, torch.device("cpu"))


def _batch(nan_hr=False):
    g = torch.Generator().manual_seed(0)
    hr = torch.rand(2, 3, 32, 32, generator=g)
    lr = F.avg_pool2d(hr, 4)
    if nan_hr:
        hr[0, 1, 5, 7] = float("nan")
    return {"lr": lr, "hr": hr}


def _snapshot(model) -> dict:
    return copy.deepcopy({"nets": {k: n.state_dict() for k, n in model.networks().items()},
                          "optimizers": {k: o.state_dict() for k, o in model.optimizers.items()}})


def _assert_unchanged(before: dict, model) -> None:
    after = _snapshot(model)
    for net, sd in before["nets"].items():
        for k, v in sd.items():
            assert torch.equal(v, after["nets"][net][k]), f"{net}.{k} changed by a skipped step"
    for name, sd in before["optimizers"].items():
        for idx, st in sd["state"].items():
            for k, v in st.items():
                assert torch.equal(v, after["optimizers"][name]["state"][idx][k]), f"optimizer {name} {k}"


def test_nan_in_the_hr_batch_skips_the_sr_step_and_names_the_loss_term(tmp_path):
    model = _model(tmp_path)
    model.feed_data(_batch())
    model.optimize_parameters(1)                       # a good step: Adam state now exists
    before = _snapshot(model)
    assert float(before["optimizers"]["g"]["state"][0]["step"]) == 1.0
    model.feed_data(_batch(nan_hr=True))
    with pytest.raises(NonFiniteStep, match=r"^l_g_l1$"):
        model.optimize_parameters(2)
    _assert_unchanged(before, model)
    assert all(p.grad is None for p in model.net_g.parameters())   # no stale NaN grads for the next step
    model.feed_data(_batch())
    model.optimize_parameters(2)                       # and training goes on
    assert float(model.optimizers["g"].state_dict()["state"][0]["step"]) == 2.0


def test_nan_in_the_hr_batch_skips_both_srgan_updates(tmp_path):
    model = _model(tmp_path, model="srgan")
    before = _snapshot(model)
    model.feed_data(_batch(nan_hr=True))
    with pytest.raises(NonFiniteStep) as info:
        model.optimize_parameters(1)
    terms = str(info.value).split(", ")
    # wgan_gp: G's adversarial term only sees D(sr), so it stays finite; everything touching HR is NaN
    assert {"l_g_l1", "l_g_perceptual", "l_d_gan", "l_d_gp"} <= set(terms) and "l_g_gan" not in terms
    _assert_unchanged(before, model)


def test_infinite_gradient_with_a_finite_loss_is_caught_and_named(tmp_path):
    model = _model(tmp_path, train__losses=[{"type": "test_nonfinite_l1", "calls": [1], "bad": "grad",
                                             "weight": 1.0}])
    before = _snapshot(model)
    model.feed_data(_batch())
    with pytest.raises(NonFiniteStep, match=r"^gradient of MSRResNet$"):
        model.optimize_parameters(1)
    _assert_unchanged(before, model)


def _loop(tmp_path, name, calls, **over):
    hr = os.path.dirname(write_photos(tmp_path / "hr", count=2, size=40)[0])
    opt = tiny_options(hr, str(tmp_path / "exp"), name=name,
                       train__losses=[{"type": "test_nonfinite_l1", "name": "pix", "calls": calls, "weight": 1.0}],
                       train__max_nonfinite=3, **over)
    return write_options(tmp_path / f"{name}.yml", opt), str(tmp_path / "exp" / name)


def test_loop_skips_isolated_nonfinite_steps_and_logs_iteration_and_term(tmp_path, capsys):
    yml, exp = _loop(tmp_path, "isolated", [3, 4], train__total_iter=6)
    assert cli_main(["-opt", yml]) == 0
    log = open(os.path.join(exp, "train.log")).read()
    assert "iteration 3: non-finite l_g_pix; step skipped (1/3)" in log
    assert "iteration 4: non-finite l_g_pix; step skipped (2/3)" in log
    assert "iteration 5: non-finite" not in log and "finished 6 iterations" in log


def test_loop_stops_after_max_nonfinite_in_a_row_with_last_good_checkpoint_intact(tmp_path, capsys):
    yml, exp = _loop(tmp_path, "diverged", list(range(5, 100)), train__total_iter=20, save__freq=2,
                     save__keep=5)
    assert cli_main(["-opt", yml]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and err.rstrip().endswith(errors[0]) and "Traceback" not in err
    folder = os.path.join(exp, "checkpoints")
    last = os.path.join(folder, "iter_00000006.pth")
    assert errors[0] == (f"error: train.max_nonfinite: 3 non-finite steps in a row (last: l_g_pix) at iteration 7; "
                         f"last good checkpoint: {last}")
    assert [os.path.basename(p) for p in ckpt.list_checkpoints(folder)] == [
        "iter_00000006.pth", "iter_00000004.pth", "iter_00000002.pth"]
    at4, at6 = ckpt.load_checkpoint(os.path.join(folder, "iter_00000004.pth")), ckpt.load_checkpoint(last)
    for net in ("g", "g_ema"):          # steps 5 and 6 were skipped: the weights did not move
        for k, v in at4["nets"][net].items():
            assert torch.equal(v, at6["nets"][net][k]) and torch.isfinite(v).all(), (net, k)
    assert at6["optimizers"]["g"]["state"][0]["step"] == at4["optimizers"]["g"]["state"][0]["step"] == 4
