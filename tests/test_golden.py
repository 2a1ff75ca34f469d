"""Golden numbers that need no optional package: RRDBNet and MSRResNet outputs for fixed weights and
inputs, and MATLAB-bicubic `imresize` against an independent evaluation of MATLAB's documented algorithm
plus a published MATLAB output.

The network weights and inputs are smooth closed-form functions of the parameter index (no RNG, no
init code), and the forward pass runs in float64: the stored numbers then depend only on the
architecture, and agree across CPUs and torch builds far below the 1e-6 tolerance. A change to a
layer, an activation slope, a residual scale or the upsampling moves them by orders of magnitude more.
To re-pin after a deliberate architecture change: run this file with GOLDEN_PRINT=1 and paste.
"""
from __future__ import annotations

import math
import os

import numpy as np
import pytest
import torch

from sr_gan.data.bicubic import imresize, imresize_torch
from sr_gan.registry import ARCHS


# ---------------------------------------------------------------------------------- networks
def _fill_deterministic(net: torch.nn.Module) -> torch.nn.Module:
    """Every parameter p_j (in named order) = amplitude * sin(0.7 k + 1.3 j), k its flat index;
    conv weights scaled by 1/sqrt(fan_in) so activations stay O(1) through the trunk."""
    net = net.double()
    with torch.no_grad():
        for j, (name, p) in enumerate(net.named_parameters()):
            k = torch.arange(p.numel(), dtype=torch.float64)
            wave = torch.sin(0.7 * k + 1.3 * j).reshape(p.shape)
            amp = 0.02 if name.endswith("bias") else 1.0 / math.sqrt(max(1, p[0].numel()))
            p.copy_(amp * wave)
    return net.eval()


def _input(h: int, w: int) -> torch.Tensor:
    c, y, x = torch.meshgrid(torch.arange(3.0), torch.arange(float(h)), torch.arange(float(w)), indexing="ij")
    return (0.5 + 0.3 * torch.sin(0.9 * x + 0.4 * y + c) + 0.1 * torch.cos(1.7 * y - 0.5 * c)).double()[None]


CASES = {
    "rrdbnet_x4": ({"type": "rrdbnet", "num_feat": 8, "num_block": 2, "num_grow_ch": 4}, 4, (6, 5)),
    "rrdbnet_x2": ({"type": "rrdbnet", "num_feat": 8, "num_block": 1, "num_grow_ch": 4}, 2, (6, 4)),
    "msrresnet_x4": ({"type": "msrresnet", "num_feat": 8, "num_block": 2}, 4, (6, 5)),
    "msrresnet_x3": ({"type": "msrresnet", "num_feat": 8, "num_block": 1}, 3, (5, 4)),
}

# sum, sum of squares, and out[0, c, i, j] at PIXELS (float64; rtol 1e-6)
PIXELS = [(0, 0, 0), (1, 3, 7), (2, -1, -1), (0, 11, 2)]
GOLDEN = {
    "msrresnet_x3": [347.72139527457887, 2373.4276932989324, -0.6380289619319144, 0.45508723889864766,
                     0.5929016680908125, 0.8596620083048625],
    "msrresnet_x4": [27.284886491825606, 377973.02094816533, 0.6195363726629389, 0.979443986904637,
                     -12.16723850548178, -20.439689308369655],
    "rrdbnet_x2": [-352.62470237492096, 37789.472395514604, -5.626034001533958, -1.3233290073010002,
                   -0.08890927899029712, 0.12918379233348862],
    "rrdbnet_x4": [128.51949972564577, 225317.00291405577, 2.37923401074715, 17.21097621084716,
                   -0.5435600358703015, -3.255869427659362],
}


def _summary(name: str) -> list[float]:
    cfg, scale, (h, w) = CASES[name]
    net = _fill_deterministic(ARCHS.build(dict(cfg), scale=scale))
    with torch.no_grad():
        out = net(_input(h, w))
    assert out.shape == (1, 3, h * scale, w * scale)
    return [out.sum().item(), out.pow(2).sum().item()] + [out[0, c, i, j].item() for c, i, j in PIXELS]


@pytest.mark.parametrize("name", sorted(CASES))
def test_generator_golden_outputs(name):
    got = _summary(name)
    if os.environ.get("GOLDEN_PRINT"):
        print(f'    "{name}": {got!r},')
    assert got == pytest.approx(GOLDEN[name], rel=1e-6, abs=1e-9), name


# ---------------------------------------------------------------------------------- bicubic
def _keys(t: float) -> float:
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB's `cubic`)."""
    t = abs(t)
    if t <= 1:
        return 1.5 * t ** 3 - 2.5 * t ** 2 + 1
    if t <= 2:
        return -0.5 * t ** 3 + 2.5 * t ** 2 - 4 * t + 2
    return 0.0


def _mirror(j: int, n: int) -> int:
    """1-based index reflected across the ends, the end sample repeated ('symmetric')."""
    while j < 1 or j > n:
        j = 1 - j if j < 1 else 2 * n + 1 - j
    return j


def _resize_1d(signal: list[float], scale: float, antialias: bool) -> list[float]:
    """MATLAB imresize along one axis, one output sample at a time (imresize.m's `contributions`):
    u = x/scale + (1 - 1/scale)/2; shrinking with antialiasing stretches the kernel to
    scale * k(scale * d) over a width of 4/scale; weights normalised to sum to 1."""
    n, out = len(signal), []
    shrink = scale < 1 and antialias
    width = 4 / scale if shrink else 4.0
    for x in range(1, math.ceil(n * scale - 1e-9) + 1):
        u = x / scale + 0.5 * (1 - 1 / scale)
        left = math.floor(u - width / 2)
        taps = [left + k for k in range(math.ceil(width) + 2)]
        weights = [scale * _keys(scale * (u - j)) if shrink else _keys(u - j) for j in taps]
        total = sum(weights)
        out.append(sum(wt / total * signal[_mirror(j, n) - 1] for wt, j in zip(weights, taps)))
    return out


def _resize_2d(img: np.ndarray, scale: float, antialias: bool = True) -> np.ndarray:
    cols = np.array([_resize_1d(list(col), scale, antialias) for col in img.T]).T       # height
    return np.array([_resize_1d(list(row), scale, antialias) for row in cols])          # width


IMG6 = np.array([[0.1, 0.9, 0.3, 0.5, 0.7, 0.2],
                 [0.8, 0.4, 0.0, 1.0, 0.6, 0.3],
                 [0.25, 0.75, 0.5, 0.125, 0.875, 0.6],
                 [1.0, 0.0, 0.9, 0.1, 0.4, 0.45],
                 [0.3, 0.65, 0.2, 0.85, 0.05, 0.95],
                 [0.55, 0.35, 0.7, 0.15, 0.8, 0.5]])


@pytest.mark.parametrize("scale, antialias", [(1 / 2, True), (1 / 3, True), (1 / 4, True), (1 / 2, False),
                                              (2, True), (3, True)])
def test_imresize_matches_matlabs_algorithm_evaluated_by_hand(scale, antialias):
    expected = _resize_2d(IMG6, scale, antialias)
    np.testing.assert_allclose(imresize(IMG6, scale, antialiasing=antialias), expected, rtol=0, atol=1e-12)
    batch = torch.from_numpy(np.stack([IMG6, IMG6.T])[None])        # (1, 2, 6, 6): the torch version too
    got = imresize_torch(batch, scale, antialiasing=antialias)[0].numpy()
    np.testing.assert_allclose(got[0], expected, atol=1e-12)
    np.testing.assert_allclose(got[1], _resize_2d(IMG6.T, scale, antialias), atol=1e-12)


def test_antialiased_half_one_value_spelled_out():
    """Shrinking by 2: kernel 0.5 k(d/2) over 8 taps. Output 1 of a 1-D signal of 6 sits at u = 1.5:
    taps j = -2..5 at d = 3.5, 2.5, ..., -3.5; 0.5 k(d/2) = 0.5 k(1.75) = -0.01171875, 0.5 k(1.25) =
    -0.03515625, 0.5 k(0.75) = 0.11328125, 0.5 k(0.25) = 0.43359375 (twice each: they sum to exactly 1);
    j = -2, -1, 0 mirror to 3, 2, 1."""
    w = {3.5: -0.01171875, 2.5: -0.03515625, 1.5: 0.11328125, 0.5: 0.43359375}
    assert 2 * sum(w.values()) == 1.0
    s = IMG6[0]
    expected = (w[3.5] * s[2] + w[2.5] * s[1] + w[1.5] * s[0] + w[0.5] * s[0]
                + w[0.5] * s[1] + w[1.5] * s[2] + w[2.5] * s[3] + w[3.5] * s[4])
    assert imresize(s[:, None], 0.5)[0, 0] == pytest.approx(expected, abs=1e-12)


def test_imresize_matches_a_published_matlab_output():
    """MATLAB, `imresize([0 0 1 1 0], [1 10])` (bicubic, the default), as printed in
    https://stackoverflow.com/questions/17380407 (2013):
        0  -0.0234  -0.0703  0.2031  0.7969  1.0938  1.0938  0.7969  0.2031  -0.0703
    The last sample reads 2 pixels past the end: that MATLAB release clamped indices (replicating the
    end sample), today's imresize.m mirrors them (aux = [1:n, n:-1:1]), which gives
    k(1.25) * 1 + k(1.75) * 1 = -0.0703125 - 0.0234375 = -0.09375 there; the other nine agree."""
    row = imresize(np.array([[0.0, 0.0, 1.0, 1.0, 0.0]]), 2)
    assert row.shape == (2, 10) and np.array_equal(row[0], row[1])
    published = [0, -0.0234, -0.0703, 0.2031, 0.7969, 1.0938, 1.0938, 0.7969, 0.2031]
    np.testing.assert_allclose(row[0, :9], published, atol=5e-5)
    assert row[0, 9] == pytest.approx(-0.09375, abs=1e-12)
