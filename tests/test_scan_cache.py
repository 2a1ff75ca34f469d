"""The scan cache and the check depths: a second start decodes nothing, a changed, new or deleted file
is noticed, and what a shallow check lets through fails later as one line naming the file."""
from __future__ import annotations

import json
import logging
import os
import subprocess

import cv2
import numpy as np
import pytest
import torch

from reliability_utils import assert_one_line_error, cli_main, tiny_options, write_options, write_photos
from sr_gan.data import scan as scan_mod
from sr_gan.data.paired import PairedDataset
from sr_gan.errors import DataError
from sr_gan.utils.image_io import read_image_header, read_image_raw, write_image


@pytest.fixture
def decodes(monkeypatch):
    """Counts cv2.imdecode calls (the pixel decoder behind every full check) by file size."""
    calls = []
    real = cv2.imdecode

    def counting(buf, flags):
        calls.append(len(buf))
        return real(buf, flags)
    monkeypatch.setattr(cv2, "imdecode", counting)
    return calls


@pytest.fixture
def headers(monkeypatch):
    calls = []
    from sr_gan.data import sources

    def counting(path):
        calls.append(os.path.basename(path))
        return read_image_header(path)
    monkeypatch.setattr(sources, "read_image_header", counting)
    return calls


def _folder(tmp_path, count=5, size=48):
    return os.path.dirname(write_photos(tmp_path / "hr", count=count, size=size)[0])


def _build(hr, cache_dir, **kw):
    kw.setdefault("crop", 32)
    return PairedDataset(hr, cache=False, scan_cache=str(cache_dir), **kw)


def test_second_start_decodes_nothing_and_gives_the_same_samples(tmp_path, decodes):
    hr, cache_dir = _folder(tmp_path), tmp_path / "cache"
    first = _build(hr, cache_dir, check="full")
    assert len(decodes) == 5 and first.check == "full"
    assert "0 from the scan cache, 5 checked now" in first.scan_summary
    written = first.save_scan_cache()
    assert len(written) == 1 and os.path.dirname(written[0]) == str(cache_dir)
    entries = json.load(open(written[0]))["entries"]
    assert sorted(entries) == [f"img{i}.png" for i in range(5)]
    assert entries["img0.png"][:2] == [os.stat(os.path.join(hr, "img0.png")).st_size,
                                       os.stat(os.path.join(hr, "img0.png")).st_mtime_ns]
    assert entries["img0.png"][2:] == ["full", 48, 48, 3, 8, None]
    decodes.clear()
    second = _build(hr, cache_dir, check="full")
    assert decodes == [] and "5 from the scan cache, 0 checked now" in second.scan_summary
    assert second.items == first.items
    assert second.save_scan_cache() == []            # nothing new: the file is not rewritten
    a, b = first[(2, 9)], second[(2, 9)]
    assert torch.equal(a["hr"], b["hr"]) and torch.equal(a["lr"], b["lr"])


def test_changed_new_and_deleted_files_are_noticed(tmp_path, decodes):
    hr, cache_dir = _folder(tmp_path), tmp_path / "cache"
    _build(hr, cache_dir, check="full").save_scan_cache()
    # img1 rewritten smaller (new size and mtime), img4 deleted, img9 new
    write_image(os.path.join(hr, "img1.png"), np.zeros((16, 24, 3), np.uint8))
    os.utime(os.path.join(hr, "img1.png"), ns=(1, 10**18))
    os.remove(os.path.join(hr, "img4.png"))
    write_photos(tmp_path / "hr", count=1, size=40, prefix="img9_")
    decodes.clear()
    with pytest.raises(DataError, match=r"^datasets\.train\.crop: 1 images smaller than the crop 32: "
                                        r"img1\.png \(24x16 < 32\)$"):
        _build(hr, cache_dir, check="full")
    assert sorted(decodes) == sorted([os.path.getsize(os.path.join(hr, "img1.png")),
                                      os.path.getsize(os.path.join(hr, "img9_0.png"))])
    with pytest.warns(UserWarning, match=r"skipping 1 bad files.*img1\.png"):
        ds = _build(hr, cache_dir, check="full", skip_bad=True)
    assert [item[1] for item in ds.items] == ["img0.png", "img2.png", "img3.png", "img9_0.png"]
    ds.save_scan_cache()
    entries = json.load(open(scan_mod.cache_file(cache_dir, ds.sources["hr"])))["entries"]
    assert "img4.png" not in entries and entries["img1.png"][3:5] == [16, 24] and entries["img9_0.png"][3] == 40
    decodes.clear()
    with pytest.warns(UserWarning, match=r"img1\.png \(24x16 < 32\)"):   # known bad, from the cache
        _build(hr, cache_dir, check="full", skip_bad=True)
    assert decodes == []


def test_a_header_check_does_not_stand_in_for_a_full_one(tmp_path, decodes, headers):
    hr, cache_dir = _folder(tmp_path), tmp_path / "cache"
    _build(hr, cache_dir, check="header").save_scan_cache()
    assert decodes == [] and len(headers) == 5
    full = _build(hr, cache_dir, check="full")
    assert len(decodes) == 5 and len(headers) == 5
    full.save_scan_cache()
    decodes.clear()
    _build(hr, cache_dir, check="header")           # a full record answers a header check
    assert decodes == [] and len(headers) == 5


def test_header_check_misses_a_truncated_file_that_full_finds(tmp_path):
    hr = _folder(tmp_path)
    data = open(os.path.join(hr, "img3.png"), "rb").read()
    open(os.path.join(hr, "img3.png"), "wb").write(data[: len(data) - 30])
    ds = PairedDataset(hr, crop=32, cache=False, check="header")
    assert len(ds) == 5
    with pytest.raises(DataError, match=r"img3\.png: cannot decode image \(truncated or corrupt\)$"):
        ds[(3, 0)]
    with pytest.raises(DataError, match=r"1 unreadable images: img3\.png \(truncated or corrupt\)"):
        PairedDataset(hr, crop=32, check="full")


def test_header_check_lists_unreadable_files_in_one_error(tmp_path):
    hr = _folder(tmp_path, count=2)
    open(os.path.join(hr, "empty.png"), "wb").close()
    open(os.path.join(hr, "text.jpg"), "w").write("not a picture")
    open(os.path.join(hr, "garbage.png"), "wb").write(b"\x89PNG\r\n\x1a\n" + bytes(40))
    with pytest.raises(DataError) as err:
        PairedDataset(hr, crop=32, check="header")
    assert str(err.value) == ("datasets.train.hr: 3 unreadable images: empty.png (empty file), "
                              "garbage.png (truncated or corrupt), text.jpg (not an image)")


def test_header_falls_back_to_decoding_what_pil_refuses(tmp_path, monkeypatch):
    from PIL import Image
    write_image(tmp_path / "big.png", np.zeros((40, 30, 3), np.uint8))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)       # PIL refuses > 2x this as a decompression bomb
    with pytest.raises(Image.DecompressionBombError):
        Image.open(tmp_path / "big.png")
    assert read_image_header(tmp_path / "big.png") == (40, 30, 3, 8)


def test_header_sizes_match_the_decoder(tmp_path):
    rng = np.random.default_rng(0)
    cases = {"rgb.png": rng.integers(0, 256, (13, 17, 3), dtype=np.uint8),
             "deep.png": rng.integers(0, 65536, (9, 11, 3), dtype=np.uint16),
             "gray16.png": rng.integers(0, 65536, (7, 5, 1), dtype=np.uint16),
             "rgba.png": rng.integers(0, 256, (6, 8, 4), dtype=np.uint8),
             "photo.jpg": rng.integers(0, 256, (21, 19, 3), dtype=np.uint8),
             "photo.webp": rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)}
    for name, img in cases.items():
        write_image(tmp_path / name, img)
    for name in cases:
        raw, info = read_image_raw(tmp_path / name)
        assert read_image_header(tmp_path / name) == (*raw.shape, info.bits), name


def test_auto_check_is_full_for_small_and_header_for_large_folders(tmp_path, monkeypatch, decodes):
    hr = _folder(tmp_path)
    ds = PairedDataset(hr, crop=32, cache=False)
    assert ds.check == "full" and "check: full (auto: 5 files <= 2000)" in ds.scan_summary
    monkeypatch.setattr(scan_mod, "AUTO_FULL_MAX_FILES", 4)
    decodes.clear()
    ds = PairedDataset(hr, crop=32, cache=False)
    assert ds.check == "header" and "check: header (auto: 5 files > 4;" in ds.scan_summary and decodes == []
    with pytest.raises(DataError, match=r"^datasets\.train\.check: 'deep' is not one of full, header, none$"):
        PairedDataset(hr, check="deep")


def test_the_ram_cache_fills_after_a_header_check_only_under_its_budget(tmp_path, monkeypatch, decodes):
    from sr_gan.data import paired
    hr = _folder(tmp_path)
    ds = PairedDataset(hr, crop=32, check="header")
    assert len(ds._cache) == 5 and len(decodes) == 5       # 5 x 48 x 48 px: under the budget, decoded once
    monkeypatch.setattr(paired, "CACHE_PIXEL_BUDGET", 4 * 48 * 48)
    decodes.clear()
    ds = PairedDataset(hr, crop=32, check="header")
    assert ds._cache is None and decodes == [] and "RAM cache off (0.0115 MP > budget 0.00922 MP)" in ds.scan_summary


def test_an_unreadable_cache_file_only_costs_a_rescan(tmp_path, decodes):
    hr, cache_dir = _folder(tmp_path), tmp_path / "cache"
    path = _build(hr, cache_dir, check="full").save_scan_cache()[0]
    open(path, "w").write("{not json")
    decodes.clear()
    ds = _build(hr, cache_dir, check="full")
    assert len(decodes) == 5 and len(ds) == 5


def test_check_none_decodes_nothing_and_a_bad_file_is_one_error_line(tmp_path, capsys, decodes):
    hr = _folder(tmp_path, count=3)
    open(os.path.join(hr, "img1.png"), "wb").write(b"\x89PNG\r\n\x1a\n" + bytes(50))
    ds = PairedDataset(hr, crop=32, check="none", cache=False)
    assert len(ds) == 3 and decodes == [] and "sizes learned when loaded" in ds.scan_summary
    # through the real CLI, the bad file read inside a DataLoader worker process
    opt = tiny_options(hr, str(tmp_path / "exp"), datasets__train__workers=1, datasets__train__check="none",
                       datasets__train__cache=False, train__total_iter=20)
    code = cli_main(["-opt", write_options(tmp_path / "o.yml", opt)])
    proc = subprocess.CompletedProcess([], code, "", capsys.readouterr().err)
    assert_one_line_error(proc, os.path.join(hr, "img1.png"), "truncated or corrupt")


def test_check_none_skip_bad_stands_in_the_next_image_with_a_warning(tmp_path, caplog):
    hr = _folder(tmp_path, count=3)
    write_image(os.path.join(hr, "img1.png"), np.zeros((16, 16, 3), np.uint8))     # smaller than the crop
    ds = PairedDataset(hr, crop=32, check="none", cache=False, skip_bad=True)
    with caplog.at_level(logging.WARNING, logger="sr_gan"):
        a, b = ds[(1, 5)], ds[(1, 5)]
    assert a["key"] == "img2" and torch.equal(a["hr"], b["hr"])
    assert torch.equal(a["hr"], ds[(2, 5)]["hr"])                  # exactly the stand-in's sample
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 1 and "img1.png: size 16x16 is smaller than the crop 32x32" in warned[0]


def test_training_restart_reads_the_archived_runs_cache(tmp_path, tiny_sr_data, decodes):
    from sr_gan.train import run
    from conftest import tiny_options as tiny
    opt = tiny(tiny_sr_data, str(tmp_path), name="r", train__total_iter=1, datasets__train__cache=False)
    opt["datasets"]["val"]["cache"] = False
    run(opt)
    assert os.listdir(tmp_path / "r" / "scan_cache") and len(decodes) >= 5
    decodes.clear()
    run(opt)                                                    # a fresh run: the first folder is archived
    log = open(tmp_path / "r" / "train.log").read()
    assert "datasets.train: 4 pairs from 4 files (HR folder), check: full" in log
    assert "4 from the scan cache, 0 checked now" in log and "1 from the scan cache, 0 checked now" in log
    assert any(d.startswith("r_archived_") for d in os.listdir(tmp_path))
    assert os.listdir(tmp_path / "r" / "scan_cache")
