import os

import cv2
import numpy as np
import pytest
import torch
from skimage import data
from torchvision.models import alexnet

from sr_gan.errors import MissingWeightsError
from sr_gan.metrics import niqe as niqe_mod
from sr_gan.metrics.lpips_metric import LPIPS
from sr_gan.metrics.niqe import NIQE, calculate_niqe, gaussian_window, load_pristine_model
from sr_gan.registry import METRICS
from sr_gan.weights import WEIGHTS
from weights_utils import place_in_cache, use_hub

ALEX_FILE = WEIGHTS["alexnet"].filename


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    use_hub(monkeypatch, tmp_path)
    return tmp_path


@pytest.fixture
def random_alexnet_hub(empty_hub, monkeypatch):
    """A seeded random torchvision AlexNet in torch.hub's cache, accepted by the weight table's hash."""
    torch.manual_seed(0)
    return place_in_cache(monkeypatch, empty_hub / "checkpoints", "alexnet", alexnet(weights=None).state_dict())


def test_lpips_missing_backbone_is_one_line_error(empty_hub, monkeypatch):
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url",
                        lambda *a, **k: pytest.fail("tried to download"))
    with pytest.raises(MissingWeightsError) as info:
        LPIPS()
    msg = str(info.value)
    assert "\n" not in msg and ALEX_FILE == "alexnet-owt-7be5be79.pth"
    assert ALEX_FILE in msg and str(empty_hub / "checkpoints") in msg
    with pytest.raises(MissingWeightsError, match="nowhere.pth"):
        LPIPS(backbone_path=str(empty_hub / "nowhere.pth"))


def test_lpips_loads_backbone_and_computes(random_alexnet_hub, monkeypatch):
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url",
                        lambda *a, **k: pytest.fail("tried to download"))
    metric = METRICS.build({"type": "lpips"})
    assert isinstance(metric, LPIPS) and not LPIPS.higher_is_better and LPIPS.needs_reference
    # the trunk really holds the file's weights (not a fresh random init)
    saved = torch.load(random_alexnet_hub, weights_only=True)
    assert torch.equal(getattr(metric.model.net.slice1, "0").weight, saved["features.0.weight"])
    assert torch.equal(getattr(metric.model.net.slice5, "10").bias, saved["features.10.bias"])
    # and the calibrated heads come from the lpips package
    assert metric.model.lin0.model[1].weight.abs().sum() > 0

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (64, 64, 3)).astype(np.float32)
    noisy = np.clip(x + rng.normal(0, 0.2, x.shape), 0, 1).astype(np.float32)
    assert metric(x, x) == pytest.approx(0.0, abs=1e-7)
    d = metric(x, noisy)
    assert d > 1e-4
    assert metric(noisy, x) == pytest.approx(d, rel=1e-5)
    # same number through an explicit file and from uint8 / torch inputs
    explicit = LPIPS(backbone_path=str(random_alexnet_hub))
    assert explicit(x, noisy) == pytest.approx(d, rel=1e-6)
    as_tensor = torch.from_numpy(x.transpose(2, 0, 1)), torch.from_numpy(noisy.transpose(2, 0, 1))
    assert metric(*as_tensor) == pytest.approx(d, rel=1e-5)


def test_lpips_rejects_wrong_backbone_file(empty_hub, monkeypatch):
    place_in_cache(monkeypatch, empty_hub / "checkpoints", "alexnet", {"features.0.weight": torch.zeros(3)})
    with pytest.raises(MissingWeightsError, match="not a torchvision alex"):
        LPIPS()


# ---------------------------------------------------------------- NIQE

def _astronaut(size=192):
    img = cv2.resize(data.astronaut(), (size, size), interpolation=cv2.INTER_AREA)
    return img.astype(np.float32) / 255.0


def test_pristine_model_is_the_matlab_release():
    mu, cov = load_pristine_model()
    assert mu.shape == (36,) and cov.shape == (36, 36)
    assert np.allclose(cov, cov.T)
    # pins the shipped file: first entries of mu_prisparam as saved by BasicSR from modelparameters.mat
    assert mu[:3] == pytest.approx([2.60131368, 0.90570272, 0.81204778], abs=1e-8)
    assert cov[0, 0] == pytest.approx(0.4534781, abs=1e-7)
    with np.load(niqe_mod.PRISTINE_FILE) as d:
        assert np.allclose(d["gaussian_window"], gaussian_window(), atol=1e-15)  # fspecial(7, 7/6)
    readme = open(os.path.join(os.path.dirname(niqe_mod.PRISTINE_FILE), "README.txt")).read()
    assert "basicsr 1.4.2" in readme and "Apache" in readme


def test_niqe_noise_increases_score_and_is_deterministic():
    clean = _astronaut()
    noisy = np.clip(clean + np.random.default_rng(0).normal(0, 0.1, clean.shape), 0, 1).astype(np.float32)
    metric = METRICS.build({"type": "niqe"})
    assert isinstance(metric, NIQE) and not NIQE.higher_is_better and not NIQE.needs_reference
    q_clean, q_noisy = metric(clean), metric(noisy, clean)  # hr is ignored
    assert np.isfinite(q_clean) and np.isfinite(q_noisy)
    assert 2.0 < q_clean < q_noisy
    assert q_noisy > q_clean + 2.0
    assert metric(clean) == q_clean
    # uint8 input means the same image; MATLAB rounds Y, so float and uint8 agree exactly
    assert calculate_niqe((clean * 255).round().astype(np.uint8)) == pytest.approx(
        calculate_niqe((clean * 255).round() / 255), abs=1e-12)


def test_niqe_regression_value():
    # Pins this implementation (float64 throughout, as MATLAB). BasicSR 1.4.2 gives 4.80753 on this
    # input: it runs the second scale in float32, which shifts flat-region MSCN slightly.
    assert calculate_niqe(_astronaut()) == pytest.approx(4.802487, abs=1e-5)


def test_niqe_small_inputs():
    assert np.isfinite(calculate_niqe(_astronaut(96)))  # one block: MATLAB's zero covariance
    with pytest.raises(ValueError, match="96x96"):
        calculate_niqe(_astronaut(80))
    with pytest.raises(ValueError, match="96x96"):
        calculate_niqe(_astronaut(100), crop_border=4)
