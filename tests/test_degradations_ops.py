"""Blur, resize and noise against OpenCV / scipy and the explicit formulas, on small photo crops."""
import cv2
import numpy as np
import pytest
import torch
from scipy import ndimage
from skimage import data

from sr_gan.degradations import filters, ops
from sr_gan.degradations.kernels import gaussian_kernels, sinc_kernels


def _photos(size=40, dtype=torch.float64):
    a = data.astronaut()[120:120 + size, 180:180 + size]
    b = data.coffee()[60:60 + size, 200:200 + size]
    return torch.from_numpy(np.stack([a, b]).astype(np.float64) / 255).permute(0, 3, 1, 2).to(dtype).contiguous()


def _np(x):
    return x.permute(1, 2, 0).numpy()


@pytest.mark.parametrize("method", ["conv", "fft"])
def test_blur_matches_cv2_filter2d_reflect101_per_sample(method):
    img = _photos()
    k = torch.cat([gaussian_kernels(torch.tensor([21]), 3.0, 1.0, 0.7, dtype=torch.float64),
                   sinc_kernels(torch.tensor([21]), torch.tensor([1.3]), dtype=torch.float64)])
    out = filters.blur(img, k, method=method)
    for i in range(2):
        ref = cv2.filter2D(_np(img[i]), -1, k[i].numpy(), borderType=cv2.BORDER_REFLECT_101)
        np.testing.assert_allclose(_np(out[i]), ref, atol=1e-12)


def test_blur_grouped_by_size_equals_full_padded_kernels_and_handles_tiny_images():
    img = _photos(size=9, dtype=torch.float32)                  # smaller than the 21-tap kernel's reach
    sizes = torch.tensor([7, 21])
    k = gaussian_kernels(sizes, torch.tensor([1.0, 4.0]), torch.tensor([2.0, 4.0]), torch.tensor([0.3, 0.0]), pad_to=21)
    grouped = filters.blur(img, k, sizes=sizes)
    for i in range(2):
        ref = ndimage.correlate(_np(img[i]).astype(np.float64), k[i].numpy()[:, :, None].astype(np.float64), mode="mirror")
        np.testing.assert_allclose(_np(grouped[i]), ref, atol=2e-6)
    torch.testing.assert_close(grouped, filters.blur(img, k, method="fft"), atol=2e-6, rtol=0)


def test_pulse_blur_is_exactly_the_identity():
    img = _photos(dtype=torch.float32)
    k = torch.zeros(2, 21, 21)
    k[:, 10, 10] = 1
    assert torch.equal(filters.blur(img, k, sizes=torch.tensor([1, 1])), img)
    assert torch.equal(filters.blur(img, k, method="conv"), img)


def test_resize_modes_match_opencv():
    img = _photos(size=48, dtype=torch.float32)
    x = _np(img[0])
    area = ops.resize(img, size=(16, 16), mode="area")           # integer factor 3: a box average
    np.testing.assert_allclose(_np(area[0]), cv2.resize(x, (16, 16), interpolation=cv2.INTER_AREA), atol=1e-6)
    lin = ops.resize(img, scale_factor=0.5, mode="bilinear")
    np.testing.assert_allclose(_np(lin[0]), cv2.resize(x, (24, 24), interpolation=cv2.INTER_LINEAR), atol=1e-6)
    cub = ops.resize(img, size=(96, 96), mode="bicubic")         # a = -0.75, like OpenCV
    np.testing.assert_allclose(_np(cub[0]), cv2.resize(x, (96, 96), interpolation=cv2.INTER_CUBIC), atol=1e-5)
    with pytest.raises(ValueError, match="nearest"):
        ops.resize(img, size=(8, 8), mode="nearest")


def test_gaussian_noise_formula_with_given_normals():
    img = _photos(dtype=torch.float32)
    unit = torch.randn(img.shape, generator=torch.Generator().manual_seed(1))
    sigma, gray = torch.tensor([5.0, 20.0]), torch.tensor([False, True])
    out = ops.gaussian_noise(img, sigma, gray, unit_noise=unit)
    colour = np.clip(img[0].numpy() + unit[0].numpy() * 5.0 / 255, 0, 1)
    grey = np.clip(img[1].numpy() + unit[1, :1].numpy() * 20.0 / 255, 0, 1)  # one plane for all channels
    np.testing.assert_allclose(out[0].numpy(), colour, atol=1e-7)
    np.testing.assert_allclose(out[1].numpy(), grey, atol=1e-7)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(ops.gaussian_noise(img, sigma, gray, g1), ops.gaussian_noise(img, sigma, gray, g2))


def test_poisson_levels_count_distinct_values_rounded_up_to_a_power_of_two():
    img = ops.quantize8(_photos(dtype=torch.float32))
    x = torch.stack([img[0], torch.full_like(img[0], 0.5), img[1] * 0 + (torch.arange(40) % 3).float() / 255])
    levels = ops.poisson_levels(x)
    for i in range(3):
        u = len(np.unique(np.round(x[i].numpy() * 255)))
        assert levels[i].item() == 2 ** np.ceil(np.log2(u))
    assert levels[1].item() == 1 and levels[2].item() == 4


def test_poisson_noise_statistics_and_grey_sharing():
    img = torch.full((2, 3, 128, 128), 100 / 255)
    img[:, :, :8] = (torch.arange(8 * 128).view(8, 128) % 256).float() / 255   # all 256 levels -> vals 256
    g = torch.Generator().manual_seed(5)
    noise = ops.poisson_noise(img, torch.tensor([1.0, 2.0]), torch.tensor([False, True]), g) - img
    # poisson(r * vals) / vals - r has mean 0 and variance r / vals (vals = 256 here); times scale
    r = 100 / 255
    for i, scale in ((0, 1.0), (1, 2.0)):
        part = noise[i, :, 8:] if i == 0 else noise[i, :1, 8:]
        assert abs(part.mean().item()) < 3 * scale * (r / 256 / part.numel()) ** 0.5
        assert abs(part.var().item() / (scale ** 2 * r / 256) - 1) < 0.05
    assert torch.equal(noise[1, 0], noise[1, 2]) and not torch.equal(noise[0, 0], noise[0, 2])
    g1, g2 = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
    assert torch.equal(ops.poisson_noise(img, 1.0, [True, False], g1), ops.poisson_noise(img, 1.0, [True, False], g2))


def test_poisson_noise_uses_the_luma_on_the_8_bit_grid_for_grey_samples():
    img = _photos(size=16, dtype=torch.float64)
    g = torch.Generator().manual_seed(11)
    out = ops.poisson_noise(img, torch.tensor([0.0, 0.0]), torch.tensor([True, False]), g)
    assert torch.equal(out, img)                                 # scale 0: no change
    luma = 0.2989 * img[0, 0] + 0.587 * img[0, 1] + 0.114 * img[0, 2]
    torch.testing.assert_close(ops.gray(img)[0, 0], luma)


def test_strided_blur_with_shifted_gaussian_is_blur_then_every_sf_th_pixel():
    from sr_gan.degradations.kernels import shifted_gaussian_kernels
    img = _photos(size=32)
    k = shifted_gaussian_kernels(torch.tensor([0.8, 2.0], dtype=torch.float64), 25, 1.5, torch.float64)
    x = np.arange(25) - 12
    ref_k = np.exp(-((x[None, :] - 1.5) ** 2 + (x[:, None] - 1.5) ** 2) / (2 * 0.8 ** 2))
    np.testing.assert_allclose(k[0].numpy(), ref_k / ref_k.sum(), rtol=1e-12)
    assert abs((k[1].numpy() * x[None, :]).sum() - 1.5) < 1e-6    # centre of mass at +1.5 columns (tails cut)
    out = filters.blur_conv(img, k, stride=4)
    for i in range(2):
        ref = ndimage.correlate(_np(img[i]), k[i].numpy()[:, :, None], mode="mirror")[::4, ::4]
        np.testing.assert_allclose(_np(out[i]), ref, atol=1e-12)


def test_mixed_gaussian_noise_is_the_per_sample_matrix_times_the_normals():
    img = _photos(size=16)
    z = torch.randn(img.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    mix = torch.stack([torch.eye(3) * 0.05, torch.tensor([[0.02, 0, 0], [0.01, 0.03, 0], [0, 0.01, 0.02]])]).double()
    out = ops.mixed_gaussian_noise(img, mix, unit_noise=z)
    for i in range(2):
        noise = np.einsum("ij,jhw->ihw", mix[i].numpy(), z[i].numpy())
        np.testing.assert_allclose(out[i].numpy(), np.clip(img[i].numpy() + noise, 0, 1), atol=1e-15)


def test_separable_blur_both_paths_match_cv2_gaussian_blur():
    from sr_gan.degradations.usm import gaussian_kernel_1d
    k = gaussian_kernel_1d(51, dtype=torch.float64)
    for size in (40, 136):                                       # banded matmul / per-sample FFT
        img = torch.from_numpy(data.coffee()[:size, :size + 8].astype(np.float64) / 255).permute(2, 0, 1)[None]
        out = filters.separable_blur(img, k)[0]
        ref = cv2.GaussianBlur(_np(img[0]), (51, 51), 0, borderType=cv2.BORDER_REFLECT_101)
        np.testing.assert_allclose(_np(out), ref, atol=1e-12)
