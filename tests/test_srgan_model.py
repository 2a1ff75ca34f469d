"""The GAN model: every loss type x {standard, relativistic} x every discriminator trains (a smoke matrix
over the discriminators; the values of one step are pinned in tests/test_gan_step.py); the update rules
(frozen D in the G step, one D forward per batch, gan.weight 0 == sr model) hold exactly."""
import itertools

import pytest
import torch

from sr_gan import options
from sr_gan.models.srgan_model import feature_matching_loss
from sr_gan.registry import LOSSES, MODELS, list_archs

BASE = {"name": "t", "scale": 4, "model": "srgan", "seed": 0,
        "datasets": {"train": {"type": "paired", "hr": "unused", "crop": 32}},
        "network_g": {"type": "msrresnet", "num_feat": 8, "num_block": 1},
        "network_d": {"type": "vgg", "num_feat": 8},
        "train": {"total_iter": 10, "ema_decay": 0.5,
                  "losses": [{"type": "l1", "weight": 1e-2},
                             {"type": "perceptual", "layers": {"conv2_2": 1.0}, "pretrained": False, "weight": 1.0}],
                  "gan": {"type": "vanilla", "weight": 5e-3}}}


def make(overrides=None, model=None, d=None, gan=None, seed=0):
    o = {k: (dict(v) if isinstance(v, dict) else v) for k, v in BASE.items()}
    o["train"] = dict(BASE["train"])
    if d:
        o["network_d"] = d
    if gan:
        o["train"]["gan"] = gan
    for k, v in (overrides or {}).items():
        o["train"][k] = v
    if model:
        o["model"] = model
    opt = options.validate(o)
    torch.manual_seed(seed)
    return MODELS.get(opt["model"])(opt, torch.device("cpu")), opt


def batch(seed=1):
    g = torch.Generator().manual_seed(seed)
    return {"lr": torch.rand(2, 3, 8, 8, generator=g), "hr": torch.rand(2, 3, 32, 32, generator=g)}


def params(net):
    return [p.detach().clone() for p in net.parameters()]


def changed(before, net):
    return any(not torch.equal(a, b) for a, b in zip(before, net.parameters()))


@pytest.mark.filterwarnings("ignore:perceptual loss with pretrained false")
@pytest.mark.parametrize("gan_type, relativistic, d_type",
                         list(itertools.product(LOSSES.names("gan"), [False, True], list_archs("discriminator"))))
def test_every_gan_type_and_discriminator_trains(gan_type, relativistic, d_type):
    m, _ = make(d={"type": d_type, "num_feat": 8}, gan={"type": gan_type, "relativistic": relativistic, "weight": 5e-3})
    g0, d0 = params(m.net_g), params(m.net_d)
    m.feed_data(batch())
    for step in (1, 2, 3):
        m.optimize_parameters(step)
        losses = m.current_losses()
        assert all(v == v and abs(v) != float("inf") for v in losses.values()), losses
    assert {"l_g_l1", "l_g_perceptual", "l_g_gan", "l_d_gan", "out_d_real", "out_d_fake"} <= set(losses)
    if gan_type == "wgan_gp":
        assert losses["l_d_gp"] > 0
    assert changed(g0, m.net_g) and changed(d0, m.net_d)


@pytest.mark.filterwarnings("ignore:perceptual loss with pretrained false")
def test_gan_weight_zero_with_pixel_only_equals_sr_model():
    gan_model, _ = make({"losses": [{"type": "l1", "weight": 1.0}]}, gan={"type": "vanilla", "weight": 0.0})
    o = {k: v for k, v in BASE.items() if k != "network_d"}
    o = dict(o, model="sr", train=dict(BASE["train"], gan=None, losses=[{"type": "l1", "weight": 1.0}]))
    opt = options.validate(o)
    torch.manual_seed(0)
    sr_model = MODELS.get("sr")(opt, torch.device("cpu"))
    for step in (1, 2, 3):
        b = batch(step)
        for m in (gan_model, sr_model):
            m.feed_data(b)
            m.optimize_parameters(step)
    for a, b in zip(gan_model.net_g.parameters(), sr_model.net_g.parameters()):
        assert torch.equal(a, b)
    for a, b in zip(gan_model.ema.net.parameters(), sr_model.ema.net.parameters()):
        assert torch.equal(a, b)


@pytest.mark.filterwarnings("ignore:perceptual loss with pretrained false")
def test_discriminator_frozen_during_generator_step():
    m, _ = make({"d_update": {"ratio": 0.0}})          # ratio 0: no D update at all, only the G step
    d0 = params(m.net_d)
    m.feed_data(batch())
    m.optimize_parameters(1)
    assert all(p.grad is None for p in m.net_d.parameters())
    assert not changed(d0, m.net_d)
    assert m.current_losses()["l_g_gan"] != 0


@pytest.mark.filterwarnings("ignore:perceptual loss with pretrained false")
@pytest.mark.parametrize("gan_type, expected", [("vanilla", 2), ("wgan_gp", 3)])
def test_one_discriminator_forward_per_batch(gan_type, expected):
    m, _ = make(gan={"type": gan_type, "relativistic": True, "weight": 5e-3})
    calls = []
    m.net_d.register_forward_hook(lambda mod, inp, out: calls.append(inp[0].shape))
    m.feed_data(batch())
    m.optimize_parameters(1)
    assert len(calls) == expected          # real + fake (+ the interpolates of the gradient penalty)


@pytest.mark.filterwarnings("ignore:perceptual loss with pretrained false")
def test_d_init_iters_trains_only_the_discriminator():
    m, _ = make({"d_update": {"ratio": 1.0, "init_iters": 2}})
    g0, d0 = params(m.net_g), params(m.net_d)
    m.feed_data(batch())
    m.optimize_parameters(1)
    assert not changed(g0, m.net_g) and changed(d0, m.net_d)
    m.optimize_parameters(3)
    assert changed(g0, m.net_g)


@pytest.mark.filterwarnings("ignore:perceptual loss with pretrained false")
def test_conditional_discriminator_sees_the_lr_image():
    m, _ = make(d={"type": "patchgan", "num_feat": 8, "conditional": True, "norm": "none"})
    b = batch()
    m.feed_data(b)
    out1, _ = m._discriminate(b["hr"], False)
    m.feed_data({"lr": b["lr"].flip(-1), "hr": b["hr"]})            # only the condition changes
    out2, _ = m._discriminate(b["hr"], False)
    assert not torch.allclose(out1, out2)
    m.optimize_parameters(1)                                        # and it trains
    assert all(v == v for v in m.current_losses().values())


def test_feature_matching_zero_for_identical_images():
    from sr_gan.registry import ARCHS
    d = ARCHS.build({"type": "unet_sn", "num_feat": 8}).eval()   # eval: no power iteration between calls
    x = torch.rand(2, 3, 32, 32)
    _, fa = d(x, return_features=True)
    _, fb = d(x.clone(), return_features=True)
    assert feature_matching_loss(fa, fb).item() == 0.0
    _, fc = d(torch.rand(2, 3, 32, 32), return_features=True)
    assert feature_matching_loss(fc, fa).item() > 0
    assert feature_matching_loss(fc, fa, [0]).item() == pytest.approx((fc[0] - fa[0]).abs().mean().item())
