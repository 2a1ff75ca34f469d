import math

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from sr_gan.metrics.psnr_ssim import PSNR, SSIM, calculate_psnr, calculate_ssim, rgb_to_y
from sr_gan.registry import METRICS

Y_GAIN = 65.481 + 128.553 + 24.966  # Y shift per unit of an equal R=G=B shift


def _image(seed=0, h=48, w=40):
    rng = np.random.default_rng(seed)
    # smooth-ish content kept away from 0/1 so shifted copies are not clipped
    base = rng.uniform(0.2, 0.8, (h // 8 + 1, w // 8 + 1, 3))
    img = np.kron(base, np.ones((8, 8, 1)))[:h, :w] + rng.normal(0, 0.03, (h, w, 3))
    return np.clip(img, 0.1, 0.9).astype(np.float32)


def test_matlab_y_formula_known_pixels():
    assert rgb_to_y(np.ones((1, 1, 3), np.float32))[0, 0] == pytest.approx(235.0, abs=1e-9)
    assert rgb_to_y(np.zeros((1, 1, 3), np.float32))[0, 0] == pytest.approx(16.0, abs=1e-9)
    red = np.array([[[1.0, 0.0, 0.0]]])
    assert rgb_to_y(red)[0, 0] == pytest.approx(16 + 65.481)
    # uint8 is divided by 255; no rounding of the result
    assert rgb_to_y(np.array([[[255, 255, 255]]], np.uint8))[0, 0] == pytest.approx(235.0)
    assert rgb_to_y(np.array([[[128, 128, 128]]], np.uint8))[0, 0] == pytest.approx(16 + 128 / 255 * Y_GAIN)


def test_identical_images():
    img = _image()
    assert calculate_psnr(img, img) == math.inf
    assert calculate_ssim(img, img) == pytest.approx(1.0, abs=1e-12)
    assert calculate_ssim(img, img, y_channel=False) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("delta", [0.01, 0.05])
def test_constant_y_offset_gives_closed_form_psnr(delta):
    img = _image()
    shifted = img.astype(np.float64) + delta
    d = delta * Y_GAIN  # every Y value moves by exactly d
    assert calculate_psnr(shifted, img) == pytest.approx(20 * math.log10(255 / d), abs=1e-6)
    # RGB mode: every channel moves by delta * 255
    assert calculate_psnr(shifted, img, y_channel=False) == pytest.approx(20 * math.log10(1 / delta), abs=1e-6)


def test_crop_border_removes_border():
    img = _image()
    bad = img.copy()
    bad[:4] = 0
    bad[-4:] = 1
    bad[:, :4] = 0.5
    bad[:, -4:] = 0
    assert calculate_psnr(bad, img, crop_border=4) == math.inf
    assert math.isfinite(calculate_psnr(bad, img, crop_border=3))
    # SSIM of the interior is 1 too (needs > 10 px left after cropping)
    assert calculate_ssim(bad, img, crop_border=4) == pytest.approx(1.0, abs=1e-12)
    assert calculate_ssim(bad, img, crop_border=0) < 0.99


def test_ssim_matches_skimage_on_valid_region():
    # skimage filters with scipy's Gaussian (sigma 1.5, truncate 3.5 -> the same 11 taps as
    # cv2.getGaussianKernel(11, 1.5)) and then averages after cropping (11-1)//2 = 5 px: exactly our
    # 'valid' region, so the border handling of the two filters never enters the mean.
    hr = _image(1)
    sr = np.clip(hr + np.random.default_rng(2).normal(0, 0.05, hr.shape), 0, 1)
    ours = calculate_ssim(sr, hr)
    ref = structural_similarity(rgb_to_y(sr), rgb_to_y(hr), gaussian_weights=True, sigma=1.5,
                                use_sample_covariance=False, data_range=255)
    assert 0.3 < ours < 0.99
    assert ours == pytest.approx(ref, abs=1e-6)  # measured agreement ~1e-14
    # RGB mode averages per-channel SSIM
    ref_rgb = np.mean([structural_similarity(sr[..., c] * 255, hr[..., c] * 255, gaussian_weights=True,
                                             sigma=1.5, use_sample_covariance=False, data_range=255)
                       for c in range(3)])
    assert calculate_ssim(sr, hr, y_channel=False) == pytest.approx(ref_rgb, abs=1e-6)


def test_rgb_mode_differs_from_y_mode_on_colour_shift():
    img = _image()
    shifted = img.astype(np.float64).copy()
    shifted[..., 0] += 0.05  # red only: Y moves by 0.05 * 65.481, RGB mse = (0.05*255)^2 / 3
    y = calculate_psnr(shifted, img)
    rgb = calculate_psnr(shifted, img, y_channel=False)
    assert y == pytest.approx(20 * math.log10(255 / (0.05 * 65.481)), abs=1e-6)
    assert rgb == pytest.approx(10 * math.log10(255 ** 2 / ((0.05 * 255) ** 2 / 3)), abs=1e-6)
    assert abs(y - rgb) > 1.0


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(48, 40, 3\).*\(40, 40, 3\)"):
        calculate_psnr(_image(), _image(w=40, h=40))
    with pytest.raises(ValueError, match="48, 40, 3"):
        calculate_ssim(_image(), _image(w=40, h=40))


def test_registered_classes():
    img = _image()
    psnr = METRICS.build({"type": "psnr"}, crop_border=2)
    ssim = METRICS.build({"type": "ssim", "y_channel": False})
    assert isinstance(psnr, PSNR) and isinstance(ssim, SSIM)
    assert PSNR.higher_is_better and SSIM.higher_is_better
    assert PSNR.needs_reference and SSIM.needs_reference
    noisy = np.clip(img + 0.02, 0, 1)
    assert psnr(noisy, img) == pytest.approx(calculate_psnr(noisy, img, crop_border=2))
    assert ssim(noisy, img) == pytest.approx(calculate_ssim(noisy, img, y_channel=False))
