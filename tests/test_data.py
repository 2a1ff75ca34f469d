"""PairedDataset (alignment, determinism, bad files), augment helpers and datasets/prepare.py."""
import importlib
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from sr_gan.data.augment import augment, mod_crop, paired_random_crop
from sr_gan.data.bicubic import imresize
from sr_gan.data.paired import PairedDataset
from sr_gan.errors import DataError
from sr_gan.registry import DATASETS
from sr_gan.utils.image_io import read_image, write_image



def _prepare_module():
    return importlib.import_module("sr_gan.commands.prepare")


def _photo(h, w, seed, c=3):
    """Random but spatially varied image, quantised to 8 bits."""
    return np.random.default_rng(seed).integers(0, 256, (h, w, c)).astype(np.float32) / 255


def _hr_folder(tmp_path, names=("a", "b"), size=(64, 48)):
    hr = tmp_path / "HR"
    for i, n in enumerate(names):
        write_image(hr / f"{n}.png", _photo(*size, seed=i))
    return hr


def _lr_folder(tmp_path, hr, scale=4, fmt="{}x4"):
    lr = tmp_path / "LR"
    for p in sorted(hr.iterdir()):
        img, _ = read_image(p)
        write_image(lr / (fmt.format(p.stem) + ".png"), imresize(mod_crop(img, scale), 1 / scale))
    return lr


def to_np(t):
    return t.numpy().transpose(1, 2, 0)


def test_registered():
    assert DATASETS.get("paired") is PairedDataset


def test_hr_only_lr_is_exact_imresize_of_crop(tmp_path):
    ds = PairedDataset(str(_hr_folder(tmp_path)), scale=4, crop=32, flip=False, rot=False)
    for seed in range(5):
        s = ds[(seed % 2, seed)]
        assert s["hr"].shape == (3, 32, 32) and s["lr"].shape == (3, 8, 8) and s["lr"].dtype == torch.float32
        expected = np.clip(imresize(to_np(s["hr"]), 1 / 4), 0, 1)
        np.testing.assert_array_equal(to_np(s["lr"]), expected)
    aug = PairedDataset(str(_hr_folder(tmp_path)), scale=4, crop=32)   # flips commute with imresize
    for seed in range(8):
        s = aug[(0, seed)]
        np.testing.assert_allclose(to_np(s["lr"]), np.clip(imresize(to_np(s["hr"]), 1 / 4), 0, 1), atol=1e-6)


def test_paired_folder_crops_stay_aligned_under_augmentation(tmp_path):
    hr = _hr_folder(tmp_path, size=(66, 50))      # not a multiple of 4: HR is mod-cropped to 64x48
    ds = PairedDataset(str(hr), str(_lr_folder(tmp_path, hr)), scale=4, crop=32)
    transforms = set()
    for seed in range(30):
        s = ds[(seed % 2, seed)]
        hr_np, lr_np = to_np(s["hr"]), to_np(s["lr"])
        expected = np.clip(imresize(hr_np, 1 / 4), 0, 1)
        # the on-disk LR saw pixels outside the crop: its outer 2 LR pixels (8 HR = the antialiased
        # kernel's half-width) differ; the interior may differ only by the 8-bit rounding of the file
        assert np.abs(lr_np - expected)[2:-2, 2:-2].max() <= 0.5 / 255 + 1e-5
        transforms.add(s["hr"].numpy().tobytes()[:64])
    assert len(transforms) > 20                     # crops and flips really vary


def test_same_key_same_sample_and_seeds_differ(tmp_path):
    ds = PairedDataset(str(_hr_folder(tmp_path)), scale=4, crop=32, cache=False)
    a, b = ds[(1, 123)], ds[(1, 123)]
    assert torch.equal(a["hr"], b["hr"]) and torch.equal(a["lr"], b["lr"]) and a["key"] == "b"
    others = [ds[(1, s)]["hr"] for s in range(124, 129)]
    assert all(not torch.equal(a["hr"], o) for o in others)
    np.random.seed(0)
    torch.manual_seed(0)
    c = ds[(1, 123)]
    np.random.seed(99)
    torch.manual_seed(99)
    assert torch.equal(c["hr"], ds[(1, 123)]["hr"])   # global RNG state plays no part


def test_int_key_is_full_modcropped_image_without_augmentation(tmp_path):
    hr = _hr_folder(tmp_path, size=(66, 51))
    ds = PairedDataset(str(hr), str(_lr_folder(tmp_path, hr)), scale=4, phase="val")
    s = ds[0]
    img, _ = read_image(hr / "a.png")
    assert s["hr"].shape == (3, 64, 48) and s["lr"].shape == (3, 16, 12) and s["key"] == "a"
    np.testing.assert_array_equal(to_np(s["hr"]), img[:64, :48])
    cropped = PairedDataset(str(hr), scale=4, crop=32)[np.int64(1)]     # centre crop, on the LR grid
    b, _ = read_image(hr / "b.png")
    np.testing.assert_array_equal(to_np(cropped["hr"]), b[16:48, 8:40])


def test_cache_modes_give_identical_samples(tmp_path):
    hr = str(_hr_folder(tmp_path))
    cached, direct = PairedDataset(hr, crop=32, cache=True), PairedDataset(hr, crop=32, cache=False)
    assert cached._cache is not None and direct._cache is None
    assert PairedDataset(hr, crop=32)._cache is not None            # auto: a tiny folder is cached
    assert torch.equal(cached[(0, 5)]["lr"], direct[(0, 5)]["lr"])


def test_lr_names_with_scale_suffix_match(tmp_path):
    hr = _hr_folder(tmp_path, names=("baby", "bird"))
    lr = _lr_folder(tmp_path, hr, fmt="{}_x4")
    (lr / "bird_x4.png").rename(lr / "birdx4.png")
    ds = PairedDataset(str(hr), str(lr), scale=4)
    assert [ds[i]["key"] for i in range(len(ds))] == ["baby", "bird"]


def test_gray_rgba_and_16bit_images(tmp_path):
    hr = tmp_path / "HR"
    gray = _photo(32, 32, 1, c=1)
    write_image(hr / "g.png", gray)
    write_image(hr / "t.png", _photo(32, 32, 2, c=4))
    deep = np.random.default_rng(3).integers(0, 65536, (32, 32, 3)) / 65535
    write_image(hr / "w.png", deep, bits=16)
    ds = PairedDataset(str(hr), scale=4, phase="val")
    g, t, w = ds[0]["hr"], ds[1]["hr"], ds[2]["hr"]
    assert g.shape == t.shape == w.shape == (3, 32, 32)
    np.testing.assert_array_equal(to_np(g), np.repeat(gray, 3, axis=2))
    np.testing.assert_array_equal(to_np(t), _photo(32, 32, 2, c=4)[..., :3])
    np.testing.assert_allclose(to_np(w), deep, atol=1e-7)              # not rounded to 8 bits


def test_unreadable_files_listed_in_one_error(tmp_path):
    hr = _hr_folder(tmp_path)
    (hr / "empty.png").write_bytes(b"")
    data = (hr / "a.png").read_bytes()
    (hr / "cut.png").write_bytes(data[: len(data) // 2])
    (hr / "trunc.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(20))
    (hr / "notes.txt").write_text("x")
    with pytest.raises(DataError) as err:
        PairedDataset(str(hr), crop=32)
    msg = str(err.value)
    assert msg.startswith("datasets.train.hr: 4 unreadable images: ") and "\n" not in msg
    for part in ("notes.txt (not an image)", "empty.png (empty file)", "cut.png (truncated or corrupt)",
                 "trunc.jpg (truncated or corrupt)"):
        assert part in msg


def test_skip_bad_warns_and_keeps_the_rest(tmp_path):
    hr = _hr_folder(tmp_path, names=("a", "b", "c"))
    (hr / "empty.png").write_bytes(b"")
    (hr / "notes.txt").write_text("x")
    with pytest.warns(UserWarning, match="skipping 2 bad files.*empty.png"):
        ds = PairedDataset(str(hr), crop=32, skip_bad=True)
    assert len(ds) == 3 and sorted(Path(p).name for p in ds.bad_files) == ["empty.png", "notes.txt"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")                  # a clean folder gives no warning
        assert PairedDataset(str(_hr_folder(tmp_path / "clean")), crop=32, skip_bad=True).bad_files == []


def test_lr_hr_size_mismatch_names_file_and_sizes(tmp_path):
    hr = _hr_folder(tmp_path)
    lr = _lr_folder(tmp_path, hr)
    write_image(lr / "bx4.png", _photo(10, 10, 0))
    with pytest.raises(DataError, match=r"^datasets\.train\.lr: 1 LR/HR size mismatches.*bx4\.png is "
                                        r"10x10 but HR b\.png is 48x64 \(expected 12x16\)"):
        PairedDataset(str(hr), str(lr), crop=32)


def test_hr_smaller_than_crop(tmp_path):
    hr = _hr_folder(tmp_path)
    write_image(hr / "tiny.png", _photo(20, 40, 5))
    with pytest.raises(DataError, match=r"^datasets\.train\.crop: 1 images smaller than the crop 32: tiny\.png"):
        PairedDataset(str(hr), crop=32)
    with pytest.raises(DataError, match=r"^datasets\.train\.crop: 30 must be a positive multiple of scale 4"):
        PairedDataset(str(hr), crop=30)


def test_unmatched_names(tmp_path):
    hr = _hr_folder(tmp_path, names=("a", "b", "c"))
    lr = _lr_folder(tmp_path, hr)
    (lr / "cx4.png").rename(lr / "zzzx4.png")
    with pytest.raises(DataError) as err:
        PairedDataset(str(hr), str(lr), phase="val")
    msg = str(err.value)
    assert msg.startswith("datasets.val.lr: 1 LR images without HR: zzzx4.png")
    assert "HR images without LR: c.png" in msg


def test_missing_and_empty_folders(tmp_path):
    with pytest.raises(DataError, match=r"^datasets\.train\.hr: folder '.*nope' does not exist$"):
        PairedDataset(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"^datasets\.val\.hr: no images in '.*empty'$"):
        PairedDataset(str(tmp_path / "empty"), phase="val")
    hr = _hr_folder(tmp_path)
    with pytest.raises(DataError, match=r"^datasets\.train\.lr: folder '.*LRX' does not exist$"):
        PairedDataset(str(hr), str(tmp_path / "LRX"))


def test_max_images_subset_is_seeded(tmp_path):
    hr = str(_hr_folder(tmp_path, names=tuple("abcdef")))
    keys = lambda ds: [ds[i]["key"] for i in range(len(ds))]   # noqa: E731
    assert keys(PairedDataset(hr, max_images=3, seed=1)) == keys(PairedDataset(hr, max_images=3, seed=1))
    assert len(PairedDataset(hr, max_images=3)) == 3


def test_paired_random_crop_and_augment_helpers():
    lr = np.arange(4 * 3).reshape(4, 3, 1).astype(np.float32)
    hr = np.kron(lr, np.ones((4, 4, 1), np.float32))    # each LR pixel is a constant 4x4 HR block
    for seed in range(10):
        h, l = paired_random_crop(hr, lr, 8, 4, np.random.default_rng(seed))
        assert h.shape == (8, 8, 1) and l.shape == (2, 2, 1)
        h2, l2 = augment([h, l], True, True, np.random.default_rng(seed))
        for a, b in ((h, l), (h2, l2)):
            np.testing.assert_array_equal(a.reshape(2, 4, 2, 4).mean(axis=(1, 3))[..., None], b)
    with pytest.raises(DataError, match="x.png: LR size 3x4 is smaller"):
        paired_random_crop(hr, lr, 16, 4, np.random.default_rng(0), key="x.png")
    assert mod_crop(np.zeros((10, 7, 3)), 4).shape == (8, 4, 3)
    img = np.arange(6).reshape(2, 3, 1)
    seen = {augment([img], True, True, np.random.default_rng(s))[0].tobytes() for s in range(60)}
    assert len(seen) == 8                               # all dihedral transforms occur


def test_prepare_demo_split_is_disjoint_and_idempotent(tmp_path, capsys):
    prep = _prepare_module()
    written = prep.make_demo(tmp_path)
    train = {p.name for p in (tmp_path / "train" / "HR").iterdir()}
    val = {p.name for p in (tmp_path / "val" / "HR").iterdir()}
    assert len(train) == 6 and len(val) == 3 and not train & val and len(written) == 9
    for p in (tmp_path / "val" / "HR").iterdir():
        img, info = read_image(p)
        assert info.mode == "rgb" and img.shape[0] % 4 == 0 and img.shape[1] % 4 == 0 and max(img.shape) <= 256
    assert prep.main(["demo", "--out", str(tmp_path)]) == 0
    assert "already there" in capsys.readouterr().out


def test_prepare_extract_tile_count_and_content(tmp_path):
    prep = _prepare_module()
    img = _photo(100, 70, 7)
    write_image(tmp_path / "in" / "big.png", img)
    # rows: 0, 24, 48 + border-aligned 52; columns: 0 + border-aligned 22 -> 4 x 2 = 8 tiles
    assert prep.extract_subimages(tmp_path / "in", tmp_path / "out", 48, 24, 0) == 8
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == [f"big_s{i:03d}.png" for i in range(1, 9)]
    last, _ = read_image(tmp_path / "out" / "big_s008.png")
    np.testing.assert_array_equal(last, img[52:100, 22:70])
    assert prep.extract_subimages(tmp_path / "in", tmp_path / "out2", 48, 24, 30) == 3  # leftovers 4, 22 <= 30: 3 x 1


def test_prepare_lr_and_check(tmp_path, capsys):
    prep = _prepare_module()
    root = tmp_path / "Set5"
    for i in range(5):
        write_image(root / "HR" / f"im{i}.png", _photo(34, 30, i))
    assert prep.make_lr(root / "HR", root / "LR_bicubic" / "X4", 4) == 5
    lr, _ = read_image(root / "LR_bicubic" / "X4" / "im0x4.png")
    hr, _ = read_image(root / "HR" / "im0.png")
    np.testing.assert_allclose(lr, np.clip(imresize(hr[:32, :28], 0.25), 0, 1), atol=0.5 / 255 + 1e-6)
    assert prep.main(["check", "set5", "--root", str(root)]) == 0
    write_image(root / "LR_bicubic" / "X4" / "im1x4.png", _photo(5, 5, 0))
    assert prep.main(["check", "Set5", "--root", str(root)]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "im1x4.png (5x5, HR 30x34)" in out
