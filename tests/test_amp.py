"""Mixed precision (train.amp), the torch.compile fallback and the step's cheap-update switches."""
from __future__ import annotations

import copy
import warnings

import pytest
import torch

from sr_gan import options
from sr_gan.registry import MODELS


def _model(amp: str = "none", gan: str = "vanilla", compile_: bool = False, model: str = "srgan"):
    raw = {
        "name": "amp", "model": model, "scale": 4, "device": "cpu",
        "datasets": {"train": {"type": "paired", "hr": "unused", "crop": 16, "batch": 2, "workers": 0}},
        "network_g": {"type": "msrresnet", "num_feat": 8, "num_block": 1},
        "train": {"amp": amp, "compile": compile_, "ema_decay": 0.5, "optim_g": {"lr": 1e-3}, "optim_d": {"lr": 1e-3},
                  "losses": [{"type": "l1", "weight": 1.0}]},
    }
    if model == "srgan":
        raw["network_d"] = {"type": "patchgan", "num_feat": 8, "num_layers": 2, "norm": "none"}
        raw["train"]["losses"].append({"type": "perceptual", "layers": {"conv1_1": 1.0}, "weight": 0.1, "pretrained": False})
        raw["train"]["gan"] = {"type": gan, "weight": 0.1}
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")       # random VGG features
        m = MODELS.get(model)(options.validate(raw), torch.device("cpu"))
    g = torch.Generator().manual_seed(1)
    m.feed_data({"lr": torch.rand(2, 3, 4, 4, generator=g), "hr": torch.rand(2, 3, 16, 16, generator=g)})
    return m


def _weights(m) -> dict:
    return {k: [p.detach().clone() for p in n.parameters()] for k, n in m.networks().items()}


def _changed(before: dict, after: dict, net: str) -> bool:
    return any(not torch.equal(a, b) for a, b in zip(before[net], after[net]))


@pytest.mark.parametrize("amp,low", [("bf16", torch.bfloat16), ("fp16", torch.float16)])
def test_mixed_precision_steps_train_with_fp32_losses(amp, low):
    m = _model(amp)
    conv_out = []
    first_conv = next(x for x in m.net_g.modules() if isinstance(x, torch.nn.Conv2d))
    first_conv.register_forward_hook(lambda mod, inp, out: conv_out.append(out.dtype))
    before = _weights(m)
    steps = 3 if amp == "fp16" else 1     # fp16: GradScaler may skip the first steps (scale 65536 overflows)
    for step in range(1, steps + 1):
        m.optimize_parameters(step)
    after = _weights(m)
    assert conv_out == [low] * steps                     # the generator really ran under autocast
    terms = {k: v for k, v in m.log_dict.items() if k.startswith("l_")}
    assert set(terms) == {"l_g_l1", "l_g_perceptual", "l_g_gan", "l_d_gan"}
    for k, v in terms.items():
        assert v.dtype == torch.float32 and v.dim() == 0 and torch.isfinite(v), (k, v)
    assert _changed(before, after, "g") and _changed(before, after, "d") and _changed(before, after, "g_ema")
    assert all(p.dtype == torch.float32 for ps in after.values() for p in ps)   # master weights stay fp32
    assert m.precision.scaler.is_enabled() == (amp == "fp16")


def test_gradient_penalty_pass_runs_without_autocast():
    m = _model("bf16", gan="wgan_gp")
    seen = []
    m.net_d.register_forward_pre_hook(lambda mod, inp: seen.append((torch.is_autocast_enabled("cpu"), inp[0].dtype)))
    m.optimize_parameters(1)
    # D(real) and D(fake) under bf16 autocast, then the penalty's D(x_hat) in plain fp32
    assert seen == [(True, torch.float32), (True, torch.float32), (False, torch.float32)]
    assert m.log_dict["l_d_gp"].dtype == torch.float32 and torch.isfinite(m.log_dict["l_d_gp"])


def test_failing_compile_falls_back_to_eager_with_one_warning(monkeypatch):
    class Broken(torch.nn.Module):       # what a compile failure looks like: raising at the first call
        calls = 0

        def forward(self, *args, **kwargs):
            Broken.calls += 1
            raise RuntimeError("inductor: C++ compiler not found\nmore detail")

    monkeypatch.setattr(torch, "compile", lambda net, **kw: Broken())
    eager = _model("none")
    with pytest.warns(UserWarning, match=r"train\.compile: compiled network_g failed \(RuntimeError: inductor: C\+\+ compiler not found\); running eagerly"):
        m = _model("none", compile_=True)
        m.optimize_parameters(1)
    eager.optimize_parameters(1)
    assert Broken.calls == 2                 # G once, D once; never again after the fallback
    with warnings.catch_warnings():
        warnings.simplefilter("error")       # later steps: no new warnings, no compiled calls
        m.optimize_parameters(2)
    assert Broken.calls == 2
    eager.optimize_parameters(2)
    for a, b in zip(m.net_g.parameters(), eager.net_g.parameters()):
        torch.testing.assert_close(a, b)     # same numbers as a model built without compile


def test_fallback_does_not_hide_real_errors(monkeypatch):
    monkeypatch.setattr(torch, "compile", lambda net, **kw: (lambda *a, **k: (_ for _ in ()).throw(RuntimeError("x"))))
    m = _model("none", compile_=True, model="sr")
    m.lr = torch.rand(2, 5, 4, 4)            # wrong channel count: the eager retry must raise it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(RuntimeError, match="channels"):
            m.optimize_parameters(1)


def test_optimizers_are_fused_and_each_step_starts_from_fresh_gradients():
    m = _model("none")
    for opt in m.optimizers.values():
        assert opt.defaults["fused"] is True and not opt.defaults.get("foreach")   # CPU: fused
    sr = _model("none", model="sr")
    sr.optimize_parameters(1)
    g = torch.Generator().manual_seed(5)
    lr, hr = torch.rand(2, 3, 4, 4, generator=g), torch.rand(2, 3, 16, 16, generator=g)
    before = [p.detach().clone() for p in sr.net_g.parameters()]
    sr.feed_data({"lr": lr, "hr": hr})
    sr.optimize_parameters(2)
    # the gradient left on G is step 2's alone (step 1's was not accumulated into it)
    net = copy.deepcopy(sr.net_g)
    with torch.no_grad():
        for p, b in zip(net.parameters(), before):
            p.copy_(b)
    want = torch.autograd.grad((net(lr) - hr).abs().mean(), list(net.parameters()))
    for p, w in zip(sr.net_g.parameters(), want):
        torch.testing.assert_close(p.grad, w, rtol=1e-4, atol=1e-7)
