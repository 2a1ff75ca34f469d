"""train.losses in the models: the weighted sum and its log names against formulas written out here,
weight-0 terms not built, the inputs a term asks for (lr, sr_ema, the hr_usm target) and the GAN target."""
from __future__ import annotations

import copy
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sr_gan import options
from sr_gan.degradations.usm import usm_sharp
from sr_gan.errors import OptionError
from sr_gan.registry import LOSSES, MODELS


class Recorder(nn.Module):
    """A term that asks for every extra input and keeps what it got (its value: mean |sr - target|)."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, sr, target, lr, sr_ema):
        self.seen.append({"target": target.detach().clone(), "lr": lr.clone(), "sr_ema": sr_ema.clone()})
        return (sr - target).abs().mean()


class AsksForDepth(nn.Module):
    def forward(self, sr, target, depth):
        return sr.mean()


for _name, _cls in (("test_terms_recorder", Recorder), ("test_terms_depth", AsksForDepth)):
    if _name not in LOSSES:
        LOSSES.register(_name, kind="generator")(_cls)


def _opt(model="sr", **train):
    raw = {"name": "t", "model": model, "scale": 4, "seed": 0,
           "datasets": {"train": {"type": "paired", "hr": "unused", "crop": 16}},
           "network_g": {"type": "msrresnet", "num_feat": 8, "num_block": 1},
           "train": {"total_iter": 10, "ema_decay": 0.0, "optim_g": {"lr": 1e-3}, **train}}
    if model == "srgan":
        raw["network_d"] = {"type": "patchgan", "num_feat": 8, "num_layers": 2, "norm": "none"}
    return options.validate(raw)


def _model(opt):
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")              # random VGG19 features
        return MODELS.get(opt["model"])(opt, torch.device("cpu"))


def _batch(**extra):
    g = torch.Generator().manual_seed(3)
    return {"lr": torch.rand(2, 3, 4, 4, generator=g), "hr": torch.rand(2, 3, 16, 16, generator=g), **extra}


def test_weighted_sum_log_names_and_gradient():
    opt = _opt(losses=[{"type": "l1", "weight": 0.5},
                       {"type": "mse", "weight": 2.0, "name": "pix2"},
                       {"type": "charbonnier", "weight": 0.0},
                       {"type": "perceptual", "weight": 0.3, "layers": {"conv1_1": 1.0}, "use_input_norm": False,
                        "style_weight": 2.0, "pretrained": False}])
    m = _model(opt)
    assert [t.name for t in m.losses.terms] == ["l1", "pix2", "perceptual"]        # weight 0: not built
    conv = m.losses.terms[2].module.vgg[0]
    g = copy.deepcopy(m.net_g)
    b = _batch()
    m.feed_data(b)
    m.optimize_parameters(1)

    sr = g(b["lr"])
    hr = b["hr"]
    fs, fh = F.conv2d(sr, conv.weight, conv.bias, padding=1), F.conv2d(hr, conv.weight, conv.bias, padding=1)

    def gram(f):
        x = f.flatten(2)
        return x @ x.transpose(1, 2) / (f.shape[1] * f.shape[2] * f.shape[3])
    want = {"l_g_l1": 0.5 * (sr - hr).abs().mean(), "l_g_pix2": 2.0 * ((sr - hr) ** 2).mean(),
            "l_g_perceptual_percep": 0.3 * (fs - fh).abs().mean(),
            "l_g_perceptual_style": 0.3 * 2.0 * (gram(fs) - gram(fh)).abs().mean()}
    want["l_g_perceptual"] = want["l_g_perceptual_percep"] + want["l_g_perceptual_style"]
    got = m.current_losses()
    assert set(got) == set(want)
    for k, v in want.items():
        assert got[k] == pytest.approx(v.item(), rel=1e-5), k
    # the generator's loss is the sum of the terms (parts counted once)
    total = want["l_g_l1"] + want["l_g_pix2"] + want["l_g_perceptual"]
    grads = torch.autograd.grad(total, list(g.parameters()))
    for p, ref in zip(m.net_g.parameters(), grads):
        torch.testing.assert_close(p.grad, ref, rtol=1e-4, atol=1e-7)


def test_inputs_a_term_asks_for_and_the_usm_target():
    m = _model(_opt(ema_decay=0.5, losses=[{"type": "test_terms_recorder", "target": "hr_usm"}]))
    rec = m.losses.terms[0].module
    ema = copy.deepcopy(m.ema.net)
    b = _batch()
    m.feed_data(b)
    m.optimize_parameters(1)
    seen = rec.seen[-1]
    assert torch.equal(seen["lr"], b["lr"])
    with torch.no_grad():
        assert torch.equal(seen["sr_ema"], ema(b["lr"]))          # the EMA generator before this step
    assert torch.equal(seen["target"], usm_sharp(b["hr"]))       # sharpened on the device, no batch key
    assert not torch.equal(seen["target"], b["hr"])
    # a batch that brings its own hr_usm (the real-world pipeline) is used as it is
    m.feed_data(_batch(hr_usm=torch.full((2, 3, 16, 16), 0.25)))
    m.optimize_parameters(2)
    assert torch.equal(rec.seen[-1]["target"], torch.full((2, 3, 16, 16), 0.25))


def test_nothing_extra_is_computed_when_no_term_asks():
    m = _model(_opt(ema_decay=0.5, losses=[{"type": "l1"}]))
    calls = []
    m.ema.net.register_forward_hook(lambda *a: calls.append(1))
    m.feed_data(_batch(hr_usm=torch.zeros(2, 3, 16, 16)))
    m.optimize_parameters(1)
    assert calls == [] and m.hr_usm is None


def test_gan_target_hr_usm_is_what_d_sees_as_real():
    m = _model(_opt("srgan", losses=[{"type": "l1"}], gan={"type": "hinge", "target": "hr_usm", "weight": 0.1},
                    optim_d={"lr": 1e-3}))
    seen = []
    m.net_d.register_forward_pre_hook(lambda mod, inp: seen.append(inp[0].detach().clone()))
    b = _batch()
    m.feed_data(b)
    m.optimize_parameters(1)
    assert torch.equal(seen[0], usm_sharp(b["hr"])) and len(seen) == 2


def test_gan_arguments_reach_the_objective():
    m = _model(_opt("srgan", gan={"type": "vanilla", "relativistic": True, "detach_mean": True, "real_label": 0.9}))
    assert type(m.gan).__name__ == "VanillaGAN" and m.gan.detach_mean and m.gan.real_label == 0.9
    assert not hasattr(m, "gan_loss")


def test_term_and_gan_constructor_errors_name_their_key():
    opt = _opt(losses=[{"type": "l1"}, {"type": "perceptual", "layers": {"conv9_9": 1.0}, "pretrained": False}])
    with pytest.raises(OptionError, match=r"^train\.losses\[1\]\.layers: unknown VGG19 layer 'conv9_9'"):
        _model(opt)
    with pytest.raises(OptionError, match=r"^train\.gan\.detach_mean: only applies to the relativistic form"):
        _model(_opt("srgan", gan={"type": "vanilla", "detach_mean": True}))


@pytest.mark.parametrize("train, needle", [
    ({"losses": [{"type": "test_terms_recorder"}]},
     "train.losses[0]: this term needs the EMA generator's output (sr_ema); set train.ema_decay > 0"),
    ({"losses": [{"type": "test_terms_depth"}]},
     "train.losses[0]: AsksForDepth.forward asks for 'depth'; a term may ask for lr, sr_ema"),
])
def test_inputs_checked_when_options_are_validated(train, needle):
    with pytest.raises(OptionError) as e:
        _opt(**train)
    assert str(e.value) == needle
