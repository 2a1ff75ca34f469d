"""The generator's EMA against the recurrence written out by hand, with its warm-up:
e_0 = G_0,  e_t = d_t e_{t-1} + (1 - d_t) G_t,  d_t = min(decay, (1 + t) / (10 + t)),  t = 1, 2, ...
(the iteration number of the update, 1-based), and the EMA is what validation scores."""
from __future__ import annotations

import copy

import pytest
import torch

from sr_gan import options
from sr_gan.models._parts import EMA
from sr_gan.registry import MODELS


def _decay(decay: float, t: int) -> float:
    return min(decay, (1.0 + t) / (10.0 + t))


def test_warmup_decays_spelled_out():
    ema = EMA(torch.nn.Linear(1, 1), 0.5)
    # (1+t)/(10+t): 2/11, 3/12, ..., 8/17 below 0.5; from t = 8 (9/18) on the configured 0.5
    assert [ema.decay_at(t) for t in (1, 2, 7, 8, 9, 100)] == pytest.approx([2 / 11, 0.25, 8 / 17, 0.5, 0.5, 0.5])
    assert EMA(torch.nn.Linear(1, 1), 0.999).decay_at(8991) == pytest.approx(0.999)
    assert EMA(torch.nn.Linear(1, 1), 0.999).decay_at(100) == pytest.approx(101 / 110)


def test_ema_after_k_updates_equals_the_closed_form():
    """Scalar weights set to known values G_t before update t; e_k = prod d_t e_0 + sum_t (1-d_t) prod_{s>t} d_s G_t."""
    net = torch.nn.Linear(1, 1, bias=False)
    net.register_buffer("count", torch.zeros(()))
    with torch.no_grad():
        net.weight.fill_(1.0)                        # e_0 = G_0 = 1
    ema = EMA(net, 0.5)
    values = [2.0, -1.0, 4.0, 0.5, 3.0, 3.0, -2.0, 1.0, 6.0, 0.25, 5.0, -4.0]   # G_1 .. G_12
    for t, v in enumerate(values, start=1):
        with torch.no_grad():
            net.weight.fill_(v)
            net.count.fill_(t)
        ema.update(t)
    k = len(values)
    ds = [_decay(0.5, t) for t in range(1, k + 1)]
    expected = 1.0
    for d in ds:
        expected *= d
    for t, v in enumerate(values, start=1):
        tail = 1.0
        for d in ds[t:]:
            tail *= d
        expected += (1 - ds[t - 1]) * tail * v
    assert ema.net.weight.item() == pytest.approx(expected, rel=1e-6)
    # the first two updates by hand: d_1 = 2/11, d_2 = 1/4
    e1 = 2 / 11 * 1.0 + 9 / 11 * 2.0
    e2 = 0.25 * e1 + 0.75 * -1.0
    net2 = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        net2.weight.fill_(1.0)
    ema2 = EMA(net2, 0.999)
    for t, v in ((1, 2.0), (2, -1.0)):
        with torch.no_grad():
            net2.weight.fill_(v)
        ema2.update(t)
    assert ema2.net.weight.item() == pytest.approx(e2, rel=1e-6)
    assert ema.net.count.item() == k                 # buffers (BatchNorm statistics) are copied, not averaged
    assert not ema.net.weight.requires_grad


def _sr_model(decay: float):
    raw = {"name": "ema", "scale": 4, "model": "sr",
           "datasets": {"train": {"type": "paired", "hr": "unused", "crop": 16}},
           "network_g": {"type": "msrresnet", "num_feat": 4, "num_block": 1},
           "train": {"ema_decay": decay, "optim_g": {"lr": 1e-2}, "losses": [{"type": "l1", "weight": 1.0}]}}
    torch.manual_seed(0)
    return MODELS.get("sr")(options.validate(raw), torch.device("cpu"))


def _params(net):
    return [p.detach().clone() for p in net.parameters()]


def test_model_steps_update_the_ema_with_the_warmup_schedule():
    """SRModel.optimize_parameters(t), t = 1..10: e_10 from G_0..G_10 by the recurrence (both regimes of d_t)."""
    m = _sr_model(0.5)
    g = torch.Generator().manual_seed(1)
    e = _params(m.net_g)
    assert all(torch.equal(a, b) for a, b in zip(e, _params(m.ema.net)))    # starts as a copy of G
    for t in range(1, 11):
        m.feed_data({"lr": torch.rand(2, 3, 4, 4, generator=g), "hr": torch.rand(2, 3, 16, 16, generator=g)})
        m.optimize_parameters(t)
        d = _decay(0.5, t)
        e = [d * a + (1 - d) * p for a, p in zip(e, _params(m.net_g))]
    for a, b in zip(_params(m.ema.net), e):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
    assert max((a - b).abs().max() for a, b in zip(e, _params(m.net_g))) > 1e-3   # and it is not G


def test_model_scores_with_the_ema_not_the_raw_generator():
    m = _sr_model(0.5)
    g = torch.Generator().manual_seed(2)
    for t in (1, 2, 3):
        m.feed_data({"lr": torch.rand(2, 3, 4, 4, generator=g), "hr": torch.rand(2, 3, 16, 16, generator=g)})
        m.optimize_parameters(t)
    lr = torch.rand(1, 3, 6, 6, generator=g)
    with torch.no_grad():
        out = m.inference_net(lr).clamp(0, 1)          # what validation, export and upscale run
        ema_out = copy.deepcopy(m.ema.net).eval()(lr).clamp(0, 1)
        raw_out = copy.deepcopy(m.net_g).eval()(lr).clamp(0, 1)
    assert torch.equal(out, ema_out)
    assert (out - raw_out).abs().max() > 1e-4
