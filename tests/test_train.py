"""The training loop end to end on real photos: PSNR rises, resume continues where it stopped, the EMA
is updated every iteration by its warm-up schedule and is what gets validated and saved."""
import os

import pytest
import numpy as np
import torch

from sr_gan.metrics.psnr_ssim import calculate_psnr
from sr_gan.registry import ARCHS
from sr_gan.train import build_val_sets, run
from sr_gan.utils import checkpoint as ckpt
from sr_gan.utils.image_io import tensor_to_img

from conftest import tiny_options


def _psnr(results):
    return results["val"]["model"]["psnr"]


def test_training_measurably_improves_psnr(tiny_sr_data, tmp_path):
    """Validated is the EMA (default decay with its warm-up), which lags G: 200 iterations, not 150."""
    before = run(tiny_options(tiny_sr_data, str(tmp_path), name="a", train__total_iter=1))
    after = run(tiny_options(tiny_sr_data, str(tmp_path), name="b", train__total_iter=200))
    assert _psnr(after) > _psnr(before) + 0.5, (before, after)
    assert _psnr(after) > after["val"]["bicubic"]["psnr"], after          # and beats MATLAB bicubic
    assert after["val"]["bicubic"]["psnr"] == before["val"]["bicubic"]["psnr"]   # same baseline


def test_experiment_folder_layout(tiny_sr_data, tmp_path):
    run(tiny_options(tiny_sr_data, str(tmp_path), name="layout", train__total_iter=6,
                     val__save_images=True, logger__use_tb=True))
    exp = tmp_path / "layout"
    assert (exp / "options.yml").is_file() and (exp / "train.log").is_file()
    assert any(f.startswith("events") for f in os.listdir(exp / "tb"))
    assert os.listdir(exp / "visualization" / "val")
    assert [os.path.basename(p) for p in ckpt.list_checkpoints(str(exp / "checkpoints"))] == \
        ["iter_00000006.pth", "iter_00000005.pth"]
    assert (exp / "checkpoints" / "latest").read_text().strip() == "iter_00000006.pth"


def test_resume_continues_from_saved_iteration_and_matches(tiny_sr_data, tmp_path):
    full = tiny_options(tiny_sr_data, str(tmp_path), name="full", train__total_iter=10, train__ema_decay=0.9)
    run(full)
    part = tiny_options(tiny_sr_data, str(tmp_path), name="part", train__total_iter=5, train__ema_decay=0.9)
    run(part)
    rest = tiny_options(tiny_sr_data, str(tmp_path), name="part", train__total_iter=10, train__ema_decay=0.9)
    run(rest, resume="latest")
    log = (tmp_path / "part" / "train.log").read_text()
    assert "at iteration 5" in log
    a = ckpt.load_checkpoint(str(tmp_path / "full" / "checkpoints" / "iter_00000010.pth"))
    b = ckpt.load_checkpoint(str(tmp_path / "part" / "checkpoints" / "iter_00000010.pth"))
    assert b["iter"] == 10
    for net in ("g", "g_ema"):
        for k in a["nets"][net]:
            assert torch.equal(a["nets"][net][k], b["nets"][net][k]), (net, k)
    assert _max_diff(b["nets"]["g_ema"], b["nets"]["g"]) > 1e-4      # the saved EMA is not a copy of G


def _max_diff(a: dict, b: dict) -> float:
    return max((a[k].float() - b[k].float()).abs().max().item() for k in a)


def _decay(decay: float, t: int) -> float:
    return min(decay, (1.0 + t) / (10.0 + t))


def test_run_updates_ema_every_iteration_and_validates_it(tiny_sr_data, tmp_path):
    """A checkpoint every iteration: g_ema(t) = d_t g_ema(t-1) + (1 - d_t) g(t) with d_t = min(0.5, (1+t)/(10+t))
    for t = 2..10 (both sides of the warm-up), and the validation PSNR is the PSNR of the saved EMA."""
    opt = tiny_options(tiny_sr_data, str(tmp_path), name="ema", train__total_iter=10, train__ema_decay=0.5, train__optim_g={"lr": 4e-3},
                       save__freq=1, save__keep=10)
    results = run(opt)
    folder = str(tmp_path / "ema" / "checkpoints")
    states = {t: ckpt.load_checkpoint(os.path.join(folder, ckpt.checkpoint_name(t)))["nets"] for t in range(1, 11)}
    for t in range(2, 11):
        d = _decay(0.5, t)
        for k, e in states[t]["g_ema"].items():
            expected = d * states[t - 1]["g_ema"][k] + (1 - d) * states[t]["g"][k]
            torch.testing.assert_close(e, expected, rtol=1e-5, atol=1e-7, msg=lambda m: f"iteration {t}, {k}: {m}")
    assert _max_diff(states[10]["g_ema"], states[10]["g"]) > 1e-4

    item = build_val_sets(opt)["val"][0]
    scores = {}
    for which in ("g_ema", "g"):
        net = ARCHS.build(dict(opt["network_g"]), scale=4).eval()
        net.load_state_dict(states[10][which])
        with torch.no_grad():
            sr = tensor_to_img(net(item["lr"][None]).clamp(0, 1)[0])
        sr = np.round(sr * 255.0).astype(np.uint8)           # validation scores the 8-bit image a PNG holds
        hr = np.round(tensor_to_img(item["hr"]) * 255.0).astype(np.uint8)
        scores[which] = calculate_psnr(sr, hr, crop_border=4)
    # (abs 1e-6: validation runs the net through the tiled inference path; a rare 1-ulp difference may
    # round one pixel the other way, while the EMA and the raw G differ by far more, checked below)
    assert results["val"]["model"]["psnr"] == pytest.approx(scores["g_ema"], abs=1e-6)
    assert abs(scores["g_ema"] - scores["g"]) > 1e-5, scores   # so scoring the raw generator would show
