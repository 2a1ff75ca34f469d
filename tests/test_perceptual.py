"""VGG19 perceptual loss: hand computations against torchvision's own vgg19 features."""
import os
import warnings

import pytest
import torch
import torch.nn.functional as F
import torchvision

from sr_gan.errors import MissingWeightsError, OptionError
from sr_gan.losses.perceptual import PerceptualLoss
from sr_gan.registry import LOSSES
from weights_utils import place_in_cache, use_hub

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def random_loss(**kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return PerceptualLoss(pretrained=False, **kw)


@pytest.fixture(scope="module")
def tv_features():
    """torchvision's vgg19 features with fresh random weights (the reference network)."""
    torch.manual_seed(123)
    feats = torchvision.models.vgg19(weights=None).features.eval()
    for m in feats.modules():
        if isinstance(m, torch.nn.ReLU):
            m.inplace = False
    return feats


@pytest.fixture(scope="module")
def weights_file(tv_features, tmp_path_factory):
    """Features-only state dict in torchvision's full-model key format, plus an unrelated key."""
    path = tmp_path_factory.mktemp("vgg") / "vgg19_features.pth"
    state = {f"features.{k}": v for k, v in tv_features.state_dict().items()}
    state["classifier.6.bias"] = torch.zeros(3)
    torch.save(state, path)
    return str(path)


@pytest.fixture()
def images():
    torch.manual_seed(0)
    return torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)


def test_zero_for_identical_inputs(images):
    sr, _ = images
    loss = random_loss(layers={"conv3_4": 1.0, "conv5_4": 1.0}, style_weight=1.0)
    parts = loss(sr, sr.clone())
    percep, style = parts["percep"], parts["style"]
    assert set(parts) == {"percep", "style"}
    assert percep.item() == 0.0
    assert style.item() == 0.0


def test_pretrained_false_warns():
    with pytest.warns(UserWarning, match="perceptual loss with pretrained false") as caught:
        loss = PerceptualLoss(pretrained=False)
    assert len(caught) >= 1 and not any(p.requires_grad for p in loss.parameters())


def test_weights_path_loads_and_matches_torchvision_conv5_4_l1(tv_features, weights_file, images):
    sr, hr = images
    loss = PerceptualLoss(weights_path=weights_file)
    percep = loss(sr, hr)
    ref = tv_features[:35]  # conv5_4 before its ReLU
    expected = F.l1_loss(ref((sr - MEAN) / STD), ref((hr - MEAN) / STD))
    assert isinstance(percep, torch.Tensor) and percep.dim() == 0    # no style weight: one scalar, no parts
    assert percep.item() == pytest.approx(expected.item(), rel=1e-5)
    # the random default init is something else entirely: the file's weights were really used
    assert not torch.equal(random_loss().vgg[0].weight, loss.vgg[0].weight)


def test_features_only_keys_and_after_relu(tv_features, tmp_path, images):
    sr, hr = images
    path = tmp_path / "features_only.pth"
    torch.save(tv_features.state_dict(), path)  # keys 'N.weight'
    loss = PerceptualLoss(layers={"conv2_2": 1.0}, before_relu=False, use_input_norm=False,
                          criterion="l2", weights_path=str(path))
    ref = tv_features[:9]  # relu2_2
    expected = F.mse_loss(ref(sr), ref(hr))
    assert loss(sr, hr).item() == pytest.approx(expected.item(), rel=1e-5)


def test_layer_weights_combine_linearly(images):
    sr, hr = images
    a = random_loss(layers={"conv2_2": 1.0})(sr, hr)
    b = random_loss(layers={"relu4_1": 1.0})(sr, hr)
    both = random_loss(layers={"conv2_2": 0.3, "relu4_1": 2.0})(sr, hr)
    assert both.item() == pytest.approx(0.3 * a.item() + 2.0 * b.item(), rel=1e-5)


def test_random_init_is_deterministic(images):
    sr, hr = images
    assert random_loss()(sr, hr).item() == random_loss()(sr, hr).item()


def test_network_truncated_after_deepest_layer():
    assert len(random_loss(layers={"conv5_4": 1.0}).vgg) == 35
    assert len(random_loss(layers={"conv5_4": 1.0}, before_relu=False).vgg) == 36
    assert len(random_loss(layers={"conv1_2": 0.5, "conv3_1": 1.0}).vgg) == 11
    assert len(random_loss(layers={"pool5": 1.0}).vgg) == 37


def test_vgg_frozen_and_hr_features_without_grad(images):
    sr, hr = images
    loss = random_loss(layers={"conv4_4": 1.0}, style_weight=1.0)
    loss.train()
    assert not loss.vgg.training
    assert all(not p.requires_grad for p in loss.vgg.parameters())
    sr = sr.clone().requires_grad_()
    parts = loss(sr, hr.clone().requires_grad_())
    (parts["percep"] + parts["style"]).backward()
    assert sr.grad is not None and sr.grad.abs().sum() > 0
    assert all(p.grad is None for p in loss.vgg.parameters())


def test_hr_forward_records_no_graph(images, monkeypatch):
    sr, hr = images
    loss = random_loss(layers={"conv2_1": 1.0})
    seen = []
    original = loss.extract

    def spy(x):
        out = original(x)
        seen.append(out["conv2_1"].requires_grad)
        return out

    monkeypatch.setattr(loss, "extract", spy)
    loss(sr.clone().requires_grad_(), hr.clone().requires_grad_())
    assert seen == [True, False]


def test_style_zero_for_identical_positive_otherwise(images):
    sr, hr = images
    loss = random_loss(layers={"relu2_2": 1.0}, style_weight=2.0)
    assert loss(sr, sr)["style"].item() == 0.0
    style = loss(sr, hr)["style"]
    feats = loss.vgg
    fs, fh = feats((sr - MEAN) / STD), feats((hr - MEAN) / STD)
    gram = lambda f: f.flatten(2) @ f.flatten(2).transpose(1, 2) / (f.shape[1] * f.shape[2] * f.shape[3])
    assert style.item() > 0
    assert style.item() == pytest.approx(2.0 * F.l1_loss(gram(fs), gram(fh)).item(), rel=1e-5)


def test_fro_criterion(images):
    sr, hr = images
    loss = random_loss(layers={"conv1_1": 1.0}, criterion="fro", use_input_norm=False)
    expected = torch.sqrt(((loss.vgg(sr) - loss.vgg(hr)) ** 2).sum())
    assert loss(sr, hr).item() == pytest.approx(expected.item(), rel=1e-5)


def test_missing_pretrained_cache_raises_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(MissingWeightsError) as info:
        PerceptualLoss()
    msg = str(info.value)
    assert "\n" not in msg
    assert "vgg19-dcbb9e9d.pth" in msg and os.path.join(str(tmp_path), "checkpoints") in msg
    assert msg.startswith("pretrained: ") and "or point at a copy with weights_path" in msg and "https://download.pytorch.org/models/" in msg


def test_pretrained_read_from_hub_cache(tmp_path, monkeypatch, tv_features, images):
    hub = use_hub(monkeypatch, tmp_path)
    place_in_cache(monkeypatch, hub, "vgg19", {f"features.{k}": v for k, v in tv_features[:3].state_dict().items()})
    loss = PerceptualLoss(layers={"conv1_2": 1.0})
    sr, hr = images
    ref = tv_features[:3]
    expected = F.l1_loss(ref((sr - MEAN) / STD), ref((hr - MEAN) / STD))
    assert loss(sr, hr).item() == pytest.approx(expected.item(), rel=1e-5)


def test_missing_weights_path_names_key(tmp_path):
    with pytest.raises(MissingWeightsError, match="^weights_path: ") as info:
        PerceptualLoss(weights_path=str(tmp_path / "nope.pth"))
    assert "nope.pth" in str(info.value) and "\n" not in str(info.value)


def test_unknown_layer_suggests(tmp_path):
    with pytest.raises(OptionError, match="did you mean 'conv5_4'") as info:
        random_loss(layers={"conv5_5": 1.0})
    assert "\n" not in str(info.value)
    with pytest.raises(OptionError, match="criterion"):
        random_loss(criterion="huber")


def test_registered():
    assert LOSSES.get("perceptual") is PerceptualLoss
    assert LOSSES.kind("perceptual") == "generator"


def test_vgg19_layout_matches_torchvision():
    from torchvision.models.vgg import cfgs
    from sr_gan.losses import perceptual
    assert perceptual.VGG19_CFG == cfgs["E"]
