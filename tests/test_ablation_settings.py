"""scripts/ablate.py keeps the user's thread settings, and the perception-distortion plot labels its
fallback axis truthfully (issue 14, "also found")."""
from __future__ import annotations

import pytest

from sr_gan.ablation import runner
from sr_gan.ablation.plots import perception_axis, y_label


@pytest.mark.parametrize("opt, env, threads, env_after, pin", [
    # the user's num_threads (file, override or grid) wins: nothing appended, OMP left alone
    ({"num_threads": 3}, {}, None, {}, "3 thread(s), num_threads from the options"),
    ({"num_threads": 3}, {"OMP_NUM_THREADS": "1"}, None, {"OMP_NUM_THREADS": "1"}, "3 thread(s)"),
    # the user's OMP_NUM_THREADS wins over the sweep's share of the cores
    ({"num_threads": None}, {"OMP_NUM_THREADS": "1"}, None, {"OMP_NUM_THREADS": "1"},
     "OMP_NUM_THREADS=1 from the environment"),
    # neither set: cores // jobs, for torch and OpenMP/MKL alike
    ({"num_threads": None}, {}, 4, {"OMP_NUM_THREADS": "4", "MKL_NUM_THREADS": "4"}, "4 thread(s)"),
    ({"num_threads": None}, {"PATH": "/bin"}, 4, {"PATH": "/bin", "OMP_NUM_THREADS": "4", "MKL_NUM_THREADS": "4"},
     "4 thread(s)"),
])
def test_a_users_thread_setting_wins(opt, env, threads, env_after, pin):
    env = dict(env)
    got, said = runner.thread_setting(opt, 4, env)
    assert got == threads and env == env_after and said.startswith(pin)
    command = runner.command("o.yml", got)
    assert ("num_threads=4" in command) == (threads == 4) and not any(c == "num_threads=3" for c in command)


def test_on_gpus_the_sweep_sets_no_threads():
    env: dict = {}
    assert runner.thread_setting({"num_threads": None}, None, env) == (None, "torch's default threads") and env == {}


def _cell(psnr, **metrics):
    return {"kind": "run", "cell": "c", "psnr": psnr, "lpips": None, "niqe": None, "ssim": None, **metrics}


def test_perception_distortion_axis_labels():
    assert perception_axis([_cell((25.0, 0.1, 1), lpips=(0.2, 0.0, 1))]) == "lpips"
    assert y_label("lpips") == "LPIPS  (lower = better perceptual quality)"
    assert y_label("niqe") == "NIQE  (lower = better perceptual quality)"
    # neither LPIPS nor NIQE: SSIM is plotted, and SSIM measures distortion, not perceptual quality
    assert perception_axis([_cell((25.0, 0.1, 1), ssim=(0.8, 0.0, 1))]) == "ssim"
    assert y_label("ssim") == "SSIM  (higher = less distortion; no perceptual metric available)"
