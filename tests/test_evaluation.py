"""scripts/test_sr.py and sr_gan.evaluation: hand-computed PSNR/SSIM, CSV rows, model mode, benchmark lists."""
from __future__ import annotations

import csv
import math
import os

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from sr_gan.data.bicubic import imresize
from sr_gan.errors import OptionError
from sr_gan.evaluation import evaluate_checkpoint, load_benchmarks, match_sr_to_hr
from sr_gan.metrics.psnr_ssim import calculate_psnr
from sr_gan.registry import ARCHS
from sr_gan.utils.image_io import write_image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = {"type": "rrdbnet", "num_feat": 8, "num_block": 1, "num_grow_ch": 8}
Y_WEIGHT_SUM = 65.481 + 128.553 + 24.966   # adding k/255 to R, G and B moves MATLAB Y by 219 * k/255


def _test_sr(capsys, *args) -> tuple[int, str, str]:
    from sr_gan.commands import test_sr as module
    capsys.readouterr()
    code = module.main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _hr_images(folder, n: int = 3, size: int = 48, seed: int = 0) -> list[np.ndarray]:
    """Smooth-ish uint8 images with values in [40, 200] (so a +10 offset never clips)."""
    rng = np.random.default_rng(seed)
    images = []
    for i in range(n):
        base = rng.integers(40, 200, (size // 4, size // 4, 3)).astype(np.float32)
        img = np.clip(np.kron(base, np.ones((4, 4, 1))) + rng.integers(-20, 20, (size, size, 3)), 40, 200)
        images.append(img.astype(np.uint8))
        write_image(folder / f"img{i}.png", images[-1])
    return images


def _checkpoint(path, seed: int = 0) -> None:
    torch.manual_seed(seed)
    net = ARCHS.build(dict(TINY), scale=4)
    torch.save({"iter": 3, "nets": {"g": net.state_dict()}, "opt": {"scale": 4, "network_g": dict(TINY)}}, path)


def test_sr_mode_hand_computed_psnr_ssim_and_csv(tmp_path, capsys):
    hr_dir, sr_dir = tmp_path / "HR", tmp_path / "SR"
    hr = _hr_images(hr_dir)
    write_image(sr_dir / "img0_x4.png", hr[0])                  # identical
    write_image(sr_dir / "img1_SR.png", hr[1] + np.uint8(10))   # Y offset 219*10/255
    write_image(sr_dir / "img2_out.png", hr[2] + np.uint8(4))
    csv_path = tmp_path / "scores.csv"
    code, out, _ = _test_sr(capsys, "--sr", sr_dir, "--hr", hr_dir, "--scale", 4, "--csv", csv_path,
                            "--metrics", "psnr,ssim")
    assert code == 0
    rows = {r["image"]: r for r in csv.DictReader(open(csv_path))}
    assert list(rows) == ["img0", "img1", "img2", "mean", "bicubic mean"]
    assert rows["img0"]["psnr"] == "inf" and float(rows["img0"]["ssim"]) == pytest.approx(1.0, abs=1e-12)
    for name, k in (("img1", 10), ("img2", 4)):
        expected = 20 * math.log10(255 / (Y_WEIGHT_SUM * k / 255))
        assert float(rows[name]["psnr"]) == pytest.approx(expected, abs=1e-6)  # float32 pixels
        # SSIM: scikit-image's on MATLAB's Y (Gaussian window, sigma 1.5, population covariance), border 4
        y = lambda a: (16 + a.astype(np.float64) / 255 @ np.array([65.481, 128.553, 24.966]))[4:-4, 4:-4]  # noqa: E731
        i = int(name[-1])
        ref = structural_similarity(y(hr[i] + np.uint8(k)), y(hr[i]), gaussian_weights=True, sigma=1.5,
                                    use_sample_covariance=False, data_range=255)
        assert float(rows[name]["ssim"]) == pytest.approx(ref, abs=1e-6) and ref < 1 - 1e-4
    ssims = [float(rows[n]["ssim"]) for n in ("img0", "img1", "img2")]
    assert float(rows["mean"]["ssim"]) == pytest.approx(np.mean(ssims), abs=1e-12)
    assert rows["mean"]["psnr"] == "inf"
    # bicubic baseline: MATLAB imresize down (stored as 8 bit) and up again, Y PSNR with border 4
    quantize = lambda a: (np.rint(np.clip(a, 0, 1) * 255.0) / 255.0).astype(np.float32)  # noqa: E731
    bicubic = [calculate_psnr(quantize(imresize(quantize(imresize(h.astype(np.float32) / 255, 0.25)), 4)),
                              h.astype(np.float32) / 255, crop_border=4) for h in hr]
    assert float(rows["bicubic mean"]["psnr"]) == pytest.approx(np.mean(bicubic), abs=1e-9)
    assert "| mean |" in out and "| bicubic mean |" in out and "| img1 | 29.45" in out


def test_sr_mode_rgb_flag_and_missing_sr(tmp_path, capsys):
    hr_dir, sr_dir = tmp_path / "HR", tmp_path / "SR"
    hr = _hr_images(hr_dir, n=2)
    write_image(sr_dir / "img0.png", hr[0] + np.uint8(6))
    csv_path = tmp_path / "s.csv"
    write_image(sr_dir / "img1.png", hr[1])
    code, _, _ = _test_sr(capsys, "--sr", sr_dir, "--hr", hr_dir, "--scale", 4, "--rgb", "--metrics", "psnr",
                          "--csv", csv_path)
    assert code == 0
    row = next(csv.DictReader(open(csv_path)))
    assert float(row["psnr"]) == pytest.approx(20 * math.log10(255 / 6), abs=1e-6)  # RGB: offset 6 (float32 pixels)
    (sr_dir / "img1.png").unlink()
    code, out, err = _test_sr(capsys, "--sr", sr_dir, "--hr", hr_dir, "--scale", 4, "--metrics", "psnr")
    assert code == 2 and err.startswith("error:") and "img1" in err and len(err.strip().splitlines()) == 1


def test_match_sr_to_hr_suffixes():
    from pathlib import Path
    files = [Path(p) for p in ("baby_x4.png", "birdx4.png", "img_10_SR.png", "img_1_out.png", "zebra.png")]
    matched, unmatched = match_sr_to_hr(files, ["baby", "bird", "img_1", "img_10"])
    assert {k: v.name for k, v in matched.items()} == {"baby": "baby_x4.png", "bird": "birdx4.png",
                                                       "img_10": "img_10_SR.png", "img_1": "img_1_out.png"}
    assert unmatched == ["zebra.png"]


def test_model_mode_writes_sr_and_bicubic_row(tmp_path, capsys):
    hr_dir = tmp_path / "HR"
    _hr_images(hr_dir, n=2, size=32)
    ckpt = tmp_path / "g.pth"
    _checkpoint(ckpt)
    out_dir, csv_path = tmp_path / "SR", tmp_path / "m.csv"
    code, out, _ = _test_sr(capsys, "--model", ckpt, "--hr", hr_dir, "--scale", 4, "--out", out_dir,
                            "--csv", csv_path, "--metrics", "psnr,ssim,lpips", "--tile", 4)
    assert code == 0
    assert sorted(p.name for p in out_dir.iterdir()) == ["img0.png", "img1.png"]
    rows = {r["image"]: r for r in csv.DictReader(open(csv_path))}
    assert set(rows) == {"img0", "img1", "mean", "bicubic mean"}
    assert float(rows["bicubic mean"]["psnr"]) > 20 and float(rows["mean"]["psnr"]) < float(rows["bicubic mean"]["psnr"])
    lpips_cell = rows["mean"]["lpips"]
    if lpips_cell == "n/a":  # no AlexNet weights on this machine: the note names the missing file
        assert "alexnet-owt-7be5be79.pth" in out and "downloads are off (SR_GAN_OFFLINE=1)" in out
    # the library call gives the same numbers as the CLI (model rerun on the saved LR)
    report = evaluate_checkpoint(ckpt, hr_dir, 4, metrics=("psnr",))
    assert report.mean["psnr"] == pytest.approx(float(rows["mean"]["psnr"]), abs=1e-9)
    assert report.bicubic_mean["psnr"] == pytest.approx(float(rows["bicubic mean"]["psnr"]), abs=1e-9)


def test_benchmarks_yml_missing_sets(tmp_path, capsys):
    opt = load_benchmarks(os.path.join(ROOT, "options", "test", "benchmarks.yml"))
    assert list(opt["sets"]) == ["Set5", "Set14", "BSD100", "Urban100", "DIV2K_valid"]
    ckpt = tmp_path / "g.pth"
    _checkpoint(ckpt)
    missing = tmp_path / "missing.yml"
    missing.write_text(f"scale: 4\nsets:\n  A: {{hr: {tmp_path}/nope/HR}}\n  B: {{hr: {tmp_path}/none/HR}}\n")
    code, _, err = _test_sr(capsys, "-opt", missing, "--model", ckpt)
    assert code == 2
    assert "note: A: HR folder" in err and "note: B: HR folder" in err and "error:" in err
    bad = tmp_path / "bad.yml"
    bad.write_text("scale: 4\nsets:\n  A: {hr: x, lrr: y}\n")
    with pytest.raises(OptionError, match="unknown key 'sets.A.lrr'"):
        load_benchmarks(bad)
    code, _, err = _test_sr(capsys, "-opt", bad, "--model", ckpt)
    assert code == 2 and err.count("\n") == 1


def test_benchmarks_yml_runs_existing_sets_only(tmp_path, capsys):
    _hr_images(tmp_path / "SetA" / "HR", n=1, size=32)
    ckpt = tmp_path / "g.pth"
    _checkpoint(ckpt)
    yml = tmp_path / "b.yml"
    yml.write_text(f"scale: 4\nmetrics: [psnr]\nsets:\n  SetA: {{hr: {tmp_path}/SetA/HR, lr: '{tmp_path}/SetA/LR/X{{scale}}'}}\n"
                   f"  SetB: {{hr: {tmp_path}/SetB/HR}}\n")
    code, out, err = _test_sr(capsys, "-opt", yml, "--model", ckpt, "--out", tmp_path / "res")
    assert code == 0
    assert "## SetA x4" in out and "SetB" not in out and "note: SetB: HR folder" in err
    assert "LR folder" in err and (tmp_path / "res" / "SetA" / "img0.png").is_file()
