"""BasicSR LMDB datasets: one made the way BasicSR documents it trains and validates; `prepare.py lmdb`
writes one that reads back bit-identically; bad LMDBs and bad arguments give one line."""
from __future__ import annotations

import importlib
import os
import re
import subprocess
from pathlib import Path

import cv2
import lmdb
import numpy as np
import pytest
import torch

from reliability_utils import assert_one_line_error, astronaut_crops, cli_main, tiny_options, write_options
from sr_gan.data.bicubic import imresize
from sr_gan.data.paired import PairedDataset
from sr_gan.errors import DataError
from sr_gan.utils.image_io import write_image



def basicsr_lmdb(path: Path, images: dict[str, np.ndarray], level: int = 1) -> None:
    """BasicSR's layout written by hand (basicsr/utils/lmdb_util.py docstring): values are
    cv2.imencode('.png') bytes of the BGR image, keys the names without extension, and meta_info.txt
    lines 'name.png (h,w,c) compression_level'."""
    env = lmdb.open(str(path), map_size=64 << 20)
    with env.begin(write=True) as txn, open(path / "meta_info.txt", "w") as meta:
        for key, bgr in images.items():
            ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, level])
            assert ok
            txn.put(key.encode("ascii"), buf.tobytes())
            h, w = bgr.shape[:2]
            c = 1 if bgr.ndim == 2 else bgr.shape[2]
            meta.write(f"{key}.png ({h},{w},{c}) {level}\n")
    env.close()


def _prepare():
    return importlib.import_module("sr_gan.commands.prepare")


def _pairs(count: int, size: int, offset: int = 0) -> tuple[dict, dict]:
    """{key: HR BGR uint8}, {key: LR BGR uint8 = MATLAB bicubic x1/4 of HR} from the astronaut photo."""
    hr, lr = {}, {}
    for i, rgb in enumerate(astronaut_crops(count + offset, size)[offset:]):
        key = f"{i:04d}_s001"
        small = np.clip(np.rint(imresize(rgb.astype(np.float64) / 255, 0.25) * 255), 0, 255).astype(np.uint8)
        hr[key], lr[key] = rgb[:, :, ::-1].copy(), small[:, :, ::-1].copy()
    return hr, lr


@pytest.fixture(scope="module")
def lmdbs(tmp_path_factory):
    root = tmp_path_factory.mktemp("lmdb")
    hr, lr = _pairs(4, 64)
    val_hr, val_lr = _pairs(1, 48, offset=4)
    for name, images in (("train_HR.lmdb", hr), ("train_LR_X4.lmdb", lr), ("val_HR.lmdb", val_hr),
                         ("val_LR_X4.lmdb", val_lr)):
        (root / name).mkdir()
        basicsr_lmdb(root / name, images)
    for key, bgr in hr.items():                 # the same pictures as a folder: the reference
        write_image(root / "train_HR" / f"{key}.png", bgr[:, :, ::-1])
        write_image(root / "train_LR_X4" / f"{key}.png", lr[key][:, :, ::-1])
    return root


def test_basicsr_lmdb_trains_and_validates_through_train_sr(lmdbs, tmp_path, capsys):
    opt = tiny_options(str(lmdbs / "train_HR.lmdb"), str(tmp_path / "exp"), name="lmdb",
                       datasets__train__lr=str(lmdbs / "train_LR_X4.lmdb"), datasets__train__workers=1,
                       train__total_iter=2, val__freq=1, logger__print_freq=1)
    opt["datasets"]["val"] = {"type": "paired", "hr": str(lmdbs / "val_HR.lmdb"), "lr": str(lmdbs / "val_LR_X4.lmdb")}
    assert cli_main(["-opt", write_options(tmp_path / "o.yml", opt)]) == 0, capsys.readouterr().err
    log = (tmp_path / "exp" / "lmdb" / "train.log").read_text()
    assert "datasets.train: 4 pairs from 8 files (HR lmdb, LR lmdb), check: full" in log
    assert "datasets.val: 1 pairs from 2 files (HR lmdb, LR lmdb)" in log
    assert "finished 2 iterations" in log
    psnr = re.findall(r"\| val \| psnr \| ([\d.]+) \| ([\d.]+) \|", log)
    # the bicubic column is the PSNR of the LMDB's LR image upscaled: recomputed here from the same pair
    (hr,), (lr,) = (list(d.values()) for d in _pairs(1, 48, offset=4))
    up = np.clip(imresize(lr[:, :, ::-1].astype(np.float32) / 255, 4), 0, 1).astype(np.float64)
    up = np.round(up * 255.0) / 255.0                                   # scored as the 8-bit image it saves
    y = lambda a: (16 + a @ np.array([65.481, 128.553, 24.966]))[4:-4, 4:-4]    # noqa: E731  MATLAB Y, border 4
    expected = 10 * np.log10(255 ** 2 / np.mean((y(up) - y(hr[:, :, ::-1] / 255.0)) ** 2))
    assert len(psnr) == 2 and float(psnr[-1][1]) == pytest.approx(expected, abs=1e-4), (psnr, expected)


@pytest.mark.parametrize("check", ["full", "header", "none"])
def test_lmdb_samples_equal_the_same_images_read_from_folders(lmdbs, check):
    from_lmdb = PairedDataset(str(lmdbs / "train_HR.lmdb"), str(lmdbs / "train_LR_X4.lmdb"), crop=32,
                              check=check, cache=False)
    from_folder = PairedDataset(str(lmdbs / "train_HR"), str(lmdbs / "train_LR_X4"), crop=32, cache=False)
    assert len(from_lmdb) == len(from_folder) == 4
    for key in [(0, 3), (3, 11), 2]:
        a, b = from_lmdb[key], from_folder[key]
        assert a["key"] == b["key"] and torch.equal(a["hr"], b["hr"]) and torch.equal(a["lr"], b["lr"])


def test_lmdb_is_read_in_forked_workers_after_the_main_process_read_it(lmdbs):
    from sr_gan.data import lmdb_store
    ds = PairedDataset(str(lmdbs / "train_HR.lmdb"), crop=32, check="header", cache=False)
    expected = [ds[(i, 7)]["hr"] for i in range(4)]          # the main process holds an environment now
    assert os.path.realpath(lmdbs / "train_HR.lmdb") in lmdb_store._ENVS
    loader = torch.utils.data.DataLoader(ds, batch_size=None, sampler=[(i, 7) for i in range(4)], num_workers=2,
                                         multiprocessing_context="fork")
    got = [batch["hr"] for batch in loader]
    assert all(torch.equal(a, b) for a, b in zip(got, expected)) and len(got) == 4


def test_a_damaged_lmdb_value_is_named(tmp_path):
    hr, _ = _pairs(3, 48)
    db = tmp_path / "x.lmdb"
    db.mkdir()
    basicsr_lmdb(db, hr)
    env = lmdb.open(str(db), map_size=64 << 20)
    with env.begin(write=True) as txn:
        value = txn.get(b"0001_s001")
        txn.put(b"0001_s001", value[: len(value) // 2])
    env.close()
    with pytest.raises(DataError, match=r"^datasets\.train\.hr: 1 unreadable images: 0001_s001\.png "
                                        r"\(truncated or corrupt\)$"):
        PairedDataset(str(db), crop=32, check="full")
    lazy = PairedDataset(str(db), crop=32, check="header", cache=False)       # meta_info sizes only
    with pytest.raises(DataError, match=r"x\.lmdb \(key 0001_s001\): cannot decode image"):
        lazy[(1, 0)]


def test_lmdb_layout_errors_are_one_line(tmp_path):
    (tmp_path / "a.lmdb").mkdir()
    with pytest.raises(DataError, match=r"^datasets\.train\.hr: '.*a\.lmdb' is not an LMDB folder \(no data\.mdb\)$"):
        PairedDataset(str(tmp_path / "a.lmdb"))
    hr, _ = _pairs(1, 48)
    db = tmp_path / "b.lmdb"
    db.mkdir()
    basicsr_lmdb(db, hr)
    (db / "meta_info.txt").write_text("0000_s001.png (48,48,3) 1\nbroken line\n")
    with pytest.raises(DataError, match=r"^datasets\.train\.hr: .*meta_info\.txt line 2: expected"):
        PairedDataset(str(db))
    os.remove(db / "meta_info.txt")
    with pytest.raises(DataError, match=r"^datasets\.val\.hr: '.*b\.lmdb' has no meta_info\.txt"):
        PairedDataset(str(db), phase="val")


def test_prepare_lmdb_reads_back_bit_identically(tmp_path):
    rng = np.random.default_rng(1)
    src = tmp_path / "src"
    images = {"a8": rng.integers(0, 256, (33, 47, 3), dtype=np.uint8),
              "b16": rng.integers(0, 65536, (20, 24, 3), dtype=np.uint16),
              "gray16": rng.integers(0, 65536, (17, 9, 1), dtype=np.uint16),
              "rgba": rng.integers(0, 256, (12, 10, 4), dtype=np.uint8)}
    for name, img in images.items():
        write_image(src / f"{name}.png", img)
    out = tmp_path / "out.lmdb"
    assert _prepare().main(["lmdb", "--input", str(src), "--output", str(out), "--compress", "3"]) == 0
    assert sorted(os.listdir(out)) == ["data.mdb", "lock.mdb", "meta_info.txt"]
    meta = (out / "meta_info.txt").read_text().splitlines()
    assert meta == ["a8.png (33,47,3) 3", "b16.png (20,24,3) 3", "gray16.png (17,9,1) 3", "rgba.png (12,10,4) 3"]
    env = lmdb.open(str(out), readonly=True, lock=False)
    with env.begin() as txn:                        # decoded by OpenCV directly, as BasicSR reads it
        for name in images:
            back = cv2.imdecode(np.frombuffer(txn.get(name.encode()), np.uint8), cv2.IMREAD_UNCHANGED)
            source = cv2.imread(str(src / f"{name}.png"), cv2.IMREAD_UNCHANGED)
            assert back.dtype == source.dtype and np.array_equal(back, source), name
    env.close()


def test_prepare_lmdb_refuses_to_overwrite_and_validates_paths(tmp_path, capsys):
    prep = _prepare()
    src = tmp_path / "src"
    write_image(src / "a.png", np.zeros((8, 8, 3), np.uint8))

    def assert_fails(argv, *needles):
        code = prep.main(argv)
        return assert_one_line_error(subprocess.CompletedProcess(argv, code, "", capsys.readouterr().err), *needles)
    assert_fails(["lmdb", "--input", str(tmp_path / "nope"), "--output", str(tmp_path / "x.lmdb")], "--input", "nope")
    assert_fails(["lmdb", "--input", str(src), "--output", str(tmp_path / "x")], "--output", "must end with .lmdb")
    out = tmp_path / "x.lmdb"
    assert prep.main(["lmdb", "--input", str(src), "--output", str(out)]) == 0
    assert_fails(["lmdb", "--input", str(src), "--output", str(out)], str(out), "already exists", "--overwrite")
    write_image(src / "b.png", np.full((8, 8, 3), 7, np.uint8))
    assert prep.main(["lmdb", "--input", str(src), "--output", str(out), "--overwrite"]) == 0
    assert len((out / "meta_info.txt").read_text().splitlines()) == 2
    (tmp_path / "keep.lmdb").mkdir()
    (tmp_path / "keep.lmdb" / "precious.txt").write_text("x")
    assert_fails(["lmdb", "--input", str(src), "--output", str(tmp_path / "keep.lmdb"), "--overwrite"],
          "not an LMDB folder")
    assert (tmp_path / "keep.lmdb" / "precious.txt").exists()
    (src / "c.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(10))
    assert_fails(["lmdb", "--input", str(src), "--output", str(tmp_path / "y.lmdb")], "1 unreadable images",
          "c.png (cannot decode image (truncated or corrupt))")
    assert not (tmp_path / "y.lmdb").exists() and not [p for p in os.listdir(tmp_path) if ".tmp-" in p]
