"""realesrgan / bsrgan pipelines: shapes, reproducibility, an end-to-end reference, option errors."""
import inspect
import json

import cv2
import numpy as np
import pytest
import torch
from skimage import data

from sr_gan.degradations.pipelines import BSRGANDegradation, RealESRGANDegradation
from sr_gan.degradations.sampler import degradation_generator
from sr_gan.degradations.usm import usm_sharp
from sr_gan.errors import OptionError
from sr_gan.registry import DEGRADATIONS


def _batch(n=4, size=64, dtype=torch.float32):
    photo = data.astronaut()
    crops = [photo[40 * i:40 * i + size, 60 * i:60 * i + size] for i in range(n)]
    return torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).to(dtype).div(255).contiguous()


@pytest.mark.parametrize("name", ["realesrgan", "bsrgan"])
def test_shapes_8bit_grid_crop_alignment_and_json(name):
    pipe = DEGRADATIONS.build({"type": name, "gt_size": 32}, scale=4)
    hr = _batch()
    out = pipe(hr, degradation_generator(0, 0))
    assert out.lr.shape == (4, 3, 8, 8) and out.hr.shape == (4, 3, 32, 32) and out.hr_usm.shape == (4, 3, 32, 32)
    assert torch.equal(out.lr, (out.lr * 255).round() / 255) and out.lr.min() >= 0 and out.lr.max() <= 1
    for i, p in enumerate(out.params):
        top, left = (4 * v for v in p["crop_lr"])
        assert torch.equal(out.hr[i], hr[i, :, top:top + 32, left:left + 32])
    json.dumps(out.params)


@pytest.mark.parametrize("cls", [RealESRGANDegradation, BSRGANDegradation])
def test_same_seed_iteration_rank_is_bit_identical_and_others_differ(cls):
    pipe = cls(scale=2, gt_size=None)
    hr = _batch(n=3, size=32)
    a = pipe(hr, degradation_generator(5, 10, 0))
    b = pipe(hr, degradation_generator(5, 10, 0))
    assert torch.equal(a.lr, b.lr) and a.params == b.params
    assert not torch.equal(a.lr, pipe(hr, degradation_generator(5, 11, 0)).lr)
    assert not torch.equal(a.lr, pipe(hr, degradation_generator(5, 10, 1)).lr)


def test_usm_target_and_usm_off():
    hr = _batch(n=2, size=32, dtype=torch.float64)
    on = RealESRGANDegradation(scale=4, gt_size=None)(hr, degradation_generator(0, 0))
    assert torch.equal(on.hr, hr) and torch.equal(on.hr_usm, usm_sharp(hr))
    off = RealESRGANDegradation(scale=4, gt_size=None, usm=False)(hr, degradation_generator(0, 0))
    assert off.hr_usm is off.hr


def test_forced_path_matches_an_opencv_reconstruction():
    """Every random choice pinned: iso 7x7 sigma 1.2 blur of the USM'd HR, keep size, zero noise, JPEG 90,
    no second blur, keep, zero noise, JPEG 60, no final sinc (scale 1 so no resize). Rebuilt with cv2."""
    opts = dict(scale=1, gt_size=None, kernel_list=["iso"], kernel_prob=[1.0], sinc_prob=0.0, blur_sigma=[1.2, 1.2],
                blur_kernel_size=7, resize_prob=[0, 0, 1], noise_range=[0, 0], poisson_scale_range=[0, 0],
                jpeg_range=[90, 90], second_blur_prob=0.0, resize_prob2=[0, 0, 1], noise_range2=[0, 0],
                poisson_scale_range2=[0, 0], jpeg_range2=[60, 60], final_sinc_prob=0.0)
    hr = _batch(n=2, size=48, dtype=torch.float64)
    lr = RealESRGANDegradation(**opts)(hr, degradation_generator(1, 2)).lr
    g = cv2.getGaussianKernel(7, 1.2)

    def jpg(x, q):
        u8 = np.clip(np.round(x * 255), 0, 255).astype(np.uint8)
        ok, enc = cv2.imencode(".jpg", u8[:, :, ::-1].copy(), [cv2.IMWRITE_JPEG_QUALITY, q])
        return cv2.imdecode(enc, 1)[:, :, ::-1].astype(np.float64) / 255

    for i in range(2):
        x = usm_sharp(hr[i:i + 1])[0].permute(1, 2, 0).numpy()
        x = cv2.filter2D(x, -1, g @ g.T, borderType=cv2.BORDER_REFLECT_101)
        ref = jpg(jpg(x, 90), 60)
        diff = np.abs(lr[i].permute(1, 2, 0).numpy() - ref) * 255
        assert diff.max() == 0, diff.max()


def test_signature_is_what_the_schema_reads():
    sig = inspect.signature(DEGRADATIONS.get("realesrgan"))
    assert sig.parameters["kernel_prob"].annotation == list[float]
    assert sig.parameters["kernel_list"].annotation == list[str]
    assert sig.parameters["blur_kernel_size"].annotation is int and sig.parameters["usm"].annotation is bool
    assert sig.parameters["gt_size"].annotation == (int | None)
    d = {k: v.default for k, v in sig.parameters.items()}
    assert d["resize_prob"] == (0.2, 0.7, 0.1) and d["noise_range2"] == (1.0, 25.0) and d["queue_size"] == 180
    assert d["blur_sigma2"] == (0.2, 1.5) and d["final_sinc_prob"] == 0.8 and d["second_blur_prob"] == 0.8


BAD = [
    ("scale", 0, "must be >= 1"), ("gt_size", 30, "multiple of scale"), ("gt_size", -4, ">= 1"),
    ("usm", "yes", "true or false"), ("queue_size", -1, ">= 0"), ("queue_size", 1.5, "integer"),
    ("kernel_list", ["iso", "box"], "unknown kernel 'box'"), ("kernel_list", [], "non-empty"),
    ("kernel_prob", [0.5, 0.5], "expected 6 probabilities"), ("kernel_prob", [0.5, 0.2, 0.1, 0.1, 0.05, 0.04], "sum to 1"),
    ("kernel_prob", [1.2, -0.2, 0, 0, 0, 0], "must be <= 1"), ("sinc_prob", 1.5, "<= 1"), ("sinc_prob", "0.1", "a number"),
    ("blur_sigma", [3, 0.2], "low must be <= high"), ("blur_sigma", [0.2], "[low, high]"), ("blur_sigma", [0, 1], ">= 0.001"),
    ("betag_range", [1.5, 4], "low <= 1 <= high"), ("betap_range", [0.5, 0.8], "low <= 1 <= high"),
    ("blur_kernel_size", 8, "odd"), ("blur_kernel_size", 23, "<= 21"), ("blur_kernel_size", 5, ">= 7"),
    ("kernel_list2", ["gauss"], "unknown kernel"), ("kernel_prob2", [1.0], "expected 6"), ("sinc_prob2", -0.1, ">= 0"),
    ("blur_sigma2", [2, 1], "low must be"), ("betag_range2", [2, 1], "low must be"), ("betap_range2", [2, 3], "low <= 1"),
    ("blur_kernel_size2", 22, "<= 21"), ("final_sinc_prob", 2, "<= 1"),
    ("resize_prob", [0.5, 0.5], "expected 3"), ("resize_prob", [0.5, 0.6, 0.1], "sum to 1"),
    ("resize_range", [1.2, 1.5], "low <= 1 <= high"), ("resize_range", [0.15, 20], "<= 16"),
    ("gaussian_noise_prob", 2, "<= 1"), ("noise_range", [-1, 30], ">= 0"), ("noise_range", [30, 1], "low must be"),
    ("poisson_scale_range", [-0.1, 1], ">= 0"), ("gray_noise_prob", None, "a number"), ("jpeg_range", [0, 95], ">= 1"),
    ("jpeg_range", [30, 101], "<= 100"), ("second_blur_prob", 1.1, "<= 1"), ("resize_prob2", [1, 0, 0, 0], "expected 3"),
    ("resize_range2", [0.3, 0.9], "low <= 1"), ("gaussian_noise_prob2", True, "a number"), ("noise_range2", "1-25", "[low, high]"),
    ("poisson_scale_range2", [3, 1], "low must be"), ("gray_noise_prob2", -1, ">= 0"), ("jpeg_range2", [95, 30], "low must be"),
]


@pytest.mark.parametrize("key,value,fragment", BAD, ids=[f"{k}={v!r}" for k, v, _ in BAD])
def test_every_realesrgan_option_error_is_one_line_naming_the_key(key, value, fragment):
    with pytest.raises(OptionError) as e:
        RealESRGANDegradation(**{key: value})
    msg = str(e.value)
    assert msg.startswith(f"degradation.{key}: ") and fragment in msg and "\n" not in msg


BAD_BSR = [("scale2_prob", 1.5, "<= 1"), ("downsample_blur_prob", -1, ">= 0"), ("noise_range", [2.5, 25], "integer"),
           ("jpeg_range", [95, 30], "low must be"), ("jpeg_prob", "x", "a number"), ("gt_size", 30, "multiple"),
           ("usm", 1, "true or false"), ("queue_size", -2, ">= 0"), ("scale", 17, "<= 16")]


@pytest.mark.parametrize("key,value,fragment", BAD_BSR, ids=[f"{k}={v!r}" for k, v, _ in BAD_BSR])
def test_every_bsrgan_option_error(key, value, fragment):
    with pytest.raises(OptionError, match=rf"^degradation\.{key}: .*{fragment}".replace("[", r"\[")):
        BSRGANDegradation(**{key: value})


def test_batch_size_errors_at_call_time():
    with pytest.raises(OptionError, match=r"degradation.gt_size: 256 is larger than the HR batch \(64 x 64\)"):
        RealESRGANDegradation()(_batch(n=1), degradation_generator(0, 0))
    with pytest.raises(OptionError, match="not a multiple of scale 4"):
        RealESRGANDegradation(gt_size=None)(_batch(n=1, size=30), degradation_generator(0, 0))


def test_degrade_step_with_pool_and_input_checks():
    from sr_gan.degradations.pipelines import degrade_step
    pipe = RealESRGANDegradation(scale=4, gt_size=32, queue_size=4)
    pool = pipe.make_pool()
    hr = _batch(n=2)
    first = degrade_step(pipe, hr, seed=3, iteration=0, pool=pool)           # filling: passes through
    again = degrade_step(pipe, hr, seed=3, iteration=0)
    assert torch.equal(first.lr, again.lr) and torch.equal(first.hr_usm, usm_sharp(first.hr))
    degrade_step(pipe, hr, seed=3, iteration=1, pool=pool)
    swapped = degrade_step(pipe, hr, seed=3, iteration=2, pool=pool)       # full: two stored pairs out
    assert pool.filled == 4 and swapped.lr.shape == (2, 3, 8, 8)
    assert torch.equal(swapped.hr_usm, usm_sharp(swapped.hr))
    assert BSRGANDegradation().make_pool() is None
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\) float batch"):
        pipe(hr[:, :1], degradation_generator(0, 0))
