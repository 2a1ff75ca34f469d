"""MATLAB-bicubic imresize checked against numbers derived by hand from MATLAB's formulas."""
import cv2
import numpy as np
import pytest
import torch

from sr_gan.data.bicubic import cubic, imresize, imresize_torch, resize_matrix


def test_cubic_kernel_known_values():
    # a = -0.5: k(t) = 1.5|t|^3 - 2.5|t|^2 + 1 on [0,1], -0.5|t|^3 + 2.5|t|^2 - 4|t| + 2 on (1,2]
    t = np.array([0.0, 1.0, 0.5, 1.5, -0.5, 2.0, 2.5, 0.25])
    np.testing.assert_allclose(cubic(t), [1.0, 0.0, 0.5625, -0.0625, 0.5625, 0.0, 0.0, 0.8671875])


def test_constant_image_stays_constant():
    img = np.full((37, 23, 3), 0.37, np.float64)
    for scale in (1 / 4, 1 / 3, 1 / 2, 2, 4):
        out = imresize(img, scale)
        np.testing.assert_allclose(out, 0.37, atol=1e-12)


def test_ramp_half_without_antialias_matches_hand_weights():
    # out x: u = 2x - 0.5, taps at u-1.5, u-0.5, u+0.5, u+1.5 with weights (-1/16, 9/16, 9/16, -1/16);
    # out 1 reads index 0 which mirrors to 1: -1/16*1 + 9/16*1 + 9/16*2 - 1/16*3 = 1.4375,
    # out 4 reads index 9 which mirrors to 8: -1/16*6 + 9/16*7 + 9/16*8 - 1/16*8 = 7.5625.
    ramp = np.arange(1, 9, dtype=np.float64)[:, None]
    np.testing.assert_allclose(imresize(ramp, 0.5, antialiasing=False)[:, 0], [1.4375, 3.5, 5.5, 7.5625])
    # for a 1-row image the width axis is resized the same way
    np.testing.assert_allclose(imresize(ramp.T, 0.5, antialiasing=False)[0], [1.4375, 3.5, 5.5, 7.5625])


# Antialiased x1/4 on 8 pixels: kernel 0.25*k(d/4), width 16, u = 4x - 1.5 -> u = 2.5 and 6.5.
# Distances |d| = 0.5, 1.5, ..., 7.5 give 0.25*k = 0.240966796875, 0.181884765625, 0.097412109375,
# 0.022705078125, -0.011962890625, -0.018310546875, -0.010986328125, -0.001708984375 (sum over the
# 16 taps is exactly 1). For u = 2.5 taps j = -5..10 mirror (j<=0 -> 1-j, j>8 -> 17-j), so pixel 1
# gets d=2.5 (j=0) + d=1.5 (j=1), pixel 7 gets d=4.5 (j=7) + d=7.5 (j=10), etc.
AA_ROW1 = [0.279296875, 0.263671875, 0.22900390625, 0.16357421875,
           0.08642578125, 0.02099609375, -0.013671875, -0.029296875]


def test_antialiased_quarter_weights_by_hand():
    expected = np.array([AA_ROW1, AA_ROW1[::-1]])
    np.testing.assert_allclose(resize_matrix(8, 2, 0.25, True), expected, atol=1e-12)
    signal = np.array([0.1, 0.9, 0.3, 0.5, 0.7, 0.2, 0.8, 0.4])
    np.testing.assert_allclose(imresize(signal[:, None], 0.25)[:, 0], expected @ signal, atol=1e-12)


def test_output_sizes_are_ceil():
    img = np.zeros((101, 50, 3), np.float32)
    assert imresize(img, 1 / 4).shape == (26, 13, 3)
    assert imresize(img, 1 / 3).shape == (34, 17, 3)
    assert imresize(np.zeros((480, 480)), 1 / 3).shape == (160, 160)   # no float-noise off-by-one
    assert imresize(img, 2).shape == (202, 100, 3)


@pytest.mark.parametrize("scale, aa", [(1 / 4, True), (1 / 3, True), (1 / 2, False), (2, True), (4, True)])
def test_torch_matches_numpy(scale, aa):
    rng = np.random.default_rng(0)
    batch = rng.random((2, 3, 24, 36)).astype(np.float32)
    out_t = imresize_torch(torch.from_numpy(batch), scale, antialiasing=aa)
    for n in range(2):
        ref = imresize(batch[n].transpose(1, 2, 0), scale, antialiasing=aa)
        np.testing.assert_allclose(out_t[n].numpy().transpose(1, 2, 0), ref, atol=1e-5)
    assert out_t.dtype == torch.float32


def test_float32_and_float64_agree():
    img = np.random.default_rng(1).random((48, 40, 3))
    np.testing.assert_allclose(imresize(img.astype(np.float32), 0.25), imresize(img, 0.25), atol=1e-6)


def test_downscale_is_average_of_blocks_for_linear_content():
    # bicubic reproduces linear functions exactly away from the borders: a 2-D plane stays a plane
    yy, xx = np.mgrid[0:64, 0:64].astype(np.float64)
    plane = 0.01 * yy + 0.002 * xx
    out = imresize(plane, 0.25)
    uy, ux = np.mgrid[1:17, 1:17] * 4.0 - 1.5 - 1     # 0-based input coordinate of each output
    np.testing.assert_allclose(out[3:-3, 3:-3], (0.01 * uy + 0.002 * ux)[3:-3, 3:-3], atol=1e-12)


def test_upscale_close_to_opencv_cubic_interior():
    yy, xx = np.mgrid[0:32, 0:32] / 32.0
    img = np.stack([0.5 + 0.4 * np.sin(3 * xx + 2 * yy), 0.5 + 0.3 * np.cos(4 * yy), xx * yy], -1)
    ours = imresize(img, 4)
    theirs = cv2.resize(img, (128, 128), interpolation=cv2.INTER_CUBIC)   # a = -0.75, same centres
    diff = np.abs(ours - theirs)[8:-8, 8:-8]
    assert diff.mean() < 0.01 and diff.max() < 0.02
