"""USM sharpening against Real-ESRGAN's reference formula computed with OpenCV (float64 numpy)."""
import cv2
import numpy as np
import torch

from sr_gan.degradations.usm import gaussian_kernel_1d, reflect_pad, usm_sharp


def _reference_usm(img: np.ndarray, weight=0.5, radius=51, threshold=10) -> np.ndarray:
    """basicsr.utils.img_process_util.usm_sharp, written out with cv2 (BORDER_REFLECT_101 default)."""
    blur = cv2.GaussianBlur(img, (radius, radius), 0)
    residual = img - blur
    mask = (np.abs(residual) * 255 > threshold).astype(np.float64)
    soft_mask = cv2.GaussianBlur(mask, (radius, radius), 0)
    sharp = np.clip(img + weight * residual, 0, 1)
    return soft_mask * sharp + (1 - soft_mask) * img


def test_gaussian_kernel_matches_opencv():
    # (cv2 returns fixed tables for small sizes with sigma <= 0; Real-ESRGAN uses 51)
    for size, sigma in ((51, 0), (21, 3.0), (7, 1.5), (9, 2.0)):
        ours = gaussian_kernel_1d(size, sigma, dtype=torch.float64).numpy()
        np.testing.assert_allclose(ours, cv2.getGaussianKernel(size, sigma)[:, 0], rtol=1e-12, atol=1e-15)


def test_reflect_pad_matches_opencv_reflect101_even_when_pad_exceeds_size():
    img = np.arange(5 * 4, dtype=np.float64).reshape(5, 4)
    for pad in (1, 3, 9):
        ref = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_REFLECT_101)
        ours = reflect_pad(torch.from_numpy(img)[None, None], pad, pad)[0, 0].numpy()
        np.testing.assert_array_equal(ours, ref)


def test_usm_matches_real_esrgan_formula_on_a_photo():
    from skimage import data
    img = data.astronaut()[100:196, 150:230].astype(np.float64) / 255.0        # 96 x 80, real edges
    ref = _reference_usm(img)
    ours = usm_sharp(torch.from_numpy(img).permute(2, 0, 1)[None])[0].permute(1, 2, 0).numpy()
    assert np.abs(ours - ref).max() < 1e-9
    assert np.abs(ours - img).mean() > 1e-3                                     # it did sharpen


def test_usm_float32_batch_is_per_image_and_close_to_float64():
    from skimage import data
    a = data.astronaut()[:64, :64].astype(np.float32) / 255
    b = data.coffee()[:64, :64].astype(np.float32) / 255
    batch = torch.from_numpy(np.stack([a, b])).permute(0, 3, 1, 2).contiguous()
    out = usm_sharp(batch)
    for i, img in enumerate((a, b)):
        ref = _reference_usm(img.astype(np.float64))
        # the mask is a threshold: float32 rounding may flip a handful of pixels at its edge
        diff = np.abs(out[i].permute(1, 2, 0).numpy() - ref)
        assert np.mean(diff > 1e-4) < 0.01 and diff.mean() < 1e-4
