#!/usr/bin/env python
"""Can the training loader keep up? Patches/s delivered vs. patches/s the training step consumes.

Delivered: sr_gan.train.build_train_loader on the demo PNG folder (random crops, flips, on-the-fly
MATLAB bicubic LR) with 0, 1 and 2 workers, timed after the first batch (worker start-up excluded).
Consumed: batch / seconds per model.optimize_parameters for
  demo    options/demo.yml (sr, msrresnet 48/6, batch 16, HR crop 96)
  esrgan  the ESRGAN recipe (srgan, RRDBNet 64/23 + VGG D + VGG19 conv5_4, batch 16, HR crop 128);
          one batch-4 step is timed and scaled x4 (the step is compute-bound: time ~ batch).
ratio = delivered / consumed; >= 1.5 leaves the loader head-room (it must stay ahead while the
step uses the same cores).

    python bench/data.py                       # both recipes, 0/1/2 workers
    python bench/data.py --esrgan-step 4.3     # reuse a measured batch-4 ESRGAN step time (s)
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPES = {"demo": {"crop": 96, "batch": 16}, "esrgan": {"crop": 128, "batch": 16}}


def loader_rate(crop: int, batch: int, workers: int, batches: int) -> float:
    from sr_gan import options
    from sr_gan.train import build_train_loader
    opt = options.load(os.path.join(ROOT, "options", "demo.yml"),
                       [f"datasets.train.crop={crop}", f"datasets.train.batch={batch}",
                        f"datasets.train.workers={workers}", f"datasets.train.hr={ROOT}/datasets/demo/train/HR"])
    loader, _ = build_train_loader(opt, 0)
    data = iter(loader)
    next(data)                                # worker start-up and first batch excluded
    t = time.perf_counter()
    for _ in range(batches):
        next(data)
    rate = batches * batch / (time.perf_counter() - t)
    del data
    return rate


def demo_step_seconds(iters: int) -> float:
    from sr_gan import options
    from sr_gan.registry import MODELS
    opt = options.load(os.path.join(ROOT, "options", "demo.yml"),
                       [f"datasets.train.hr={ROOT}/datasets/demo/train/HR"], check_paths=False)
    model = MODELS.get("sr")(opt, torch.device("cpu"))
    return median_step_seconds(model, {"lr": torch.rand(16, 3, 24, 24), "hr": torch.rand(16, 3, 96, 96)}, iters)


def median_step_seconds(model, batch: dict, iters: int) -> float:
    """Median wall time of `model.optimize_parameters` on a fixed batch, after one warm-up step."""
    model.feed_data(batch)
    model.optimize_parameters(1)
    times = []
    for it in range(iters):
        t = time.perf_counter()
        model.optimize_parameters(it + 2)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def esrgan_batch4_step_seconds(iters: int) -> float:
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    from train_step import make_options
    from sr_gan.registry import MODELS
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MODELS.get("srgan")(make_options("esrgan", "none", False, False, "cpu", 4, 128), torch.device("cpu"))
    return median_step_seconds(model, {"lr": torch.rand(4, 3, 32, 32), "hr": torch.rand(4, 3, 128, 128)}, iters)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--batches", type=int, default=40, help="timed batches per loader measurement")
    p.add_argument("--iters", type=int, default=3, help="timed demo steps (ESRGAN: 1)")
    p.add_argument("--esrgan-step", type=float, default=None, help="seconds of one batch-4 ESRGAN step (skip measuring)")
    p.add_argument("--recipes", nargs="+", choices=sorted(RECIPES), default=sorted(RECIPES))
    args = p.parse_args(argv)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs", flush=True)
    consumed = {}
    if "demo" in args.recipes:
        t = demo_step_seconds(args.iters)
        consumed["demo"] = 16 / t
        print(f"demo step (batch 16, crop 96): {t:.3f} s -> consumes {consumed['demo']:.1f} patches/s", flush=True)
    if "esrgan" in args.recipes:
        t4 = args.esrgan_step if args.esrgan_step is not None else esrgan_batch4_step_seconds(1)
        consumed["esrgan"] = 4 / t4
        print(f"esrgan step (batch 4, crop 128): {t4:.3f} s -> batch 16 ~ {4 * t4:.2f} s, consumes "
              f"{consumed['esrgan']:.2f} patches/s", flush=True)
    rows = []
    for name in args.recipes:
        r = RECIPES[name]
        for w in args.workers:
            rate = loader_rate(r["crop"], r["batch"], w, args.batches)
            rows.append((name, r["crop"], w, rate, consumed[name], rate / consumed[name]))
            print(f"{name}: crop {r['crop']}, {w} workers: {rate:.1f} patches/s delivered, "
                  f"ratio {rate / consumed[name]:.2f}", flush=True)
    print("\n| recipe | HR crop | workers | delivered patches/s | consumed patches/s | delivered/consumed |")
    print("|---|---|---|---|---|---|")
    for name, crop, w, rate, cons, ratio in rows:
        print(f"| {name} | {crop} | {w} | {rate:.1f} | {cons:.2f} | {ratio:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
