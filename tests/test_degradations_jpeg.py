"""The tensor JPEG against libjpeg-turbo through cv2.imencode / cv2.imdecode."""
import cv2
import numpy as np
import pytest
import torch
from skimage import data

from sr_gan.degradations.jpeg import jpeg, quant_tables


def _cv2_jpeg(rgb8: np.ndarray, quality: int) -> np.ndarray:
    ok, enc = cv2.imencode(".jpg", np.ascontiguousarray(rgb8[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.imdecode(enc, cv2.IMREAD_COLOR)[:, :, ::-1]


def _ours(rgb8: np.ndarray, quality) -> np.ndarray:
    x = torch.from_numpy(rgb8.copy()).permute(2, 0, 1)[None].float() / 255
    return (jpeg(x, quality)[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def _psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255 ** 2 / mse)


def _zigzag() -> list[int]:
    """Natural (row-major) index of each zigzag position: walk the anti-diagonals, alternating direction."""
    order = []
    for s in range(15):
        cells = [(i, s - i) for i in range(8) if 0 <= s - i < 8]
        order += [r * 8 + c for r, c in (cells if s % 2 else cells[::-1])]
    return order


def _dqt_tables(jpg: bytes) -> list[np.ndarray]:
    """The 8-bit quantisation tables of a baseline JPEG file, in natural order."""
    out, i = [], 2
    while i < len(jpg):
        assert jpg[i] == 0xFF
        marker, length = jpg[i + 1], int.from_bytes(jpg[i + 2:i + 4], "big")
        if marker == 0xDB:
            seg = jpg[i + 4:i + 2 + length]
            for j in range(0, len(seg), 65):
                table = np.zeros(64, dtype=np.int64)
                table[_zigzag()] = np.frombuffer(seg[j + 1:j + 65], dtype=np.uint8)
                out.append(table)
        if marker == 0xDA:
            break
        i += 2 + length
    return out


def test_quant_tables_equal_the_ones_libjpeg_writes_for_every_quality():
    img = np.zeros((8, 8, 3), np.uint8)
    q = torch.arange(1, 101)
    luma, chroma = quant_tables(q)
    for quality in range(1, 101):
        ok, enc = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
        ref = _dqt_tables(enc.tobytes())
        np.testing.assert_array_equal(luma[quality - 1].numpy(), ref[0])
        np.testing.assert_array_equal(chroma[quality - 1].numpy(), ref[1])


@pytest.mark.parametrize("quality", [30, 50, 70, 95])
def test_bit_identical_to_libjpeg_on_photo_crops_of_awkward_sizes(quality):
    photo = data.astronaut()
    for h, w in ((64, 64), (37, 51), (17, 8), (1, 3)):
        crop = photo[200:200 + h, 220:220 + w]
        ours, ref = _ours(crop, quality), _cv2_jpeg(crop, quality)
        np.testing.assert_array_equal(ours, ref, err_msg=f"{h}x{w} q{quality}")
        assert _psnr(ours, ref) >= 60                            # the floor bench/jpeg_vs_libjpeg.py reports


def test_batch_with_per_image_qualities_and_float_rounding():
    a, b = data.coffee()[100:148, 300:348], data.chelsea()[50:98, 60:108]
    x = torch.from_numpy(np.stack([a, b])).permute(0, 3, 1, 2).float() / 255
    out = (jpeg(x, torch.tensor([33.4, 88.6])) * 255).round().byte().permute(0, 2, 3, 1).numpy()
    np.testing.assert_array_equal(out[0], _cv2_jpeg(a, 33))
    np.testing.assert_array_equal(out[1], _cv2_jpeg(b, 89))
    assert _psnr(out[0], a) < _psnr(out[1], b)                  # it does compress, lower quality more


def test_noise_image_at_extreme_qualities_is_still_exact():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)
    for quality in (1, 100):
        np.testing.assert_array_equal(_ours(img, quality), _cv2_jpeg(img, quality))
