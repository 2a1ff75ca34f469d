"""The training loop end to end on real photos: PSNR rises, resume continues where it stopped."""
import os

import torch

from sr_gan.train import run
from sr_gan.utils import checkpoint as ckpt

from conftest import tiny_options


def _psnr(results):
    return results["val"]["model"]["psnr"]


def test_training_measurably_improves_psnr(tiny_sr_data, tmp_path):
    before = run(tiny_options(tiny_sr_data, str(tmp_path), name="a", train__total_iter=1))
    after = run(tiny_options(tiny_sr_data, str(tmp_path), name="b", train__total_iter=150))
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
