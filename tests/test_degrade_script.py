"""scripts/degrade.py (sr-degrade): LR samples, contact sheet and parameter JSON of the options' pipeline; flag errors."""
import json

import numpy as np
import pytest
import torch
from reliability_utils import write_photos

from sr_gan.degradations.pipelines import degrade_step
from sr_gan.registry import DEGRADATIONS
from sr_gan.utils.image_io import read_image

from sr_gan.commands import degrade as script


@pytest.fixture
def photos(tmp_path):
    return write_photos(tmp_path / "hr", count=2, size=60)     # 60 px: the 48 px centre crop starts at 6


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_samples_sheet_and_params(photos, tmp_path, capsys):
    out = tmp_path / "out"
    assert script.main(["-i", str(tmp_path / "hr"), "--num", "3", "--crop", "48", "--seed", "5", "--out", str(out)]) == 0
    record = json.loads((out / "params.json").read_text())
    assert record["seed"] == 5 and record["scale"] == 4 and record["degradation"] == {"type": "realesrgan"}
    assert [(s["file"], s["iteration"]) for s in record["samples"]] == [
        (f"img{j}_{k:02d}.png", 3 * j + k) for j in range(2) for k in range(3)]
    pipe = DEGRADATIONS.build({"type": "realesrgan", "gt_size": None}, scale=4)
    sheet, _ = read_image(out / "contact_sheet.png")
    sheet = np.rint(sheet * 255).astype(np.int64)
    assert sheet.shape == (2 * (48 + 18 + 2), 4 * (48 + 2), 3)
    for j, path in enumerate(photos):
        full, _ = read_image(path)
        hr = full[6:54, 6:54]                                  # the centre crop, by hand
        assert np.array_equal(read_image(out / f"img{j}_hr.png")[0], hr)
        hr_t = torch.from_numpy(np.ascontiguousarray(hr.transpose(2, 0, 1)))[None]
        for k in range(3):
            d = degrade_step(pipe, hr_t, 5, 3 * j + k)
            lr, _ = read_image(out / f"img{j}_{k:02d}.png")
            assert lr.shape == (12, 12, 3)
            assert np.array_equal(np.rint(lr * 255), np.rint(d.lr[0].permute(1, 2, 0).numpy() * 255))
            assert record["samples"][3 * j + k]["params"] == json.loads(json.dumps(d.params[0]))
            # the sheet's tile: LR pixel (y // 4, x // 4) at every pixel (nearest), under an 18 px label
            top, left = j * (48 + 18 + 2) + 18, (k + 1) * (48 + 2)
            tile = sheet[top:top + 48, left:left + 48]
            ys, xs = np.mgrid[0:48, 0:48]
            assert np.array_equal(tile, np.rint(lr * 255).astype(np.int64)[ys // 4, xs // 4])
        hr_tile = sheet[j * 68 + 18:j * 68 + 66, 0:48]
        assert np.array_equal(hr_tile, np.rint(hr * 255).astype(np.int64))
    assert "6 LR samples of 2 image(s)" in capsys.readouterr().err


def test_option_file_and_overrides_choose_the_pipeline(photos, tmp_path):
    opt = tmp_path / "o.yml"
    opt.write_text("name: x\nscale: 2\ndegradation: {type: bsrgan, jpeg_prob: 1.0}\n")
    out = tmp_path / "o"
    assert script.main(["-i", photos[0], "-opt", str(opt), "degradation.jpeg_range=[90,92]", "--num", "4",
                        "--crop", "32", "--out", str(out)]) == 0
    record = json.loads((out / "params.json").read_text())
    assert record["scale"] == 2 and record["degradation"] == {"type": "bsrgan", "jpeg_prob": 1.0, "jpeg_range": [90, 92]}
    assert read_image(out / "img0_00.png")[0].shape == (16, 16, 3)
    pipe = DEGRADATIONS.build({"type": "bsrgan", "jpeg_prob": 1.0, "jpeg_range": [90, 92], "gt_size": None}, scale=2)
    full, _ = read_image(photos[0])
    hr_t = torch.from_numpy(np.ascontiguousarray(full[14:46, 14:46].transpose(2, 0, 1)))[None]
    for k, s in enumerate(record["samples"]):
        assert s["params"] == json.loads(json.dumps(degrade_step(pipe, hr_t, 0, k).params[0]))
    different = tmp_path / "seed1"
    script.main(["-i", photos[0], "-opt", str(opt), "--num", "1", "--crop", "32", "--seed", "1", "--out", str(different)])
    assert json.loads((different / "params.json").read_text())["samples"][0]["params"] != record["samples"][0]["params"]


@pytest.mark.parametrize("extra, needle", [
    (["--num", "0"], "argument --num: expected an integer >= 1, got 0"),
    (["--crop", "2"], "--crop: 2 is smaller than the scale 4"),
    (["degradation.jpeg_range=[95,30]"], "degradation.jpeg_range: low must be <= high"),
    (["train.total_iter=3"], "without -opt only degradation.<key>=... and scale=... apply"),
    (["--type", "realesrgn"], "degradation.type: unknown degradation pipeline 'realesrgn'"),
])
def test_bad_flags_are_one_line_errors(photos, tmp_path, capsys, extra, needle):
    assert script.main(["-i", photos[0], "--out", str(tmp_path / "o"), *extra]) == 2
    assert needle in _error_line(capsys)


def test_bad_inputs_and_outputs_are_one_line_errors(photos, tmp_path, capsys):
    assert script.main(["-i", str(tmp_path / "nothing*.png"), "--out", str(tmp_path / "o")]) == 2
    assert "nothing*.png: no such file or folder, and no image matches it as a glob" in _error_line(capsys)
    (tmp_path / "file").write_text("x")
    assert script.main(["-i", photos[0], "--out", str(tmp_path / "file")]) == 2
    assert "--out" in _error_line(capsys) and not (tmp_path / "o").exists()
    plain = tmp_path / "plain.yml"
    plain.write_text("name: x\nscale: 4\n")
    assert script.main(["-i", photos[0], "-opt", str(plain), "--out", str(tmp_path / "o")]) == 2
    assert "has no degradation: section" in _error_line(capsys)
    (tmp_path / "empty").mkdir()
    assert script.main(["-i", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 2
    assert "no images in this folder" in _error_line(capsys)


def test_inputs_are_checked_before_anything_is_written_and_earlier_previews_are_kept(photos, tmp_path, capsys):
    import cv2
    tiny = tmp_path / "tiny.png"
    cv2.imwrite(str(tiny), np.zeros((3, 3, 3), np.uint8))
    out = tmp_path / "out"
    assert script.main(["-i", photos[0], str(tiny), "--out", str(out)]) == 2     # the good photo is read first
    assert f"{tiny}: image of 3x3 is smaller than the scale 4" in _error_line(capsys) and not out.exists()
    args = ["-i", photos[0], "--num", "2", "--crop", "32", "--out", str(out)]
    assert script.main(args + ["--seed", "1"]) == 0
    capsys.readouterr()
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert script.main(args + ["--seed", "2"]) == 2
    assert "img0_hr.png and 4 more already exist; choose another --out or pass --overwrite" in _error_line(capsys)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert script.main(args + ["--seed", "2", "--overwrite"]) == 0
    assert json.loads((out / "params.json").read_text())["seed"] == 2
