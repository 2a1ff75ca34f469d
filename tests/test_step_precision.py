"""What the fast training step keeps: the perceptual VGG at train.amp's precision with fp32 loss values,
channels_last loss networks with unchanged values, and the CPU Adam against Adam's formula."""
from __future__ import annotations

import warnings

import pytest
import torch

from sr_gan import options
from sr_gan.losses.perceptual import PerceptualLoss
from sr_gan.registry import MODELS


def _srgan(amp: str, channels_last: bool = False, vgg_autocast: bool = True):
    raw = {
        "name": "prec", "model": "srgan", "scale": 4, "device": "cpu",
        "datasets": {"train": {"type": "paired", "hr": "unused", "crop": 32, "batch": 2, "workers": 0}},
        "network_g": {"type": "msrresnet", "num_feat": 8, "num_block": 1},
        "network_d": {"type": "patchgan", "num_feat": 8, "num_layers": 2, "norm": "none"},
        "train": {"amp": amp, "channels_last": channels_last, "ema_decay": 0.5,
                  "losses": [{"type": "l1", "weight": 1.0},
                             {"type": "perceptual", "layers": {"conv2_2": 1.0}, "weight": 1.0, "pretrained": False,
                              "autocast": vgg_autocast}],
                  "gan": {"type": "vanilla", "weight": 0.1}},
    }
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")       # random VGG features
        m = MODELS.get("srgan")(options.validate(raw), torch.device("cpu"))
    g = torch.Generator().manual_seed(1)
    m.feed_data({"lr": torch.rand(2, 3, 8, 8, generator=g), "hr": torch.rand(2, 3, 32, 32, generator=g)})
    return m


def _vgg(m) -> PerceptualLoss:
    return next(t.module for t in m.losses.terms if t.name == "perceptual")


@pytest.mark.parametrize("vgg_autocast,dtype", [(True, torch.bfloat16), (False, torch.float32)])
def test_perceptual_vgg_runs_at_the_amp_precision_and_its_loss_stays_fp32(vgg_autocast, dtype):
    m = _srgan("bf16", vgg_autocast=vgg_autocast)
    vgg = _vgg(m)
    seen = []
    vgg.vgg[0].register_forward_hook(lambda mod, inp, out: seen.append(out.dtype))
    m.optimize_parameters(1)
    assert seen == [dtype, dtype]                          # VGG(sr) and VGG(hr)
    value = m.log_dict["l_g_perceptual"]
    assert value.dtype == torch.float32 and torch.isfinite(value)


def test_bf16_perceptual_value_is_the_fp32_value_to_bf16_accuracy():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loss = PerceptualLoss(layers={"conv3_4": 1.0}, pretrained=False)
    g = torch.Generator().manual_seed(2)
    sr, hr = torch.rand(2, 3, 48, 48, generator=g), torch.rand(2, 3, 48, 48, generator=g)
    with torch.no_grad():
        # reference: the distance between the fp32 features, computed by hand from the VGG's layers
        a, b = (sr - loss.mean) / loss.std, (hr - loss.mean) / loss.std
        for layer in loss.vgg:
            a, b = layer(a), layer(b)
        ref = (a - b).abs().mean()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = loss(sr, hr)
    assert low.dtype == torch.float32
    # bf16 keeps 8 significant bits: 16 layers of rounding leave the mean |difference| within ~2 %
    assert abs(low.item() - ref.item()) / ref.item() < 0.02
    assert low.item() != ref.item()                         # it really ran in bf16


def test_channels_last_loss_network_gives_the_same_values():
    m = _srgan("none", channels_last=True)
    vgg = _vgg(m)
    assert vgg.vgg[0].weight.is_contiguous(memory_format=torch.channels_last)
    sr = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(3)).contiguous(memory_format=torch.channels_last)
    hr = m.hr
    with torch.no_grad():
        cl = vgg(sr, hr)
        vgg.to(memory_format=torch.contiguous_format)           # what the step did before: NCHW weights
        nchw = vgg(sr, hr)
    assert torch.equal(cl, nchw)                                # a layout change, not a numerics change


def test_cpu_adam_step_follows_adams_formula():
    """The model's optimizer (fused on CPU) against Adam written out (Kingma & Ba, with L2 weight decay)."""
    m = _srgan("none")
    opt = m.optimizers["g"]
    group = opt.param_groups[0]
    lr, (b1, b2), eps = group["lr"], group["betas"], group["eps"]
    params = [p for p in m.net_g.parameters()]
    start = [p.detach().clone() for p in params]
    gen = torch.Generator().manual_seed(4)
    grads = [[torch.randn(p.shape, generator=gen) * 1e-2 for p in params] for _ in range(3)]
    mom = [torch.zeros_like(p, dtype=torch.float64) for p in params]
    var = [torch.zeros_like(p, dtype=torch.float64) for p in params]
    ref = [p.double() for p in start]
    for t, gs in enumerate(grads, 1):
        for p, gr in zip(params, gs):
            p.grad = gr.clone()
        opt.step()
        for i, gr in enumerate(gs):
            mom[i] = b1 * mom[i] + (1 - b1) * gr.double()
            var[i] = b2 * var[i] + (1 - b2) * gr.double() ** 2
            m_hat, v_hat = mom[i] / (1 - b1 ** t), var[i] / (1 - b2 ** t)
            ref[i] = ref[i] - lr * m_hat / (v_hat.sqrt() + eps)
    for p, r, s in zip(params, ref, start):
        assert not torch.equal(p.detach(), s)
        # fp32 rounding of the stored weights (~1e-7 relative); the 3 steps moved them by ~3e-4
        torch.testing.assert_close(p.detach().double(), r, rtol=3e-7, atol=1e-8)


def test_low_precision_vgg_copy_matches_autocasts_own_casts_and_follows_new_weights():
    """Under autocast the frozen VGG runs from a bf16 copy made once; autocast itself would cast the
    weights at every call. Same rounding, so the same values, also after the weights are replaced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loss = PerceptualLoss(layers={"conv2_2": 1.0, "conv3_1": 0.5}, pretrained=False)
    g = torch.Generator().manual_seed(5)
    sr, hr = torch.rand(2, 3, 24, 24, generator=g), torch.rand(2, 3, 24, 24, generator=g)

    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        first = loss(sr, hr)
        copy1 = loss.__dict__["_low_precision"][1]
        again = loss(sr, hr)
    assert loss.__dict__["_low_precision"][1] is copy1 and torch.equal(first, again)   # made once
    assert all(p.dtype == torch.bfloat16 for p in copy1.parameters())
    assert "_low_precision" not in str(list(loss.state_dict()))

    def reference():
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            feats = {}
            for x, key in ((sr, "sr"), (hr, "hr")):
                x = (x - loss.mean) / loss.std
                for i, layer in enumerate(loss.vgg):
                    x = layer(x)                 # autocast casts this fp32 layer's weight here
                    if i == 7:
                        feats[key, "conv2_2"] = x.float()
                    if i == 10:
                        feats[key, "conv3_1"] = x.float()
            return sum(w * (feats["sr", n] - feats["hr", n]).abs().mean() for n, w in (("conv2_2", 1.0), ("conv3_1", 0.5)))

    assert torch.equal(first, reference())
    torch.manual_seed(6)
    loss.vgg.load_state_dict({k: torch.randn_like(v) * 0.05 for k, v in loss.vgg.state_dict().items()})
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        replaced = loss(sr, hr)
    assert not torch.equal(replaced, first) and torch.equal(replaced, reference())
