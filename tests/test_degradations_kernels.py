"""Blur kernels against kernels built by hand in numpy from the formulas of the Real-ESRGAN paper."""
import math

import numpy as np
import pytest
import torch
from scipy import special

from sr_gan.degradations import kernels as K


def _quad(size, sx, sy, theta):
    """[x, y] Sigma^-1 [x, y]^T on a size x size grid, x = column offset, Sigma = R diag(sx^2, sy^2) R^T."""
    r = size // 2
    rot = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    inv = np.linalg.inv(rot @ np.diag([sx * sx, sy * sy]) @ rot.T)
    out = np.zeros((size, size))
    for i in range(size):
        for j in range(size):
            v = np.array([j - r, i - r], dtype=np.float64)
            out[i, j] = v @ inv @ v
    return out


def _pad(k, to):
    p = (to - k.shape[0]) // 2
    return np.pad(k / k.sum(), p)


def _ref_sinc(size, omega):
    r = size // 2
    k = np.zeros((size, size))
    for i in range(size):
        for j in range(size):
            d = math.hypot(i - r, j - r)
            k[i, j] = omega ** 2 / (4 * math.pi) if d == 0 else omega * special.j1(omega * d) / (2 * math.pi * d)
    return k


CASES = [(7, 0.6, 0.6, 0.0), (13, 2.5, 0.7, 0.9), (21, 3.0, 1.2, -2.5), (9, 0.2, 2.9, math.pi / 2)]


def test_gaussian_family_matches_formula_and_zero_padding():
    sizes = torch.tensor([c[0] for c in CASES])
    sx, sy, th = (torch.tensor([c[i] for c in CASES], dtype=torch.float64) for i in (1, 2, 3))
    beta = torch.tensor([0.5, 1.7, 3.9, 1.0], dtype=torch.float64)
    g = K.gaussian_kernels(sizes, sx, sy, th, pad_to=21, dtype=torch.float64).numpy()
    gg = K.generalized_gaussian_kernels(sizes, sx, sy, th, beta, pad_to=21, dtype=torch.float64).numpy()
    pl = K.plateau_kernels(sizes, sx, sy, th, beta, pad_to=21, dtype=torch.float64).numpy()
    for i, (size, a, b, t) in enumerate(CASES):
        q = _quad(size, a, b, t)
        np.testing.assert_allclose(g[i], _pad(np.exp(-0.5 * q), 21), rtol=1e-10, atol=1e-15)
        np.testing.assert_allclose(gg[i], _pad(np.exp(-0.5 * q ** beta[i].item()), 21), rtol=1e-10, atol=1e-15)
        np.testing.assert_allclose(pl[i], _pad(1 / (q ** beta[i].item() + 1), 21), rtol=1e-10, atol=1e-15)
        assert abs(g[i].sum() - 1) < 1e-12 and g[i][0, 0] == 0 or size == 21


def test_isotropic_gaussian_is_the_outer_product_of_opencv_1d_kernels():
    import cv2
    k = K.gaussian_kernels(torch.tensor([15]), 2.0, 2.0, 0.0, dtype=torch.float64)[0].numpy()
    g = cv2.getGaussianKernel(15, 2.0)
    np.testing.assert_allclose(k, g @ g.T, rtol=1e-10)


def test_rotation_turns_the_long_axis():
    # sigma_x > sigma_y, theta = 0: spreads along columns (x); theta = pi/2: along rows
    k0 = K.gaussian_kernels(torch.tensor([21]), 3.0, 0.5, 0.0)[0]
    k90 = K.gaussian_kernels(torch.tensor([21]), 3.0, 0.5, math.pi / 2)[0]
    assert k0[10, 14] > 100 * k0[14, 10]
    torch.testing.assert_close(k90, k0.T, rtol=1e-5, atol=1e-7)


def test_sinc_matches_bessel_formula_with_centre_value():
    sizes = torch.tensor([7, 11, 21])
    omega = torch.tensor([math.pi / 3, 2.0, math.pi], dtype=torch.float64)
    out = K.sinc_kernels(sizes, omega, pad_to=21, dtype=torch.float64).numpy()
    for i in range(3):
        ref = _pad(_ref_sinc(int(sizes[i]), omega[i].item()), 21)
        np.testing.assert_allclose(out[i], ref, rtol=1e-10, atol=1e-15)
    assert out[2].min() < 0                                     # it rings


def test_pulse_is_identity_and_mixed_kernels_pick_each_family():
    p = K.pulse_kernels(2, 5)
    assert p.sum().item() == 2 and p[0, 2, 2] == 1
    kinds = torch.tensor([K.GAUSSIAN, K.GENERALIZED, K.PLATEAU, K.SINC, K.PULSE])
    sizes = torch.tensor([7, 9, 21, 13, 21])
    f = lambda *v: torch.tensor(v, dtype=torch.float64)
    sx, sy, th = f(1, 2, 3, 1, 1), f(1, .5, 2, 1, 1), f(0, .3, -1, 0, 0)
    beta, om = f(1, 2.5, 1.5, 1, 1), f(1, 1, 1, 2.2, 1)
    mix = K.mixed_kernels(kinds, sizes, sx, sy, th, beta, om, 21, torch.float64)
    torch.testing.assert_close(mix[0], K.gaussian_kernels(sizes[:1], sx[:1], sy[:1], th[:1], 21, torch.float64)[0])
    torch.testing.assert_close(mix[1], K.generalized_gaussian_kernels(sizes[1:2], sx[1:2], sy[1:2], th[1:2], beta[1:2], 21, torch.float64)[0])
    torch.testing.assert_close(mix[2], K.plateau_kernels(sizes[2:3], sx[2:3], sy[2:3], th[2:3], beta[2:3], 21, torch.float64)[0])
    torch.testing.assert_close(mix[3], K.sinc_kernels(sizes[3:4], om[3:4], 21, torch.float64)[0])
    torch.testing.assert_close(mix[4], K.pulse_kernels(1, 21, torch.float64)[0])


@pytest.mark.parametrize("beta", [1.0])
def test_generalized_with_beta_one_is_the_gaussian(beta):
    s = torch.tensor([11])
    a = K.generalized_gaussian_kernels(s, 1.3, 2.1, 0.4, beta, dtype=torch.float64)
    b = K.gaussian_kernels(s, 1.3, 2.1, 0.4, dtype=torch.float64)
    torch.testing.assert_close(a, b, rtol=1e-14, atol=0)
