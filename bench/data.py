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

Storage (--mode storage): samples/s of the training loader reading DIV2K-style 480x480 HR sub-images
with x4 LR (120x120), from PNG files (`folder`), from BasicSR LMDBs (`lmdb`), and from decoded images
in RAM (`ram`, cache: true), at the ESRGAN (GT 128, batch 16) and Real-ESRGAN (GT 256, batch 12) crop
sizes, 1/2/4/8 workers, next to what one H100 consumes (H100_CONSUMES below: an assumption, sourced).
Real-ESRGAN's loader reads HR only (its LR is made on the GPU), so the GT 256 rows, which also decode
the LR file, slightly overstate its CPU cost. Page cache warm: these are decode-bound figures.

Restart (--mode restart): writes --files small PNGs (default 100,000, 128x128) to a temporary folder
and starts training-data loading twice in fresh processes: first start (scan, default check: header
above 2,000 files) and second start (scan cache), each timed from process launch to the first training
batch. The issue's target: the second start under 30 s on the 2-core machine.

    python bench/data.py --mode storage --images 200 --workers 1 2 4 8
    python bench/data.py --mode restart --files 100000
    python bench/data.py --mode storage --images 16 --batches 2 --workers 1 --sizes 128   # smoke run
    python bench/data.py --mode restart --files 500 --checks header full none              # smoke run
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPES = {"demo": {"crop": 96, "batch": 16}, "esrgan": {"crop": 128, "batch": 16}}

# Samples/s one H100 trains on, assumed from published times (no GPU was at hand to measure):
# Real-ESRGAN x4plus, GAN stage: 400k iterations at 4 GPUs x batch 12, GT 256
# (xinntao/Real-ESRGAN options/train_realesrgan_x4plus.yml), "4-5 days for RealESRGAN" on 4 V100
# (xinntao, Real-ESRGAN issue #38) -> 4.5 d / 400k = 0.97 s/it -> 48 / 0.97 = 49 samples/s on 4 V100,
# 12.3 per V100. ESRGAN at GT 128 has a quarter of the pixels per sample -> ~49 per V100 (its VGG-style
# D is cheaper than the U-Net D; an estimate, not a measurement). H100 vs V100: x5 assumed, between the
# fp32 ratio (67 vs 15.7 TFLOP/s = 4.3x) and the tensor-core ratio (989 bf16 vs 125 fp16 = 7.9x).
H100_CONSUMES = {128: 250.0, 256: 60.0}
STORAGE_RECIPES = {128: {"batch": 16, "name": "ESRGAN"}, 256: {"batch": 12, "name": "Real-ESRGAN"}}


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


def _photos() -> list:
    import cv2
    from skimage import data
    out = []
    for img in (data.astronaut(), data.coffee(), data.chelsea(), data.rocket(), data.stereo_motorcycle()[0]):
        h, w = img.shape[:2]
        k = 960 / min(h, w)       # upscaled so a 480 crop holds real image structure, like a DIV2K crop
        out.append(cv2.resize(img, (round(w * k), round(h * k)), interpolation=cv2.INTER_CUBIC))
    return out


def make_subimages(folder: str, count: int, size: int, lr_scale: int | None) -> tuple[str, str | None]:
    """`count` distinct size x size PNG crops of scikit-image photos in folder/HR (+ folder/LR, area-resized)."""
    import cv2
    import numpy as np
    from sr_gan.utils.image_io import write_image
    photos, rng = _photos(), np.random.default_rng(0)
    hr_dir, lr_dir = os.path.join(folder, "HR"), os.path.join(folder, "LR") if lr_scale else None
    for i in range(count):
        photo = photos[i % len(photos)]
        top, left = (int(rng.integers(0, photo.shape[k] - size + 1)) for k in (0, 1))
        crop = np.ascontiguousarray(photo[top:top + size, left:left + size])
        write_image(os.path.join(hr_dir, f"{i:06d}.png"), crop)
        if lr_dir:
            small = cv2.resize(crop, (size // lr_scale,) * 2, interpolation=cv2.INTER_AREA)
            write_image(os.path.join(lr_dir, f"{i:06d}.png"), small)
    return hr_dir, lr_dir


def storage_rate(hr: str, lr: str, crop: int, batch: int, workers: int, cache: bool, batches: int) -> tuple[float, float]:
    """(dataset build seconds, samples/s after the first batch) of the real training loader."""
    from sr_gan import options
    from sr_gan.train import build_train_loader
    opt = options.load(os.path.join(ROOT, "options", "demo.yml"),
                       [f"datasets.train.hr={hr}", f"datasets.train.lr={lr}", f"datasets.train.crop={crop}",
                        f"datasets.train.batch={batch}", f"datasets.train.workers={workers}",
                        f"datasets.train.cache={str(cache).lower()}"], check_paths=False)
    t = time.perf_counter()
    loader, dataset = build_train_loader(opt, 0)
    built = time.perf_counter() - t
    data = iter(loader)
    next(data)
    t = time.perf_counter()
    for _ in range(batches):
        next(data)
    rate = batches * batch / (time.perf_counter() - t)
    del data, loader, dataset
    return built, rate


def run_storage(args) -> int:
    from sr_gan.data.lmdb_store import write_lmdb
    from pathlib import Path
    root = tempfile.mkdtemp(prefix="srgan_bench_storage_")
    try:
        t = time.perf_counter()
        hr, lr = make_subimages(root, args.images, 480, 4)
        write_lmdb(Path(hr), Path(root) / "HR.lmdb")
        write_lmdb(Path(lr), Path(root) / "LR.lmdb")
        print(f"{args.images} HR 480x480 + LR 120x120 PNGs and their LMDBs made in {time.perf_counter() - t:.1f} s "
              f"({root})", flush=True)
        sources = {"folder": (hr, lr, False), "lmdb": (os.path.join(root, "HR.lmdb"), os.path.join(root, "LR.lmdb"), False),
                   "ram": (hr, lr, True)}
        rows = []
        for size in args.sizes:
            recipe = STORAGE_RECIPES[size]
            for storage in args.storage:
                h, l, cache = sources[storage]
                for w in args.workers:
                    built, rate = storage_rate(h, l, size, recipe["batch"], w, cache, args.batches)
                    need = H100_CONSUMES[size]
                    rows.append((recipe["name"], size, storage, w, built, rate, need))
                    print(f"{recipe['name']} GT {size} {storage} {w} workers: build {built:.1f} s, "
                          f"{rate:.1f} samples/s (H100 ~{need:.0f})", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print("\n| recipe | GT | storage | workers | dataset build s | samples/s | H100 consumes (assumed) | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for name, size, storage, w, built, rate, need in rows:
        print(f"| {name} | {size} | {storage} | {w} | {built:.1f} | {rate:.1f} | {need:.0f} | {rate / need:.2f} |")
    return 0


def _start_once(args) -> int:
    """One training start in this fresh process: scan (reusing the cache) -> write cache -> first batch."""
    from sr_gan import options
    from sr_gan.train import build_train_loader, build_train_set
    over = [f"datasets.train.hr={args.hr}", f"datasets.train.crop={args.crop}", "datasets.train.batch=16",
            f"datasets.train.workers={args.workers[0]}", f"datasets.train.scan_cache={args.cache}"]
    if args.checks and args.checks[0] != "auto":
        over.append(f"datasets.train.check={args.checks[0]}")
    opt = options.load(os.path.join(ROOT, "options", "demo.yml"), over, check_paths=False)
    t0 = time.time()
    dataset = build_train_set(opt)
    t_scan = time.time()
    dataset.save_scan_cache()
    t_save = time.time()
    loader, _ = build_train_loader(opt, 0, dataset)
    next(iter(loader))
    t_batch = time.time()
    print(json.dumps({"imports_done": t0, "scan_s": t_scan - t0, "save_s": t_save - t_scan,
                      "first_batch_at": t_batch, "summary": dataset.scan_summary}))
    return 0


def write_many(folder: str, files: int, size: int) -> None:
    """`files` PNGs from 64 distinct encoded photo crops (the bytes repeat; the scan cannot tell)."""
    import numpy as np
    from sr_gan.utils.image_io import encode_image
    photos, rng = _photos(), np.random.default_rng(1)
    variants = []
    for i in range(64):
        photo = photos[i % len(photos)]
        top, left = (int(rng.integers(0, photo.shape[k] - size + 1)) for k in (0, 1))
        variants.append(encode_image(np.ascontiguousarray(photo[top:top + size, left:left + size]), ".png"))
    os.makedirs(folder, exist_ok=True)
    for i in range(files):
        with open(os.path.join(folder, f"{i:07d}.png"), "wb") as f:
            f.write(variants[i % len(variants)])


def run_restart(args) -> int:
    root = tempfile.mkdtemp(prefix="srgan_bench_restart_")
    rows = []
    try:
        hr = os.path.join(root, "HR")
        t = time.perf_counter()
        write_many(hr, args.files, args.size)
        print(f"wrote {args.files} {args.size}x{args.size} PNGs in {time.perf_counter() - t:.1f} s ({hr})", flush=True)
        for check in args.checks:
            cache = os.path.join(root, f"scan_cache_{check}")
            for start in ("first start (scan)", "second start (scan cache)"):
                cmd = [sys.executable, os.path.abspath(__file__), "--mode", "_start", "--hr", hr, "--cache", cache,
                       "--crop", str(min(128, args.size)), "--workers", str(args.workers[0]), "--checks", check]
                launched = time.time()
                out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
                if out.returncode:
                    print(out.stderr[-3000:])
                    return out.returncode
                r = json.loads(out.stdout.strip().splitlines()[-1])
                total = r["first_batch_at"] - launched
                rows.append((check, start, r["imports_done"] - launched, r["scan_s"], r["save_s"], total))
                print(f"check {check}, {start}: {total:.1f} s to the first batch; {r['summary']}", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"\n{args.files} files, {args.workers[0]} loader workers, crop {min(128, args.size)}, batch 16")
    print("| check | start | python + imports s | scan s | cache write s | launch -> first batch s |")
    print("|---|---|---|---|---|---|")
    for check, start, imp, scan_s, save_s, total in rows:
        print(f"| {check} | {start} | {imp:.1f} | {scan_s:.1f} | {save_s:.1f} | {total:.1f} |")
    return 0


def main(argv=None) -> int:
    from sr_gan import cli
    p = cli.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workers", type=cli.integer(min=0), nargs="+", default=None,
                   help="loader workers (step: 0 1 2; storage: 1 2 4 8; restart: 2)")
    p.add_argument("--batches", type=cli.integer(min=1), default=40, help="timed batches per loader measurement")
    p.add_argument("--iters", type=cli.integer(min=1), default=3, help="timed demo steps (ESRGAN: 1)")
    p.add_argument("--esrgan-step", type=cli.number(above=0), default=None,
                   help="seconds of one batch-4 ESRGAN step (skip measuring)")
    p.add_argument("--recipes", nargs="+", choices=sorted(RECIPES), default=sorted(RECIPES))
    p.add_argument("--mode", choices=["step", "storage", "restart", "_start"], default="step",
                   help="step: loader vs measured CPU step (default); storage; restart")
    p.add_argument("--images", type=cli.integer(min=1), default=200, help="storage: distinct 480x480 sub-images")
    p.add_argument("--sizes", type=int, nargs="+", choices=sorted(STORAGE_RECIPES), default=sorted(STORAGE_RECIPES))
    p.add_argument("--storage", nargs="+", choices=["folder", "lmdb", "ram"], default=["folder", "lmdb", "ram"])
    p.add_argument("--files", type=cli.integer(min=1), default=100_000, help="restart: number of image files")
    p.add_argument("--size", type=cli.integer(min=16), default=128, help="restart: image side in pixels")
    p.add_argument("--checks", nargs="+", choices=["auto", "full", "header", "none"], default=["auto"],
                   help="restart: check modes to start with")
    p.add_argument("--hr", help=argparse.SUPPRESS)
    p.add_argument("--cache", help=argparse.SUPPRESS)
    p.add_argument("--crop", type=cli.integer(min=1), default=128, help=argparse.SUPPRESS)
    try:
        args = p.parse_args(argv)
    except cli.UsageError as e:
        return cli.report(e)
    if args.mode == "storage":
        args.workers = args.workers or [1, 2, 4, 8]
        return run_storage(args)
    if args.mode == "restart":
        args.workers = args.workers or [2]
        return run_restart(args)
    if args.mode == "_start":
        return _start_once(args)
    args.workers = args.workers or [0, 1, 2]
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
