"""The issue-11 loss terms against independent computations: OpenCV, scikit-image, numpy's FFT and
numpy/scipy write-ups of each paper's formula (float64), plus gradient checks w.r.t. SR."""
import inspect

import cv2
import numpy as np
import pytest
import torch
from numpy.lib.stride_tricks import sliding_window_view
from scipy.signal import correlate2d
from skimage import color, data
from skimage.metrics import structural_similarity

from sr_gan.errors import OptionError
from sr_gan.losses.color import ColorLoss
from sr_gan.losses.focal_frequency import FocalFrequencyLoss
from sr_gan.losses.gradient import GradientLoss
from sr_gan.losses.ldl import LDLLoss
from sr_gan.losses.ms_ssim import MSSSIMLoss, num_scales
from sr_gan.losses.tv import TVLoss
from sr_gan.registry import LOSSES

NEW_TERMS = ("ldl", "ms_ssim", "focal_frequency", "color", "gradient", "tv")
MS_WEIGHTS = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])


def _photo_pair(size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(hr, sr) HxWx3 float64: a real photo crop and a blurred, noisy, tinted version of it."""
    hr = data.astronaut()[60:60 + size, 160:160 + size].astype(np.float64) / 255.0
    rng = np.random.default_rng(seed)
    sr = cv2.GaussianBlur(hr, (5, 5), 1.0) + 0.03 * rng.standard_normal(hr.shape) + np.array([0.02, -0.01, 0.0])
    return hr, np.clip(sr, 0.0, 1.0)


def _t(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None]


# ---------------------------------------------------------------- registry and options
def test_new_terms_are_registered_generator_terms_with_typed_defaulted_options():
    assert set(NEW_TERMS) <= set(LOSSES.names("generator"))
    for name in NEW_TERMS:
        for p in list(LOSSES.signature(name).parameters.values()):
            assert p.annotation is not inspect.Parameter.empty, (name, p.name)
            assert p.default is not inspect.Parameter.empty, (name, p.name)


@pytest.mark.parametrize("cls, kwargs, key", [
    (TVLoss, {"norm": "l3"}, "train.losses.tv.norm"),
    (GradientLoss, {"mode": "sobel"}, "train.losses.gradient.mode"),
    (ColorLoss, {"space": "hsv"}, "train.losses.color.space"),
    (ColorLoss, {"blur_sigma": -1.0}, "train.losses.color.blur_sigma"),
    (MSSSIMLoss, {"channels": "gray"}, "train.losses.ms_ssim.channels"),
    (FocalFrequencyLoss, {"alpha": 0.0}, "train.losses.focal_frequency.alpha"),
    (FocalFrequencyLoss, {"patch_factor": 0}, "train.losses.focal_frequency.patch_factor"),
    (LDLLoss, {"ksize": 6}, "train.losses.ldl.ksize"),
])
def test_bad_options_are_one_line_errors_naming_the_key(cls, kwargs, key):
    with pytest.raises(OptionError) as err:
        cls(**kwargs)
    assert str(err.value).startswith(key + ":") and "\n" not in str(err.value)


def test_shape_dependent_errors_name_the_option():
    x = torch.rand(1, 3, 30, 30)
    with pytest.raises(OptionError, match=r"^train.losses.focal_frequency.patch_factor: 4 does not divide the 30x30"):
        FocalFrequencyLoss(patch_factor=4)(x, x)
    with pytest.raises(OptionError, match=r"^train.losses.ms_ssim: the 10x10 output is smaller than the 11x11"):
        MSSSIMLoss()(x[..., :10, :10], x[..., :10, :10])


# ---------------------------------------------------------------- tv
def test_tv_matches_numpy_differences():
    hr, sr = _photo_pair(24)
    dy, dx = np.diff(sr, axis=0), np.diff(sr, axis=1)
    expected = {
        "l1": np.abs(dy).mean() + np.abs(dx).mean(),
        "l2": (dy ** 2).mean() + (dx ** 2).mean(),
        "isotropic": np.sqrt(dy[:, :-1] ** 2 + dx[:-1, :] ** 2 + 1e-12).mean(),
    }
    for norm, value in expected.items():
        ours = TVLoss(norm=norm)(_t(sr), _t(hr)).item()
        assert ours == pytest.approx(value, rel=1e-12), norm
    assert TVLoss()(_t(sr), None).item() == pytest.approx(expected["l1"], rel=1e-12)   # target unused
    assert TVLoss()(torch.full((1, 3, 8, 8), 0.3), None).item() == 0.0


# ---------------------------------------------------------------- gradient (Sobel)
def test_gradient_loss_matches_cv2_sobel():
    hr, sr = _photo_pair(24)
    g = {name: (cv2.Sobel(img, cv2.CV_64F, 1, 0, ksize=3), cv2.Sobel(img, cv2.CV_64F, 0, 1, ksize=3))
         for name, img in (("hr", hr), ("sr", sr))}
    xy = 0.5 * (np.abs(g["sr"][0] - g["hr"][0]).mean() + np.abs(g["sr"][1] - g["hr"][1]).mean())
    mag = {k: np.sqrt(v[0] ** 2 + v[1] ** 2 + 1e-12) for k, v in g.items()}
    assert GradientLoss()(_t(sr), _t(hr)).item() == pytest.approx(xy, rel=1e-12)
    assert GradientLoss(mode="magnitude")(_t(sr), _t(hr)).item() == pytest.approx(np.abs(mag["sr"] - mag["hr"]).mean(), rel=1e-9)
    # a brightness offset has no gradient: the Sobel loss ignores it
    assert GradientLoss()(_t(hr + 0.1), _t(hr)).item() == pytest.approx(0.0, abs=1e-12)


# ---------------------------------------------------------------- colour
def test_color_loss_lab_matches_skimage_rgb2lab():
    hr, sr = _photo_pair(24)
    lab_sr, lab_hr = color.rgb2lab(sr, illuminant="D65"), color.rgb2lab(hr, illuminant="D65")
    expected = np.abs(lab_sr[..., 1:] - lab_hr[..., 1:]).mean() / 100.0
    assert ColorLoss()(_t(sr), _t(hr)).item() == pytest.approx(expected, rel=1e-6)
    # a pure lightness change of a grey image has (almost) no chroma: the D65 white and the sRGB matrix
    # rows agree to 5 digits, so greys sit within 0.001 Delta-E of the a* = b* = 0 axis
    grey = np.repeat(hr.mean(axis=2, keepdims=True), 3, axis=2)
    assert ColorLoss()(_t(grey * 0.8), _t(grey)).item() < 1e-5 < ColorLoss()(_t(sr), _t(hr)).item() / 100


def test_color_loss_ycbcr_and_blur_match_skimage_and_cv2():
    hr, sr = _photo_pair(24)
    cbcr = lambda img: color.rgb2ycbcr(img)[..., 1:] / 255.0
    expected = np.abs(cbcr(sr) - cbcr(hr)).mean()
    assert ColorLoss(space="ycbcr")(_t(sr), _t(hr)).item() == pytest.approx(expected, rel=1e-9)
    sigma, size = 1.5, 2 * 5 + 1
    blur = lambda img: cv2.GaussianBlur(img, (size, size), sigma, borderType=cv2.BORDER_REFLECT_101)
    lab = lambda img: color.rgb2lab(blur(img))[..., 1:] / 100.0
    expected = np.abs(lab(sr) - lab(hr)).mean()
    assert ColorLoss(blur_sigma=sigma)(_t(sr), _t(hr)).item() == pytest.approx(expected, rel=1e-6)


# ---------------------------------------------------------------- MS-SSIM
def _gauss_window() -> np.ndarray:
    x = np.arange(11) - 5.0
    g = np.exp(-x ** 2 / (2 * 1.5 ** 2))
    g /= g.sum()
    return np.outer(g, g)


def _cs_valid(a: np.ndarray, b: np.ndarray) -> float:
    """Mean contrast-structure term (2 s_ab + C2) / (s_a^2 + s_b^2 + C2), 'valid' 11x11 Gaussian window."""
    w, c2 = _gauss_window(), 0.03 ** 2
    f = lambda z: correlate2d(z, w, mode="valid")
    mu_a, mu_b = f(a), f(b)
    va, vb, cov = f(a * a) - mu_a ** 2, f(b * b) - mu_b ** 2, f(a * b) - mu_a * mu_b
    return float(((2 * cov + c2) / (va + vb + c2)).mean())


def _halve(z: np.ndarray) -> np.ndarray:
    """Wang's reference: imfilter(ones(2)/4, 'symmetric', 'same') then z(1:2:end, 1:2:end)."""
    z = np.pad(z, ((0, z.shape[0] % 2), (0, z.shape[1] % 2)), mode="symmetric")
    return 0.25 * (z[0::2, 0::2] + z[1::2, 0::2] + z[0::2, 1::2] + z[1::2, 1::2])


def _reference_ms_ssim(a: np.ndarray, b: np.ndarray, scales: int) -> float:
    """One channel: the last scale's SSIM from scikit-image, the others' cs from scipy."""
    weights = MS_WEIGHTS[:scales] if scales == 5 else MS_WEIGHTS[:scales] / MS_WEIGHTS[:scales].sum()
    value = 1.0
    for j in range(scales - 1):
        value *= _cs_valid(a, b) ** weights[j]
        a, b = _halve(a), _halve(b)
    ssim = structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0)
    return value * ssim ** weights[-1]


def test_ms_ssim_scale_count_follows_the_crop():
    assert [num_scales(s, s) for s in (10, 11, 20, 21, 64, 128, 160, 161, 256)] == [0, 1, 1, 2, 3, 4, 4, 5, 5]
    assert num_scales(200, 64) == 3          # the short side decides


@pytest.mark.parametrize("size, scales", [(165, 5), (64, 3), (45, 3)])   # 165, 45: odd sizes on the way down
def test_ms_ssim_matches_skimage_ssim_and_scipy_cs_composed_by_scale(size, scales):
    hr, sr = _photo_pair(size)
    assert num_scales(size, size) == scales
    expected = np.mean([_reference_ms_ssim(sr[..., c], hr[..., c], scales) for c in range(3)])
    ours = MSSSIMLoss()(_t(sr), _t(hr)).item()
    assert ours == pytest.approx(1.0 - expected, rel=1e-9)
    assert 0.02 < ours < 0.5                                      # a real, partial similarity


def test_ms_ssim_known_answers_and_y_channel():
    hr, sr = _photo_pair(64)
    assert MSSSIMLoss()(_t(hr), _t(hr)).item() == pytest.approx(0.0, abs=1e-12)
    # constant images a, b: cs = 1 at every scale, so MS-SSIM = l ^ (w_M / sum w) with l = (2ab + C1) / (a^2 + b^2 + C1)
    a, b, c1 = 0.3, 0.5, 0.01 ** 2
    lum = (2 * a * b + c1) / (a * a + b * b + c1)
    for size, m in ((64, 3), (128, 4), (176, 5)):
        exponent = MS_WEIGHTS[m - 1] / (MS_WEIGHTS[:m].sum() if m < 5 else 1.0)
        ours = MSSSIMLoss()(torch.full((1, 3, size, size), a, dtype=torch.float64),
                            torch.full((1, 3, size, size), b, dtype=torch.float64)).item()
        assert ours == pytest.approx(1.0 - lum ** exponent, rel=1e-9)
    y = lambda img: color.rgb2ycbcr(img)[..., 0] / 255.0
    expected = _reference_ms_ssim(y(sr), y(hr), 3)
    assert MSSSIMLoss(channels="y")(_t(sr), _t(hr)).item() == pytest.approx(1.0 - expected, rel=1e-9)


def test_ms_ssim_negative_cs_is_floored_not_nan():
    rng = np.random.default_rng(3)
    hr = rng.random((32, 32))
    sr = 1.0 - hr                                                 # anti-correlated: cs < 0
    cs1 = _cs_valid(sr, hr)
    ssim2 = structural_similarity(_halve(sr), _halve(hr), gaussian_weights=True, sigma=1.5,
                                  use_sample_covariance=False, data_range=1.0)
    assert cs1 < 0 and ssim2 < 0
    w = MS_WEIGHTS[:2] / MS_WEIGHTS[:2].sum()
    x = torch.tensor(sr[None, None], requires_grad=True)
    loss = MSSSIMLoss()(x, torch.tensor(hr[None, None]))
    (grad,) = torch.autograd.grad(loss, x)
    assert loss.item() == pytest.approx(1.0 - 1e-6 ** w[0] * 1e-6 ** w[1], rel=1e-12)
    assert torch.isfinite(grad).all()


# ---------------------------------------------------------------- focal frequency
def _reference_ffl(sr: np.ndarray, hr: np.ndarray, alpha=1.0, patch_factor=1, ave_spectrum=False,
                   log_matrix=False, batch_matrix=False) -> float:
    """Jiang et al. 2021, eq. (2)-(4), on N x C x H x W arrays with numpy's FFT."""
    def spectra(x):
        n, c, h, w = x.shape
        ph, pw = h // patch_factor, w // patch_factor
        patches = [x[:, :, i * ph:(i + 1) * ph, j * pw:(j + 1) * pw]
                   for i in range(patch_factor) for j in range(patch_factor)]
        return np.fft.fft2(np.stack(patches, axis=1), norm="ortho")   # N x P x C x h x w
    fs, fh = spectra(sr), spectra(hr)
    if ave_spectrum:
        fs, fh = fs.mean(axis=0, keepdims=True), fh.mean(axis=0, keepdims=True)
    dist = np.abs(fs - fh) ** 2
    w = np.abs(fs - fh) ** alpha
    if log_matrix:
        w = np.log(w + 1.0)
    peak = w.max() if batch_matrix else w.max(axis=(-2, -1), keepdims=True)
    with np.errstate(invalid="ignore"):
        w = np.nan_to_num(w / peak, nan=0.0)
    return float((w * dist).mean())


@pytest.mark.parametrize("opts", [{}, {"patch_factor": 2}, {"ave_spectrum": True}, {"log_matrix": True},
                                  {"batch_matrix": True}, {"alpha": 2.0, "patch_factor": 4, "log_matrix": True}])
def test_focal_frequency_matches_numpy_fft_formula(opts):
    pairs = [_photo_pair(32, seed) for seed in (0, 1)]
    hr = np.stack([p[0] for p in pairs]).transpose(0, 3, 1, 2)
    sr = np.stack([p[1] for p in pairs]).transpose(0, 3, 1, 2)
    sr[1] = np.roll(sr[1], 2, axis=-1)                                # make the two images differ differently
    expected = _reference_ffl(sr, hr, **opts)
    ours = FocalFrequencyLoss(**opts)(torch.from_numpy(sr), torch.from_numpy(hr)).item()
    assert ours == pytest.approx(expected, rel=1e-10)
    assert expected > 1e-5


def test_focal_frequency_identical_is_zero_and_gradient_treats_weights_as_constant():
    rng = np.random.default_rng(1)
    hr, sr = rng.random((1, 2, 8, 8)), rng.random((1, 2, 8, 8))
    assert FocalFrequencyLoss()(torch.tensor(hr), torch.tensor(hr)).item() == 0.0
    x = torch.tensor(sr, requires_grad=True)
    (grad,) = torch.autograd.grad(FocalFrequencyLoss()(x, torch.tensor(hr)), x)
    # d/dx mean(w |F x - F t|^2) with w fixed and F unitary = 2/K Re(F^-1 (w (F x - F t)))
    d = np.fft.fft2(sr, norm="ortho") - np.fft.fft2(hr, norm="ortho")
    w = np.abs(d) / np.abs(d).max(axis=(-2, -1), keepdims=True)
    expected = 2.0 / d.size * np.real(np.fft.ifft2(w * d, norm="ortho"))
    np.testing.assert_allclose(grad.numpy(), expected, rtol=1e-9, atol=1e-14)


# ---------------------------------------------------------------- LDL
def _reference_ldl(sr, hr, ema, ksize=7) -> float:
    """Liang et al. 2022 on N x C x H x W arrays: local variance of the channel-summed residual in a
    ksize window (two-pass, ddof=1, mirrored border) times the crop variance ^ (1/5), zeroed where the
    model's residual is below the EMA's; L1 of the weighted images."""
    res = np.abs(hr - sr).sum(axis=1)
    res_ema = np.abs(hr - ema).sum(axis=1)
    pad = ksize // 2
    windows = sliding_window_view(np.pad(res, ((0, 0), (pad, pad), (pad, pad)), mode="reflect"), (ksize, ksize), axis=(1, 2))
    local = windows.var(axis=(-2, -1), ddof=1)
    patch = res.reshape(len(res), -1).var(axis=1, ddof=1) ** 0.2
    m = np.where(res < res_ema, 0.0, patch[:, None, None] * local)[:, None]
    return float(np.abs(m * sr - m * hr).mean())


def test_ldl_matches_numpy_formula_and_compares_with_the_ema():
    pairs = [_photo_pair(40, seed) for seed in (0, 1)]
    hr = np.stack([p[0] for p in pairs]).transpose(0, 3, 1, 2)
    sr = np.stack([p[1] for p in pairs]).transpose(0, 3, 1, 2)
    ema = hr + 0.03 * np.random.default_rng(5).standard_normal(hr.shape)
    t = torch.from_numpy
    ours = LDLLoss()(t(sr), t(hr), t(ema)).item()
    assert ours == pytest.approx(_reference_ldl(sr, hr, ema), rel=1e-9)
    assert LDLLoss(ksize=5)(t(sr), t(hr), t(ema)).item() == pytest.approx(_reference_ldl(sr, hr, ema, 5), rel=1e-9)
    # an EMA that is worse everywhere silences the term; ties (EMA == model) keep it, as the official code
    assert LDLLoss()(t(sr), t(hr), t(hr + 1.0)).item() == 0.0
    tied = LDLLoss()(t(sr), t(hr), t(sr)).item()
    assert tied == pytest.approx(_reference_ldl(sr, hr, sr), rel=1e-9) and tied > 1e-6


def test_ldl_perfect_reconstruction_has_finite_zero_gradient():
    hr = torch.rand(1, 3, 16, 16, dtype=torch.float64)
    sr = hr.clone().requires_grad_()
    loss = LDLLoss()(sr, hr, hr)
    (grad,) = torch.autograd.grad(loss, sr)
    assert loss.item() == 0.0 and torch.isfinite(grad).all()


# ---------------------------------------------------------------- gradients w.r.t. SR
@pytest.mark.parametrize("name, loss, shape", [
    ("tv-l1", TVLoss(), (1, 2, 6, 6)),
    ("tv-isotropic", TVLoss(norm="isotropic"), (1, 2, 6, 6)),
    ("gradient-xy", GradientLoss(), (1, 2, 6, 6)),
    ("gradient-magnitude", GradientLoss(mode="magnitude"), (1, 2, 6, 6)),
    ("color-lab-blur", ColorLoss(blur_sigma=0.8), (1, 3, 5, 5)),
    ("color-ycbcr", ColorLoss(space="ycbcr"), (1, 3, 5, 5)),
    ("ms_ssim-2-scales", MSSSIMLoss(), (1, 1, 22, 22)),
    ("ms_ssim-y", MSSSIMLoss(channels="y"), (1, 3, 11, 11)),
    ("ldl", LDLLoss(ksize=3), (2, 3, 6, 6)),
])
def test_loss_is_differentiable_wrt_sr(name, loss, shape):
    gen = torch.Generator().manual_seed(0)
    target = torch.rand(shape, generator=gen, dtype=torch.float64) * 0.8 + 0.1
    sr = (target + 0.1 * torch.randn(shape, generator=gen, dtype=torch.float64)).requires_grad_()
    if name == "ldl":
        ema = target + 0.1 * torch.randn(shape, generator=gen, dtype=torch.float64)
        assert torch.autograd.gradcheck(lambda x: loss(x, target, ema), (sr,))
    else:
        assert torch.autograd.gradcheck(lambda x: loss(x, target), (sr,))
