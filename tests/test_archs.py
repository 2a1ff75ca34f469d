"""Network architectures: shapes, gradients, published parameter names, discriminator variants."""
import inspect

import pytest
import torch

from sr_gan.errors import OptionError
from sr_gan.registry import ARCHS, list_archs
from sr_gan.utils.state_dict import canonical_state_dict, load_into

TINY = {"num_feat": 8, "num_block": 1, "num_grow_ch": 4}


def tiny(name, **kw):
    params = inspect.signature(ARCHS.get(name)).parameters
    cfg = {k: v for k, v in TINY.items() if k in params}
    cfg.update(kw)
    return ARCHS.build({"type": name, **cfg})


GEN_CASES = [(n, s) for n in list_archs("generator") for s in ARCHS.get(n).supported_scales]


@pytest.mark.parametrize("name,scale", GEN_CASES)
def test_generator_shape_and_grads(name, scale):
    torch.manual_seed(0)
    net = tiny(name, scale=scale)
    assert net.scale == scale
    x = torch.rand(2, 3, 12, 16)
    y = net(x)
    assert y.shape == (2, 3, 12 * scale, 16 * scale)
    y.square().mean().backward()
    grads = [p.grad for p in net.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(g.abs().sum() for g in grads) > 0


def test_rrdbnet_basicsr_names_and_layouts():
    keys = set(tiny("rrdbnet", scale=4).state_dict())
    for k in ("conv_first.weight", "body.0.rdb1.conv1.weight", "body.0.rdb3.conv5.bias", "conv_body.weight",
              "conv_up1.weight", "conv_up2.weight", "conv_hr.weight", "conv_last.weight"):
        assert k in keys
    assert "conv_up3.weight" not in keys
    assert "conv_up3.weight" in tiny("rrdbnet", scale=8).state_dict()
    assert "conv_up2.weight" not in tiny("rrdbnet", scale=3).state_dict()
    # Real-ESRGAN x2: pixel-unshuffled input, so conv_first sees 4x the channels
    assert tiny("rrdbnet", scale=2).conv_first.weight.shape == (8, 12, 3, 3)
    # default size is the published ESRGAN: 16,697,987 parameters
    assert sum(p.numel() for p in ARCHS.get("rrdbnet")().parameters()) == 16697987


def test_msrresnet_names_and_bilinear_residual():
    net = tiny("msrresnet", scale=4)
    keys = set(net.state_dict())
    assert {"conv_first.weight", "body.0.conv1.weight", "body.0.conv2.bias", "upconv1.weight",
            "upconv2.weight", "conv_hr.weight", "conv_last.weight"} <= keys
    assert net.upconv1.weight.shape[0] == 8 * 4
    assert tiny("msrresnet", scale=3).upconv1.weight.shape[0] == 8 * 9
    # zeroing the last conv leaves exactly the bilinear upsample: the global residual is there
    torch.nn.init.zeros_(net.conv_last.weight)
    torch.nn.init.zeros_(net.conv_last.bias)
    x = torch.rand(1, 3, 8, 8)
    expected = torch.nn.functional.interpolate(x, scale_factor=4, mode="bilinear", align_corners=False)
    assert torch.allclose(net(x), expected, atol=1e-6)
    # BasicSR MSRResNet default (nf 64, nb 16, x4): 1,517,571 parameters
    assert sum(p.numel() for p in ARCHS.get("msrresnet")().parameters()) == 1517571


def test_unsupported_scale_is_one_line_option_error():
    with pytest.raises(OptionError) as err:
        ARCHS.build({"type": "rrdbnet"}, scale=5)
    assert str(err.value) == "network_g.scale: rrdbnet supports 1, 2, 3, 4, 8; got 5"
    with pytest.raises(OptionError, match="msrresnet supports"):
        ARCHS.build({"type": "msrresnet"}, scale=5)


def test_rrdbnet_x2_rejects_odd_input():
    with pytest.raises(ValueError, match="divisible by 2"):
        tiny("rrdbnet", scale=2)(torch.rand(1, 3, 9, 8))


def test_basicsr_container_loads_and_prefers_ema():
    torch.manual_seed(0)
    src, other = tiny("rrdbnet", scale=4), tiny("rrdbnet", scale=4)
    ckpt = {"params_ema": src.state_dict(), "params": other.state_dict()}
    dst = tiny("rrdbnet", scale=4)
    result = dst.load_state_dict(canonical_state_dict(ckpt))
    assert result.missing_keys == [] and result.unexpected_keys == []
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(dst(x), src(x))
        assert not torch.allclose(dst(x), other(x))
    load_into(dst, canonical_state_dict(ckpt, prefer_ema=False))
    with torch.no_grad():
        assert torch.equal(dst(x), other(x))
    # only 'params_ema' present (many Real-ESRGAN releases): no KeyError 'params'
    assert canonical_state_dict({"params_ema": src.state_dict()}).keys() == src.state_dict().keys()
    assert canonical_state_dict({"params": src.state_dict()}).keys() == src.state_dict().keys()


# ---------------------------------------------------------------- discriminators

D_SIZE = 64


@pytest.mark.parametrize("name", list_archs("discriminator"))
@pytest.mark.parametrize("in_ch", [3, 6])
def test_discriminator_shapes_features_grads(name, in_ch):
    torch.manual_seed(0)
    kw = {"input_size": D_SIZE} if name == "vgg" else {}
    net = tiny(name, num_in_ch=in_ch, **kw)
    x = torch.rand(2, in_ch, D_SIZE, D_SIZE, requires_grad=True)
    logits, feats = net(x, return_features=True)
    expected = {"vgg": (2, 1), "patchgan": (2, 1, 6, 6), "unet_sn": (2, 1, D_SIZE, D_SIZE)}[name]
    assert logits.shape == expected
    assert len(feats) > 0 and all(f.shape[0] == 2 for f in feats)
    assert net(x).shape == expected
    (logits.mean() + sum(f.mean() for f in feats)).backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters() if p.requires_grad)


@pytest.mark.parametrize("size", [64, 96])
def test_vgg_input_sizes(size):
    net = tiny("vgg", input_size=size)
    assert net.linear1.in_features == 8 * 8 * (size // 32) ** 2
    assert net(torch.rand(2, 3, size, size)).shape == (2, 1)
    with pytest.raises(ValueError, match=f"expected {size}x{size} patches, got 32x32"):
        net(torch.rand(1, 3, 32, 32))
    with pytest.raises(OptionError, match="multiple of 32"):
        tiny("vgg", input_size=100)


def test_vgg_basicsr_names():
    keys = set(ARCHS.get("vgg")(num_feat=8).state_dict())
    assert {"conv0_0.weight", "conv0_0.bias", "conv0_1.weight", "bn0_1.weight", "conv1_0.weight", "bn1_0.weight",
            "conv4_1.weight", "bn4_1.running_var", "linear1.weight", "linear2.bias"} <= keys
    assert "conv0_1.bias" not in keys and "bn0_0.weight" not in keys


@pytest.mark.parametrize("layers,field", [(1, 16), (2, 34), (3, 70)])
def test_patchgan_receptive_field(layers, field):
    torch.manual_seed(0)
    net = tiny("patchgan", num_layers=layers, norm="none")
    assert net.receptive_field == field
    # measure it: the input region influencing one interior logit is field x field pixels
    x = torch.rand(1, 3, 160, 160, requires_grad=True)
    out = net(x)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    rows = x.grad.abs().sum(dim=(0, 1, 3)).nonzero()
    assert rows.max() - rows.min() + 1 == field


@pytest.mark.parametrize("norm", ["batch", "instance", "spectral", "none"])
def test_patchgan_norms(norm):
    net = tiny("patchgan", norm=norm)
    assert net(torch.rand(2, 3, 64, 64)).shape == (2, 1, 6, 6)
    keys = set(net.state_dict())
    assert ("model.0.weight_orig" in keys) == (norm == "spectral")
    assert ("model.3.running_mean" in keys) == (norm == "batch")
    with pytest.raises(OptionError, match="batch, instance, spectral, none"):
        tiny("patchgan", norm="group")


def test_unet_sn_spectral_norm_applied():
    torch.manual_seed(0)
    net = tiny("unet_sn").train()
    sd = net.state_dict()
    for i in range(1, 9):  # published net: conv1..conv8 spectral-normalised, conv0 and head conv9 plain
        assert {f"conv{i}.weight_orig", f"conv{i}.weight_u", f"conv{i}.weight_v"} <= set(sd)
    assert "conv0.weight" in sd and "conv0.weight_orig" not in sd and "conv9.weight_orig" not in sd
    with torch.no_grad():
        for _ in range(30):  # one power iteration per training forward
            net(torch.rand(1, 3, 32, 32))
    for i in range(1, 9):
        conv = getattr(net, f"conv{i}")
        sigma = torch.linalg.matrix_norm(conv.weight.reshape(conv.weight.shape[0], -1), ord=2)
        raw = torch.linalg.matrix_norm(conv.weight_orig.reshape(conv.weight.shape[0], -1), ord=2)
        assert abs(sigma.item() - 1) < 0.05, (i, sigma)
        assert abs(raw.item() - 1) > 0.1  # the raw weight is not normalised, so the wrapper did it


@pytest.mark.parametrize("size", [(30, 30), (21, 19), (64, 48)])
def test_unet_sn_any_size(size):
    net = tiny("unet_sn")
    assert net(torch.rand(1, 3, *size)).shape == (1, 1, *size)


def test_unet_matches_published_fixed_factor_upsampling_for_multiples_of_8():
    """Interpolating to the skip size equals the published scale_factor=2 when sizes are multiples of 8."""
    import torch.nn.functional as F
    torch.manual_seed(0)
    net = tiny("unet_sn").eval()
    x = torch.rand(1, 3, 32, 40)
    lr = lambda t: F.leaky_relu(t, 0.2)  # noqa: E731
    up = lambda t: F.interpolate(t, scale_factor=2, mode="bilinear", align_corners=False)  # noqa: E731
    with torch.no_grad():
        x0 = lr(net.conv0(x)); x1 = lr(net.conv1(x0)); x2 = lr(net.conv2(x1)); x3 = lr(net.conv3(x2))  # noqa: E702
        x4 = lr(net.conv4(up(x3))) + x2
        x5 = lr(net.conv5(up(x4))) + x1
        x6 = lr(net.conv6(up(x5))) + x0
        ref = net.conv9(lr(net.conv8(lr(net.conv7(x6)))))
        assert torch.allclose(net(x), ref, atol=1e-6)
