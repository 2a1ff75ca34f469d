"""One scoring path: a checkpoint's training validation (train.log) and scripts/test_sr.py print the same
PSNR/SSIM for the same folder, and the SR image that is scored is the one a saved PNG holds."""
import os
import re
import subprocess
import sys

import cv2
import numpy as np

from reliability_utils import REPO, cli_env, tiny_options, write_options, write_photos


def _validation_table(log: str) -> dict:
    """{(metric, 'model'|'bicubic'): printed cell} of the last validation table in train.log."""
    block = log.rsplit("validation at iteration", 1)[1]
    cells = {}
    for metric, model, bicubic in re.findall(r"^\| val \| (\w+) \| (\S+) \| (\S+) \|$", block, re.M):
        cells[(metric, "model")], cells[(metric, "bicubic")] = model, bicubic
    return cells


def _test_sr_table(out: str) -> dict:
    header = re.search(r"^\| image \| (.*) \|$", out, re.M).group(1).split(" | ")
    cells = {}
    for row, kind in (("mean", "model"), ("bicubic mean", "bicubic")):
        values = re.search(rf"^\| {row} \| (.*) \|$", out, re.M).group(1).split(" | ")
        cells.update({(m, kind): v for m, v in zip(header, values)})
    return cells


def test_training_validation_and_test_sr_print_the_same_numbers(tmp_path):
    # validation images whose sides are not multiples of the scale (HR mod-cropped by both paths)
    val = tmp_path / "val_hr"
    write_photos(val, count=2, size=50, prefix="v")
    opt = tiny_options(str(tmp_path / "train_hr"), str(tmp_path / "exp"), name="score",
                       datasets={"train": {"type": "paired", "hr": str(tmp_path / "train_hr"), "crop": 32,
                                           "batch": 2, "workers": 0},
                                 "val": {"type": "paired", "hr": str(val)}},
                       val={"freq": 0, "save_images": True, "metrics": ["psnr", "ssim"]})
    write_photos(tmp_path / "train_hr", count=3, size=48)
    env = cli_env()
    subprocess.run([sys.executable, os.path.join(REPO, "train_sr.py"), "-opt",
                    write_options(tmp_path / "o.yml", opt)], check=True, capture_output=True, env=env, cwd=tmp_path)
    exp = tmp_path / "exp" / "score"
    trained = _validation_table((exp / "train.log").read_text())
    test = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "test_sr.py"), "--model",
                           str(exp / "checkpoints" / "latest"), "--hr", str(val), "--scale", "4",
                           "--metrics", "psnr,ssim", "--device", "cpu", "--out", str(tmp_path / "sr")],
                          check=True, capture_output=True, text=True, env=env, cwd=tmp_path)
    tested = _test_sr_table(test.stdout)
    assert set(trained) == {(m, k) for m in ("psnr", "ssim") for k in ("model", "bicubic")}
    assert trained == {k: tested[k] for k in trained}
    assert float(trained[("psnr", "model")]) != float(trained[("psnr", "bicubic")])   # a real model, not bicubic
    # the images the two paths saved are the same bytes' worth of pixels
    for name in ("v0", "v1"):
        ours = cv2.imread(str(exp / "visualization" / "val" / f"{name}_00000006.png"), cv2.IMREAD_UNCHANGED)
        theirs = cv2.imread(str(tmp_path / "sr" / f"{name}.png"), cv2.IMREAD_UNCHANGED)
        assert ours.shape == (48, 48, 3) and np.array_equal(ours, theirs)


def test_to_8bit_is_what_a_saved_png_holds(tmp_path):
    from sr_gan.utils.image_io import to_8bit, write_image
    rng = np.random.default_rng(0)
    img = rng.uniform(-0.1, 1.1, (9, 11, 3)).astype(np.float32)
    img[0, :3, 0] = [0.5 / 255, 1.5 / 255, 254.5 / 255]           # ties: rounded half to even, like np.rint
    write_image(tmp_path / "x.png", img)
    png = cv2.cvtColor(cv2.imread(str(tmp_path / "x.png"), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGR2RGB)
    assert np.array_equal(to_8bit(img), png.astype(np.float32) / np.float32(255))
    assert to_8bit(img).dtype == np.float32


def test_score_image_marks_unscorable_images_and_means_skip_them():
    from sr_gan.scoring import NA, mean_scores, score_image

    def psnr(sr, hr):
        mse = float(np.mean((sr * 255.0 - hr * 255.0) ** 2))
        return 10 * np.log10(255.0 ** 2 / mse)

    def fussy(sr, hr):
        if sr.shape[0] < 8:
            raise ValueError("image too small\nsecond line")
        return 2.0

    scorers = {"psnr": psnr, "fussy": fussy, "gone": NA}
    hr = np.zeros((4, 4, 3))
    failures = {}
    row = score_image(scorers, hr + 1 / 255, hr, failures)          # MSE 1 -> 48.1308 dB
    assert row == {"psnr": 20 * np.log10(255.0), "fussy": NA, "gone": NA}
    assert failures == {"fussy": "image too small"}
    big = score_image(scorers, np.full((8, 8, 3), 2 / 255), np.zeros((8, 8, 3)))   # MSE 4
    assert mean_scores([row, big], scorers) == {"psnr": (20 * np.log10(255.0) + 10 * np.log10(255.0 ** 2 / 4)) / 2,
                                               "fussy": 2.0, "gone": NA}


def test_every_metric_declares_its_direction_on_the_class():
    from sr_gan.metrics import better_sentence, higher_is_better
    from sr_gan.registry import METRICS
    for name in METRICS.names():
        assert isinstance(METRICS.get(name).__dict__.get("higher_is_better"), bool), name
    assert [higher_is_better(m) for m in ("psnr", "ssim", "lpips", "niqe")] == [True, True, False, False]
    assert better_sentence(["psnr", {"type": "lpips", "net": "vgg"}, "ssim"]) == "higher PSNR/SSIM, lower LPIPS"


def test_ablation_bolding_and_labels_follow_the_class_attribute(monkeypatch):
    """Flip PSNR's declared direction: the best cell, the column arrow and the legend sentence all follow."""
    from sr_gan.ablation import report
    from sr_gan.metrics.psnr_ssim import PSNR
    cells = [{"cell": c, "kind": "run", "runs": 1, "psnr": (v, 0.0, 1), "ssim": None, "lpips": (l, 0.0, 1), "niqe": None}
             for c, v, l in (("a", 30.0, 0.2), ("b", 28.0, 0.1))]
    assert report.best_cells(cells) == {"psnr": "a", "lpips": "b"}
    assert report.column_title("psnr") == "PSNR (dB) ↑" and report.column_title("lpips") == "LPIPS ↓"
    monkeypatch.setattr(PSNR, "higher_is_better", False)
    assert report.best_cells(cells) == {"psnr": "b", "lpips": "b"}
    assert report.column_title("psnr") == "PSNR (dB) ↓"
    assert "(higher SSIM, lower PSNR/LPIPS/NIQE)" in report.markdown({"v": cells}, 1)
