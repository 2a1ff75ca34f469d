import numpy as np
import pytest
import torch
from torchvision.models import inception_v3

from sr_gan.errors import MissingWeightsError
from sr_gan.metrics.fid_is import InceptionFeatures, fid_from_features, frechet_distance, inception_score
from sr_gan.weights import WEIGHTS
from weights_utils import place_in_cache

INCEPTION_FILE = WEIGHTS["inception_v3"].filename


def test_fid_zero_for_identical_sets():
    feats = np.random.default_rng(0).normal(size=(400, 32)) @ np.random.default_rng(1).normal(size=(32, 32))
    assert fid_from_features(feats, feats) == pytest.approx(0.0, abs=1e-6)


def test_frechet_distance_closed_form_for_diagonal_gaussians():
    mu1, mu2 = np.array([0.0, 1.0, -2.0, 0.5]), np.array([1.0, 1.0, 0.0, -0.5])
    s1, s2 = np.array([1.0, 4.0, 0.25, 2.0]), np.array([4.0, 1.0, 1.0, 2.0])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))
    assert expected == pytest.approx(6.0 + 1.0 + 1.0 + 0.25)  # hand sum: 6 + (1 + 1 + 0.25 + 0)
    assert frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(expected, abs=1e-10)
    # a full (rotated) covariance: FID is invariant to a common rotation of both Gaussians
    q, _ = np.linalg.qr(np.random.default_rng(3).normal(size=(4, 4)))
    assert frechet_distance(q @ mu1, q @ np.diag(s1) @ q.T, q @ mu2, q @ np.diag(s2) @ q.T) == pytest.approx(
        expected, abs=1e-8)
    # samples from those Gaussians approach the closed form
    rng = np.random.default_rng(4)
    a = mu1 + rng.normal(size=(100_000, 4)) * np.sqrt(s1)
    b = mu2 + rng.normal(size=(100_000, 4)) * np.sqrt(s2)
    assert fid_from_features(a, b) == pytest.approx(expected, abs=0.1)


def test_frechet_distance_singular_covariance():
    # rank-deficient covariances (fewer samples than dims) must still give a finite, ~0 distance
    feats = np.random.default_rng(5).normal(size=(10, 40))
    assert abs(fid_from_features(feats, feats)) < 1e-3


def test_inception_score_known_values():
    uniform_pred = np.tile([0.2, 0.5, 0.3], (12, 1))  # every image predicts the same distribution
    assert inception_score(uniform_pred) == pytest.approx((1.0, 0.0), abs=1e-12)
    for n in (2, 5, 10):
        one_hot = np.tile(np.eye(n), (3, 1))  # n equally likely, confidently predicted classes
        assert inception_score(one_hot)[0] == pytest.approx(n, rel=1e-12)
    mean, std = inception_score(np.tile(np.eye(4), (4, 1)), splits=4)  # each split holds all 4 classes
    assert mean == pytest.approx(4.0) and std == pytest.approx(0.0, abs=1e-12)


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path))
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", lambda *a, **k: pytest.fail("tried to download"))
    return tmp_path


def test_inception_missing_weights_one_line(empty_hub):
    with pytest.raises(MissingWeightsError) as info:
        InceptionFeatures()
    msg = str(info.value)
    assert "\n" not in msg and INCEPTION_FILE == "inception_v3_google-0cc3c7bd.pth"
    assert INCEPTION_FILE in msg and str(empty_hub / "checkpoints") in msg and "--inception-weights" in msg


def test_inception_features_shapes_with_saved_weights(empty_hub, monkeypatch):
    torch.manual_seed(0)
    state = inception_v3(weights=None, aux_logits=True, init_weights=False).state_dict()
    place_in_cache(monkeypatch, empty_hub / "checkpoints", "inception_v3", state)
    extractor = InceptionFeatures()
    assert torch.equal(extractor.net.fc.weight, state["fc.weight"])  # the file's weights, not a new init
    batch = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    pool, probs = extractor(batch)
    assert pool.shape == (2, 2048) and probs.shape == (2, 1000)
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-9) and (probs >= 0).all()
    assert (pool >= 0).all() and np.abs(pool[0] - pool[1]).max() > 0  # post-ReLU avgpool, per-image
    is_mean, _ = inception_score(probs)
    # IS = exp(mean_i KL(p_i || mean_j p_j)), written out here on the extractor's class probabilities
    p = probs.astype(np.float64)
    marginal = p.mean(axis=0)
    kl = np.sum(p * (np.log(p) - np.log(marginal)), axis=1)
    assert is_mean == pytest.approx(float(np.exp(kl.mean())), rel=1e-6)
