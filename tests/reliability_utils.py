"""Helpers shared by the reliability tests: tiny photos, tiny option files, the CLI in a subprocess.

Everything is made at run time in a temporary folder (nothing committed) and sized so one training
subprocess costs little more than Python start-up plus the torch import.
"""
from __future__ import annotations

import contextlib
import os
import random
import subprocess
import sys
import time

import numpy as np
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN_SR = os.path.join(REPO, "train_sr.py")


def astronaut_crops(count: int, size: int) -> list[np.ndarray]:
    """`count` different size x size uint8 RGB crops of scikit-image's astronaut photo (downscaled 4x)."""
    import cv2
    from skimage import data
    photo = cv2.resize(data.astronaut(), (128, 128), interpolation=cv2.INTER_AREA)
    span = 128 - size + 1
    return [np.ascontiguousarray(photo[(i * 17) % span:][:size, (i * 29) % span:][:, :size]) for i in range(count)]


def write_photos(folder, count: int = 3, size: int = 48, prefix: str = "img") -> list[str]:
    """PNG files folder/<prefix><i>.png; returns their paths."""
    from sr_gan.utils.image_io import write_image
    os.makedirs(folder, exist_ok=True)
    paths = []
    for i, img in enumerate(astronaut_crops(count, size)):
        path = os.path.join(str(folder), f"{prefix}{i}.png")
        write_image(path, img)
        paths.append(path)
    return paths


def tiny_options(hr: str, exp_root: str, name: str = "tiny", model: str = "sr", **sections) -> dict:
    """A raw (unvalidated) option dict for a tiny x4 msrresnet run; `sections` replace/extend top-level keys."""
    opt = {
        "name": name, "model": model, "scale": 4, "seed": 7, "device": "cpu", "num_threads": 1,
        "datasets": {"train": {"type": "paired", "hr": hr, "crop": 32, "batch": 2, "workers": 0}},
        "network_g": {"type": "msrresnet", "num_feat": 8, "num_block": 1},
        "path": {"experiments_root": exp_root},
        "train": {"total_iter": 6, "optim_g": {"lr": 1e-3}, "ema_decay": 0.9,
                  "scheduler": {"type": "cosine", "warmup_iter": 3, "eta_min": 1e-5},
                  "losses": [{"type": "l1", "weight": 1.0}]},
        "val": {"freq": 0, "save_images": False},
        "logger": {"print_freq": 100, "use_tb": False},
        "save": {"freq": 3, "keep": 2},
    }
    if model == "srgan":
        opt["network_d"] = {"type": "vgg", "num_feat": 8}
        opt["train"].update({"optim_d": {"lr": 1e-3},
                             "losses": [{"type": "l1", "weight": 1.0},
                                        {"type": "perceptual", "pretrained": False, "layers": {"conv1_2": 1.0},
                                         "weight": 0.1}],
                             "gan": {"type": "wgan_gp", "weight": 0.01}})
    for key, value in sections.items():
        node, parts = opt, key.split("__")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return opt


def write_options(path, opt: dict) -> str:
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(opt, f, sort_keys=False)
    return str(path)


def cli_env(**extra) -> dict:
    env = dict(os.environ, PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.update(extra)
    return env


def run_cli(args: list[str], timeout: float = 120, **env) -> subprocess.CompletedProcess:
    """`python train_sr.py ARGS` to completion, text output captured."""
    return subprocess.run([sys.executable, TRAIN_SR, *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env=cli_env(**env))


def cli_main(argv: list[str]) -> int:
    """train_sr.main in this process (no start-up cost) for cases a subprocess adds nothing to."""
    if REPO not in sys.path:
        sys.path.insert(0, REPO)
    import train_sr
    return train_sr.main(argv)


def start_cli(args: list[str], **env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, TRAIN_SR, *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, cwd=REPO, env=cli_env(**env))


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """Exit 2, no traceback, exactly one `error:` line on stderr (the last line), naming every needle."""
    err = proc.stderr
    assert proc.returncode == 2, (proc.returncode, err[-3000:])
    assert "Traceback" not in err, err[-3000:]
    error_lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1, err[-3000:]
    assert err.rstrip().splitlines()[-1] == error_lines[0], err[-3000:]
    for needle in needles:
        assert needle in error_lines[0], (needle, error_lines[0])
    return error_lines[0]


KILL_SEED_ENV = "SR_GAN_CRASH_SEED"
DEFAULT_KILL_SEED = 1515


def kill_schedule(test: str) -> tuple[int, random.Random]:
    """The seed of a crash test's kill schedule and a Random drawn from it: $SR_GAN_CRASH_SEED (an integer, or
    `random` for a fresh one from the clock), else a fixed default, so CI always runs the same schedule.
    Printed (pytest shows it with -rA and under a failure); replay with SR_GAN_CRASH_SEED=<seed>. What it
    fixes is where and after what delay the kills are aimed; the iteration a kill lands on still depends on
    the machine's speed."""
    raw = os.environ.get(KILL_SEED_ENV, "")
    seed = (int(time.time() * 1000) % 1_000_000 if raw == "random" else int(raw)) if raw else DEFAULT_KILL_SEED
    print(f"{test}: kill schedule seed {seed} (replay: {KILL_SEED_ENV}={seed})")
    return seed, random.Random(seed)


@contextlib.contextmanager
def naming_seed(seed: int):
    """Every assertion failure inside carries the kill schedule's seed and how to replay it."""
    try:
        yield
    except AssertionError as e:
        raise AssertionError(f"[kill schedule seed {seed}; replay: {KILL_SEED_ENV}={seed}] {e}") from e
