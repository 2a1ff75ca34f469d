"""Round trips, bit depths, channel layouts and every kind of bad file for sr_gan.utils.image_io."""
import numpy as np
import pytest
import torch
from PIL import Image

from sr_gan.errors import ImageError
from sr_gan.utils.image_io import (ImageInfo, img_to_tensor, list_images, read_image, tensor_to_img,
                                   to_rgb, write_image)


def _rand(h, w, c, levels=256, seed=0):
    return np.random.default_rng(seed).integers(0, levels, (h, w, c)).astype(np.float32) / (levels - 1)


def test_rgb_8bit_round_trip_keeps_channel_order(tmp_path):
    img = _rand(12, 10, 3)
    img[0, 0] = (1.0, 0.0, 0.0)   # pure red must stay in channel 0 (RGB, not BGR)
    write_image(tmp_path / "a.png", img)
    back, info = read_image(tmp_path / "a.png")
    assert info == ImageInfo("rgb", 8)
    assert back.dtype == np.float32 and back.shape == (12, 10, 3)
    np.testing.assert_array_equal(back, img)
    np.testing.assert_array_equal(back[0, 0], [1.0, 0.0, 0.0])


def test_write_rounds_and_clips(tmp_path):
    img = np.array([[[0.5 / 255 + 1e-4, 1.49 / 255, -0.3], [2.0, 254.6 / 255, 0.0]]], np.float32)
    write_image(tmp_path / "r.png", img)
    back, _ = read_image(tmp_path / "r.png")
    np.testing.assert_array_equal(np.rint(back * 255), [[[1, 1, 0], [255, 255, 0]]])


def test_16bit_png_keeps_16bit_precision(tmp_path):
    img = _rand(8, 9, 3, levels=65536, seed=1)
    img[0, 0, 0] = 1 / 65535        # below 8-bit resolution
    write_image(tmp_path / "d.png", img, bits=16)
    back, info = read_image(tmp_path / "d.png")
    assert info == ImageInfo("rgb", 16)
    np.testing.assert_allclose(back, img, atol=0.5 / 65535)
    assert back[0, 0, 0] == pytest.approx(1 / 65535)
    with pytest.raises(ValueError, match="16-bit"):
        write_image(tmp_path / "d.jpg", img, bits=16)


def test_gray_stays_one_channel_and_to_rgb_replicates(tmp_path):
    img = _rand(7, 5, 1)
    write_image(tmp_path / "g.png", img)
    back, info = read_image(tmp_path / "g.png")
    assert info.mode == "gray" and back.shape == (7, 5, 1)
    np.testing.assert_array_equal(back, img)
    rgb = to_rgb(back, info)
    assert rgb.shape == (7, 5, 3)
    np.testing.assert_array_equal(rgb[..., 2], img[..., 0])


def test_rgba_keeps_alpha_and_to_rgb_drops_it(tmp_path):
    img = _rand(6, 6, 4, seed=2)
    write_image(tmp_path / "t.png", img)
    back, info = read_image(tmp_path / "t.png")
    assert info.mode == "rgba" and back.shape == (6, 6, 4)
    np.testing.assert_array_equal(back, img)
    np.testing.assert_array_equal(to_rgb(back, info), img[..., :3])


def test_jpg_and_webp_by_extension(tmp_path):
    img = np.full((16, 16, 3), (0.8, 0.4, 0.2), np.float32)
    write_image(tmp_path / "sub" / "x.jpg", img)          # parent folder is created
    write_image(tmp_path / "x.webp", img)
    jpg, _ = read_image(tmp_path / "sub" / "x.jpg")
    webp, _ = read_image(tmp_path / "x.webp")
    np.testing.assert_allclose(jpg, img, atol=3 / 255)    # flat colour: quality 95 is near exact
    np.testing.assert_allclose(webp, img, atol=0.5 / 255)  # lossless
    assert not [p for p in tmp_path.rglob("*.tmp")]         # no temp file left behind


@pytest.mark.parametrize("cmyk, rgb", [((0, 255, 255, 0), (255, 0, 0)), ((255, 0, 255, 0), (0, 255, 0)),
                                       ((0, 0, 0, 128), (127, 127, 127))])
def test_cmyk_jpeg_comes_back_as_rgb(tmp_path, cmyk, rgb):
    Image.new("CMYK", (8, 8), cmyk).save(tmp_path / "c.jpg", quality=95)
    img, info = read_image(tmp_path / "c.jpg")
    assert info.mode == "rgb" and img.shape == (8, 8, 3)
    np.testing.assert_allclose(img.mean(axis=(0, 1)) * 255, rgb, atol=3)


def _encoded(tmp_path, ext):
    write_image(tmp_path / f"ok{ext}", _rand(40, 40, 3, seed=3))
    return (tmp_path / f"ok{ext}").read_bytes()


@pytest.mark.parametrize("ext", [".png", ".jpg"])
@pytest.mark.parametrize("keep", [0.5, 0.98])
def test_truncated_file_is_detected(tmp_path, ext, keep):
    data = _encoded(tmp_path, ext)
    bad = tmp_path / f"cut{ext}"
    bad.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ImageError, match=r"cut\.(png|jpg): cannot decode image \(truncated or corrupt\)"):
        read_image(bad)


def test_png_missing_only_iend_is_truncated(tmp_path):
    data = _encoded(tmp_path, ".png")
    bad = tmp_path / "noend.png"
    bad.write_bytes(data[:-12])        # pixel data complete, IEND chunk gone
    with pytest.raises(ImageError, match="truncated"):
        read_image(bad)


def test_empty_and_non_image_files(tmp_path):
    (tmp_path / "zero.png").write_bytes(b"")
    (tmp_path / "noise.png").write_bytes(np.random.default_rng(0).bytes(500))
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ImageError, match=r"zero\.png: empty file \(0 bytes\)"):
        read_image(tmp_path / "zero.png")
    with pytest.raises(ImageError, match=r"noise\.png: not an image file"):
        read_image(tmp_path / "noise.png")
    with pytest.raises(ImageError, match=r"notes\.txt: not an image file"):
        read_image(tmp_path / "notes.txt")
    with pytest.raises(ImageError, match="cannot read file"):
        read_image(tmp_path / "missing.png")


def test_corrupt_png_body(tmp_path):
    data = bytearray(_encoded(tmp_path, ".png"))
    data[60:200] = bytes(140)          # zero out part of the IDAT stream (chunk layout intact)
    (tmp_path / "bad.png").write_bytes(bytes(data))
    with pytest.raises(ImageError, match=r"bad\.png: cannot decode"):
        read_image(tmp_path / "bad.png")


def test_odd_path_characters(tmp_path):
    path = tmp_path / "été ü 画像" / "a b.png"
    write_image(path, _rand(4, 4, 3))
    assert read_image(path)[0].shape == (4, 4, 3)


def test_tensor_conversions():
    img = _rand(5, 7, 3)
    t = img_to_tensor(img)
    assert t.shape == (3, 5, 7) and t.dtype == torch.float32
    assert t[1, 2, 3] == img[2, 3, 1]
    np.testing.assert_array_equal(tensor_to_img(t), img)
    np.testing.assert_array_equal(tensor_to_img(t[None]), img)


def test_list_images_splits_and_sorts(tmp_path):
    for name in ["b.png", "a.JPG", "c.webp", "readme.txt", ".hidden.png"]:
        (tmp_path / name).write_bytes(b"x")
    images, others = list_images(tmp_path)
    assert [p.name for p in images] == ["a.JPG", "b.png", "c.webp"]
    assert [p.name for p in others] == ["readme.txt"]
