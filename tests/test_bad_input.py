"""Bad input gets one clear line (exit 2, naming the file or option key, no traceback) and loses nothing;
unusual but valid images (CMYK JPEG, 16-bit, gray, RGBA) train.

The cases a separate process matters for (DataLoader workers, the real CLI's exit path, unpickling in
a fresh interpreter) run as concurrent subprocesses; the rest call train_sr.main in-process.
"""
from __future__ import annotations

import os
import pickle
import subprocess
import time

import numpy as np
import pytest
import torch

from reliability_utils import (assert_one_line_error, astronaut_crops, cli_main, start_cli, tiny_options,
                               write_options, write_photos)
from sr_gan.registry import ARCHS
from sr_gan.utils.image_io import read_image_raw, write_image


class _Payload:
    """Unpickling this runs os.makedirs(marker): a loader that executes pickled code would create it."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.makedirs, (self.marker,))


def _write_bad_files(folder) -> None:
    png = open(write_photos(folder, count=1, size=48, prefix="truncated")[0], "rb").read()
    open(os.path.join(folder, "truncated0.png"), "wb").write(png[: len(png) // 2])
    open(os.path.join(folder, "corrupt.png"), "wb").write(png[:40] + os.urandom(len(png) - 40))
    open(os.path.join(folder, "empty.png"), "wb").close()
    open(os.path.join(folder, "notes.txt"), "w").write("not an image")


def _finish(proc: subprocess.Popen, timeout: float = 150) -> subprocess.CompletedProcess:
    _, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, "", err)


@pytest.fixture(scope="module")
def subprocess_cases(tmp_path_factory):
    """Start every subprocess case at once (they overlap their start-up), then collect the results."""
    root = tmp_path_factory.mktemp("bad_cli")
    exp = str(root / "exp")
    procs = {}
    # 1. corrupt / truncated / zero-byte / non-image files found by the scan, with a loader worker
    bad = root / "bad_hr"
    write_photos(bad, count=2, size=48)
    _write_bad_files(bad)
    procs["scan"] = start_cli(["-opt", write_options(root / "scan.yml", tiny_options(
        str(bad), exp, name="scan", datasets__train__workers=1))])
    # 2. invalid YAML syntax
    (root / "broken.yml").write_text("name: x\nscale: 4\ntrain: {total_iter: 5\n")
    procs["yaml"] = start_cli(["-opt", str(root / "broken.yml")])
    # 3. a malicious pickle given as --resume
    good = os.path.dirname(write_photos(root / "good_hr", count=2, size=48)[0])
    torch.save({"iter": 1, "nets": _Payload(str(root / "payload_ran"))}, root / "evil.pth")
    procs["pickle"] = start_cli(["-opt", write_options(root / "evil.yml", tiny_options(good, exp, name="evil")),
                                 "--resume", str(root / "evil.pth")])
    # 4. a file that goes bad after the scan, read inside a DataLoader worker (no RAM cache)
    late = root / "late_hr"
    write_photos(late, count=2, size=48)
    yml = write_options(root / "late.yml", tiny_options(str(late), exp, name="late", train__total_iter=100000,
                                                        datasets__train__workers=1,
                                                        datasets__train__cache=False))
    procs["worker"] = start_cli(["-opt", yml])
    log = os.path.join(exp, "late", "train.log")
    end = time.monotonic() + 120
    while time.monotonic() < end and procs["worker"].poll() is None:
        if os.path.isfile(log) and "iterations 0 ->" in open(log).read():
            (late / "garbage.tmp").write_bytes(b"\0" * 100)
            os.replace(late / "garbage.tmp", late / "img1.png")
            break
        time.sleep(0.05)
    results = {name: _finish(p) for name, p in procs.items()}
    return root, results


def test_scan_lists_every_corrupt_truncated_empty_and_non_image_file(subprocess_cases):
    _, r = subprocess_cases
    line = assert_one_line_error(r["scan"], "datasets.train.hr", "4 unreadable images", "corrupt.png",
                                 "truncated0.png (truncated or corrupt)", "empty.png (empty file)",
                                 "notes.txt (not an image)")
    assert "img0.png" not in line


def test_invalid_yaml_names_file_and_line(subprocess_cases):
    root, r = subprocess_cases
    assert_one_line_error(r["yaml"], str(root / "broken.yml"), "invalid YAML at line")


def test_malicious_pickle_as_resume_is_refused_and_never_runs(subprocess_cases):
    root, r = subprocess_cases
    assert_one_line_error(r["pickle"], str(root / "evil.pth"), "cannot load checkpoint")
    assert not (root / "payload_ran").exists()


def test_error_inside_a_dataloader_worker_is_one_line(subprocess_cases):
    root, r = subprocess_cases
    assert_one_line_error(r["worker"], str(root / "late_hr" / "img1.png"), "not an image file")


# ----------------------------------------------------------------------------- in-process cases

@pytest.fixture(scope="module")
def hr(tmp_path_factory):
    return os.path.dirname(write_photos(tmp_path_factory.mktemp("hr"), count=2, size=48)[0])


def _fails(capsys, argv, *needles) -> str:
    code = cli_main(argv)
    proc = subprocess.CompletedProcess(argv, code, "", capsys.readouterr().err)
    return assert_one_line_error(proc, *needles)


def _yml(tmp_path, hr, **over) -> str:
    return write_options(tmp_path / "opt.yml", tiny_options(hr, str(tmp_path / "exp"), **over))


def test_unusual_but_valid_images_train(tmp_path, capsys):
    folder = tmp_path / "hr"
    rgb = astronaut_crops(4, 48)
    from PIL import Image
    os.makedirs(folder)
    Image.fromarray(rgb[0]).convert("CMYK").save(folder / "cmyk.jpg", quality=95)
    write_image(folder / "deep.png", rgb[1].astype(np.float32) / 255, bits=16)
    write_image(folder / "gray.png", rgb[2][:, :, :1])
    write_image(folder / "alpha.png", np.concatenate([rgb[3], np.full((48, 48, 1), 128, np.uint8)], axis=2))
    cmyk, _ = read_image_raw(folder / "cmyk.jpg")
    assert cmyk.shape == (48, 48, 3) and np.abs(cmyk.astype(float) - rgb[0]).mean() < 8   # colours kept
    assert read_image_raw(folder / "deep.png")[0].dtype == np.uint16
    assert cli_main(["-opt", _yml(tmp_path, str(folder), train__total_iter=2)]) == 0, capsys.readouterr().err


def test_skip_bad_trains_on_the_good_files_with_a_warning(tmp_path, capsys):
    folder = tmp_path / "hr"
    write_photos(folder, count=2, size=48)
    _write_bad_files(folder)
    with pytest.warns(UserWarning, match=r"skipping 4 bad files.*corrupt\.png"):
        code = cli_main(["-opt", _yml(tmp_path, str(folder), train__total_iter=2, datasets__train__skip_bad=True)])
    assert code == 0
    assert "2 training images" in open(tmp_path / "exp" / "tiny" / "train.log").read()


def _lr_folder(tmp_path, sizes: dict) -> str:
    folder = tmp_path / "lr"
    os.makedirs(folder)
    for name, size in sizes.items():
        write_image(folder / name, astronaut_crops(1, size)[0])
    return str(folder)


def test_lr_hr_sizes_that_do_not_match_the_scale(tmp_path, hr, capsys):
    lr = _lr_folder(tmp_path, {"img0.png": 12, "img1.png": 10})
    assert _fails(capsys, ["-opt", _yml(tmp_path, hr, datasets__train__lr=lr)], "datasets.train.lr",
           "img1.png is 10x10 but HR img1.png is 48x48 (expected 12x12)")


def test_hr_and_lr_folders_with_unmatched_names(tmp_path, hr, capsys):
    lr = _lr_folder(tmp_path, {"img0.png": 12, "other.png": 12})
    assert _fails(capsys, ["-opt", _yml(tmp_path, hr, datasets__train__lr=lr)],
           "LR images without HR: other.png", "HR images without LR: img1.png")


def test_hr_smaller_than_the_crop(tmp_path, capsys):
    folder = tmp_path / "hr"
    write_photos(folder, count=1, size=48)
    write_image(folder / "small.png", astronaut_crops(1, 24)[0])
    assert _fails(capsys, ["-opt", _yml(tmp_path, str(folder))], "datasets.train.crop", "small.png (24x24 < 32)")


def test_empty_and_missing_folders(tmp_path, capsys):
    os.makedirs(tmp_path / "empty")
    assert _fails(capsys, ["-opt", _yml(tmp_path, str(tmp_path / "empty"))], "datasets.train.hr", "no images in")
    assert _fails(capsys, ["-opt", _yml(tmp_path, str(tmp_path / "absent"))], "datasets.train.hr",
           str(tmp_path / "absent"), "does not exist")


def test_unknown_key_suggests_the_right_one(tmp_path, hr, capsys):
    assert _fails(capsys, ["-opt", _yml(tmp_path, hr), "train.totl_iter=5"], "train.totl_iter: unknown option",
           "did you mean 'total_iter'")


def test_wrong_types_and_out_of_range_values(tmp_path, hr, capsys):
    yml = _yml(tmp_path, hr)
    assert _fails(capsys, ["-opt", yml, "train.optim_g.lr=-0.001"], "train.optim_g.lr", "must be >= 0")
    assert _fails(capsys, ["-opt", yml, "train.total_iter=many"], "train.total_iter", "expected int")
    # the generator class declares its scales (supported_scales): checked with the options (archs.check_contracts)
    assert _fails(capsys, ["-opt", yml, "scale=5", "datasets.train.crop=40", "network_g.type=rrdbnet"],
                  "network_g.scale: rrdbnet supports 1, 2, 3, 4, 8; got 5")


def _rrdbnet_state() -> dict:
    return ARCHS.build({"type": "rrdbnet", "num_feat": 16, "num_block": 1, "num_grow_ch": 4}, scale=4).state_dict()


def test_checkpoint_of_another_architecture_as_pretrained_generator(tmp_path, hr, capsys):
    path = str(tmp_path / "rrdb.pth")
    torch.save({"params_ema": _rrdbnet_state()}, path)
    assert _fails(capsys, ["-opt", _yml(tmp_path, hr), f"path.pretrain_network_g={path}"], "path.pretrain_network_g",
           path, "does not fit msrresnet", "8 missing (body.0.conv1.weight", "36 unexpected (body.0.rdb1",
           "conv_first.weight: checkpoint [16,3,3,3] vs model [8,3,3,3]")


def test_checkpoint_of_another_architecture_or_model_as_resume(tmp_path, hr, capsys):
    yml = _yml(tmp_path, hr)
    other = str(tmp_path / "rrdb_iter.pth")
    torch.save({"iter": 3, "nets": {"g": _rrdbnet_state(), "g_ema": _rrdbnet_state()}}, other)
    assert _fails(capsys, ["-opt", yml, "--resume", other], other, "nets.g: checkpoint does not fit msrresnet",
           "shape mismatch (conv_first.weight")
    g = ARCHS.build({"type": "msrresnet", "num_feat": 8, "num_block": 1}, scale=4).state_dict()
    sr_only = str(tmp_path / "sr_iter.pth")
    torch.save({"iter": 3, "nets": {"g": g, "g_ema": g}}, sr_only)                 # no discriminator
    srgan = write_options(tmp_path / "srgan.yml", tiny_options(hr, str(tmp_path / "exp"), model="srgan"))
    assert _fails(capsys, ["-opt", srgan, "--resume", sr_only], sr_only, "does not fit this SRGANModel",
           "no network 'd'")


def test_malicious_pickle_as_pretrained_generator_never_runs(tmp_path, hr, capsys):
    marker = str(tmp_path / "payload_ran")
    zipped, legacy = str(tmp_path / "evil.pth"), str(tmp_path / "evil_legacy.pth")
    torch.save({"params": _Payload(marker)}, zipped)
    with open(legacy, "wb") as f:
        pickle.dump({"params": _Payload(marker)}, f)
    for path in (zipped, legacy):
        _fails(capsys, ["-opt", _yml(tmp_path, hr), f"path.pretrain_network_g={path}"], path,
               "path.pretrain_network_g")
        assert not os.path.exists(marker)
