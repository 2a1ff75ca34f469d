#!/usr/bin/env python
"""Time the real `srgan` training step (RRDBNet G + VGG-style or U-Net SN D + VGG19 perceptual loss).

Per case: median seconds/iteration of model.optimize_parameters, FLOP per step (FlopCounterMode
around one step), achieved GFLOP/s, and the overhead ratio = step time / the sum of the bare
forward+backward passes it contains (G; D on the real and on the fake batch; VGG on sr with grad
and on hr without), each timed alone with the same dtype/memory format, interleaved with the steps
(one step, then each bare pass, per round; the ratio is the median over rounds). A ratio near 1 means the
step adds nothing but the compute it needs (losses, optimizers, EMA and the finiteness check are
cheap); random VGG weights (pretrained=False) are as slow as real ones.

    python bench/train_step.py --config esrgan --iters 3 --warmup 1
    python bench/train_step.py --config small --amp bf16 --channels-last --table
    python bench/train_step.py --peak
    python bench/train_step.py --config realesrgan --iters 3 --warmup 1            # batch 12, GT 256 (400 crops)
    python bench/train_step.py --config realesrgan --batch 2 --gt 64 --crop 64      # a smaller run

Configs with a degradation (realesrgan) also time the model's input step (model.feed_data on HR crops:
the realesrgan pipeline + pool of 180, steady state + USM targets, on the same device) and print it as a
share of the step: the issue-10 target is degradations <= 10 % of the Real-ESRGAN step time.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings

import torch

ESRGAN_LOSSES = {"losses": [{"type": "l1", "weight": 1e-2},
                            {"type": "perceptual", "layers": {"conv5_4": 1.0}, "weight": 1.0, "pretrained": False}],
                 "gan": {"type": "vanilla", "relativistic": True, "weight": 5e-3}}
REAL_ESRGAN_LAYERS = {"conv1_2": 0.1, "conv2_2": 0.1, "conv3_4": 1.0, "conv4_4": 1.0, "conv5_4": 1.0}
CONFIGS = {   # name -> generator, discriminator, losses, default batch / HR (GT) size / loader crop, degradation
    "esrgan": {"g": {"type": "rrdbnet", "num_feat": 64, "num_block": 23, "num_grow_ch": 32},
               "d": {"type": "vgg", "num_feat": 64}, **ESRGAN_LOSSES, "batch": 4, "hr": 128},
    "small": {"g": {"type": "rrdbnet", "num_feat": 32, "num_block": 6, "num_grow_ch": 16},
              "d": {"type": "vgg", "num_feat": 32}, **ESRGAN_LOSSES, "batch": 4, "hr": 128},
    # options/realesrgan_x4plus.yml: L1 + 5-layer perceptual on HR-USM, vanilla GAN 0.1 on HR, Real-ESRGAN's
    # batch 12 and GT 256 cut from degraded 400 crops, pool 180
    "realesrgan": {"g": {"type": "rrdbnet", "num_feat": 64, "num_block": 23, "num_grow_ch": 32},
                   "d": {"type": "unet_sn", "num_feat": 64, "skip_connection": True},
                   "losses": [{"type": "l1", "weight": 1.0, "target": "hr_usm"},
                              {"type": "perceptual", "layers": REAL_ESRGAN_LAYERS, "weight": 1.0, "target": "hr_usm",
                               "pretrained": False}],
                   "gan": {"type": "vanilla", "relativistic": False, "weight": 0.1, "target": "hr"},
                   "batch": 12, "hr": 256, "crop": 400, "degradation": {"type": "realesrgan", "queue_size": 180}},
}


def make_options(config: str, amp: str, channels_last: bool, compile_: bool, device: str, batch: int, hr: int,
                 crop: int | None = None) -> dict:
    """`hr` is the HR patch the step sees (GT); `crop` the loader's HR crop (degraded configs: >= hr)."""
    from sr_gan import options
    c = CONFIGS[config]
    deg = c.get("degradation")
    crop = (crop or c.get("crop") or hr) if deg else hr
    opt = {
        "name": f"bench_{config}", "model": "srgan", "scale": 4, "device": device,
        "datasets": {"train": {"type": "paired", "hr": "unused", "crop": max(crop, hr), "batch": batch, "workers": 0}},
        "network_g": dict(c["g"]), "network_d": dict(c["d"]),
        "train": {"total_iter": 10 ** 6, "ema_decay": 0.999, "losses": c["losses"], "gan": c["gan"],
                  "amp": amp, "channels_last": channels_last, "compile": compile_},
    }
    if deg:   # a pool of whole batches, as close to 180 pairs as the batch allows
        opt["degradation"] = {**deg, "gt_size": hr, "queue_size": max(batch, deg["queue_size"] // batch * batch)}
    return options.validate(opt)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device, iters: int, warmup: int) -> float:
    """Median seconds of fn() over `iters` calls after `warmup` calls."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(iters):
        t = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bare_passes(model, lr, hr) -> dict:
    """The forward+backward passes one step contains, as separate closures (no losses, no optimizer)."""
    fmt = torch.channels_last if model.channels_last else torch.contiguous_format
    vgg = next(t.module for t in model.losses.terms if t.name == "perceptual")
    g, d, prec = model.g, model.d, model.precision
    sr = hr.detach().clone().contiguous(memory_format=fmt)

    def g_pass():
        with prec.autocast():
            out = g(lr)
        out.float().sum().backward()

    def d_pass(x):
        with prec.autocast():
            out = d(x)
        out.float().sum().backward()

    def d_real():
        d_pass(hr)

    def d_fake():    # the fake batch also needs the gradient w.r.t. its input (it flows back into G)
        d_pass(sr.detach().requires_grad_(True))

    def vgg_sr():
        sum(f.sum() for f in vgg.extract(sr.detach().requires_grad_(True)).values()).backward()

    def vgg_hr():
        with torch.no_grad():
            vgg.extract(hr)
    return {"G fwd+bwd": g_pass, "D(real) fwd+bwd": d_real, "D(fake) fwd+bwd": d_fake,
            "VGG(sr) fwd+bwd": vgg_sr, "VGG(hr) fwd": vgg_hr}


def step_flops(model) -> float:
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as counter:
        model.optimize_parameters(1)
    return counter.get_total_flops()


def photo_crops(batch: int, size: int, seed: int = 0) -> torch.Tensor:
    """`batch` random size x size crops of scikit-image photos (upscaled so any crop up to 480 fits), CHW in [0, 1]."""
    import cv2
    import numpy as np
    from skimage import data
    rng = np.random.default_rng(seed)
    photos = [data.astronaut(), data.coffee(), data.rocket(), data.stereo_motorcycle()[0]]
    out = []
    for i in range(batch):
        img = photos[i % len(photos)]
        k = max(1.0, 480 / min(img.shape[:2]))
        img = cv2.resize(img, (round(img.shape[1] * k), round(img.shape[0] * k)), interpolation=cv2.INTER_CUBIC)
        top, left = rng.integers(0, img.shape[0] - size + 1), rng.integers(0, img.shape[1] - size + 1)
        out.append(torch.from_numpy(np.ascontiguousarray(img[top:top + size, left:left + size])).permute(2, 0, 1))
    return torch.stack(out).float() / 255


def degrade_seconds(model, batches: list, device, iters: int, warmup: int) -> float:
    """Median seconds of model.feed_data (to device, pipeline + pool + USM targets) with a full pool."""
    pool = model.input_stage.pool
    if pool is not None:      # steady state: a full pool swaps pairs every batch
        model.feed_data({"hr": batches[0]}, 1)
        pool.lr = pool.lr.new_zeros(pool.lr.shape)
        pool.hr = pool.hr.new_zeros(pool.hr.shape)
        pool.filled = pool.queue_size
    state = {"it": 1}

    def feed():
        state["it"] += 1
        model.feed_data({"hr": batches[state["it"] % len(batches)]}, state["it"])
    return timed(feed, device, iters, warmup)


def bench_case(args, amp: str, channels_last: bool) -> dict:
    from sr_gan.registry import MODELS
    device = torch.device(args.device)
    torch.manual_seed(0)
    c = CONFIGS[args.config]
    batch_size, hr_size = args.batch or c["batch"], args.hr or c["hr"]
    opt = make_options(args.config, amp, channels_last, args.compile, args.device, batch_size, hr_size, args.crop)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # "random VGG19 features" is expected here
        model = MODELS.get("srgan")(opt, device)
    t_degrade, crop = None, opt["datasets"]["train"]["crop"]
    if opt["degradation"] is not None:
        hr_batches = [photo_crops(batch_size, crop, seed) for seed in range(3)]
        t_degrade = degrade_seconds(model, hr_batches, device, args.iters, args.warmup)
        batch = {"hr": hr_batches[0]}
    else:
        lr_size = hr_size // 4
        batch = {"lr": torch.rand(batch_size, 3, lr_size, lr_size), "hr": torch.rand(batch_size, 3, hr_size, hr_size)}
    model.feed_data(batch)
    step = {"it": 0}

    def train_step():
        step["it"] += 1
        model.optimize_parameters(step["it"])
    parts = bare_passes(model, model.lr, model.hr)
    for _ in range(args.warmup):
        train_step()
        for fn in parts.values():
            fn()
    # interleaved rounds: on a shared machine the step and its bare passes see the same load,
    # so the per-round ratio is far steadier than a ratio of two separately taken medians
    rounds = []
    for _ in range(args.iters):
        t_step = timed(train_step, device, 1, 0)
        t_parts = {name: timed(fn, device, 1, 0) for name, fn in parts.items()}
        rounds.append((t_step, t_parts))
    t_step = statistics.median(r[0] for r in rounds)
    parts = {name: statistics.median(r[1][name] for r in rounds) for name in parts}
    overhead = statistics.median(r[0] / sum(r[1].values()) for r in rounds)
    for n in model.networks().values():
        n.zero_grad(set_to_none=True)
    flops = step_flops(model) if not args.compile else float("nan")   # FlopCounterMode sees eager ops only
    bare = sum(parts.values())
    return {"config": args.config, "amp": amp, "channels_last": channels_last, "compile": args.compile,
            "device": args.device, "batch": batch_size, "hr": hr_size, "crop": crop, "degrade_s": t_degrade,
            "s_per_it": t_step, "gflop": flops / 1e9, "gflops": flops / 1e9 / t_step,
            "bare_s": bare, "overhead": overhead, "parts": parts}


def matmul_peak(dtype: torch.dtype, device: torch.device, n: int, seconds: float = 2.0) -> float:
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    a @ b
    sync(device)
    calls, t = 0, time.perf_counter()
    while time.perf_counter() - t < seconds:
        a @ b
        calls += 1
    sync(device)
    return 2 * n ** 3 * calls / (time.perf_counter() - t) / 1e9


def conv_peak(dtype: torch.dtype, device: torch.device, channels_last: bool, seconds: float = 2.0) -> float:
    """A 64->64 3x3 conv on 4x64x32x32: the layer RRDBNet's trunk is made of."""
    conv = torch.nn.Conv2d(64, 64, 3, padding=1).to(device, dtype)
    x = torch.randn(16, 64, 32, 32, device=device, dtype=dtype)
    if channels_last:
        conv, x = conv.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        conv(x)
        sync(device)
        calls, t = 0, time.perf_counter()
        while time.perf_counter() - t < seconds:
            conv(x)
            calls += 1
        sync(device)
    return 2 * 16 * 64 * 64 * 9 * 32 * 32 * calls / (time.perf_counter() - t) / 1e9


def peak(args) -> None:
    device = torch.device(args.device)
    cap = torch.backends.cpu.get_cpu_capability() if device.type == "cpu" else torch.cuda.get_device_name()
    print(f"device {device} ({cap}), torch {torch.__version__}, {torch.get_num_threads()} threads")
    dtypes = [("fp32", torch.float32), ("bf16", torch.bfloat16)] + ([("fp16", torch.float16)] if device.type == "cuda" else [])
    n = 2048 if device.type == "cpu" else 8192
    for name, dt in dtypes:
        # bf16 GEMM without AVX512-BF16/AMX is a slow fallback: a small matrix keeps the run short
        size = 512 if (device.type == "cpu" and dt != torch.float32) else n
        print(f"matmul {name} {size}x{size}: {matmul_peak(dt, device, size):8.1f} GFLOP/s")
        for cl in (False, True):
            print(f"conv3x3 64->64 {name} {'channels_last' if cl else 'NCHW'}: {conv_peak(dt, device, cl):8.1f} GFLOP/s")


def table(rows: list[dict]) -> str:
    head = "| config | amp | channels_last | compile | s/it | GFLOP/step | GFLOP/s | bare passes s | overhead |\n" \
           "|---|---|---|---|---|---|---|---|---|"
    lines = [f"| {r['config']} | {r['amp']} | {r['channels_last']} | {r['compile']} | {r['s_per_it']:.3f} | "
             f"{r['gflop']:.1f} | {r['gflops']:.1f} | {r['bare_s']:.3f} | {r['overhead']:.3f} |" for r in rows]
    out = "\n".join([head] + lines)
    timed_degrade = [r for r in rows if r["degrade_s"] is not None]
    if timed_degrade:
        out += ("\n\n| config | batch | crop -> GT | degradation s/batch | step s/it | degradation / step |\n"
                "|---|---|---|---|---|---|\n")
        out += "\n".join(f"| {r['config']} ({r['amp']}) | {r['batch']} | {r['crop']} -> {r['hr']} | {r['degrade_s']:.3f} | "
                         f"{r['s_per_it']:.3f} | {100 * r['degrade_s'] / r['s_per_it']:.1f} % |" for r in timed_degrade)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", choices=sorted(CONFIGS), default="small")
    p.add_argument("--amp", nargs="+", choices=["none", "bf16", "fp16"], default=["none"], help="one case per value")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--compile", action="store_true", help="torch.compile G and D (train.compile)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--batch", type=int, default=None, help="batch size (default: the config's: 4, realesrgan 12)")
    p.add_argument("--hr", "--gt", dest="hr", type=int, default=None,
                   help="HR patch size the step sees, LR = HR/4 (default: the config's: 128, realesrgan 256)")
    p.add_argument("--crop", type=int, default=None,
                   help="degraded configs: the loader's HR crop the pipeline degrades before cutting --gt "
                        "(default: realesrgan 400, like Real-ESRGAN; at least --gt)")
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--table", action="store_true", help="print a Markdown table at the end")
    p.add_argument("--peak", action="store_true", help="only measure matmul/conv GFLOP/s of this machine")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "cuda":
        torch.backends.cudnn.benchmark = True
    if args.peak:
        peak(args)
        return 0
    rows = []
    for amp in args.amp:
        r = bench_case(args, amp, args.channels_last)
        rows.append(r)
        parts = ", ".join(f"{k} {v:.3f}" for k, v in r["parts"].items())
        print(f"{r['config']} amp={amp} channels_last={r['channels_last']} compile={r['compile']}: "
              f"{r['s_per_it']:.3f} s/it, {r['gflop']:.1f} GFLOP/step, {r['gflops']:.1f} GFLOP/s, "
              f"overhead {r['overhead']:.3f} (bare {r['bare_s']:.3f} s: {parts})", flush=True)
        if r["degrade_s"] is not None:
            print(f"  degradation (model.feed_data: pipeline {r['crop']} -> GT {r['hr']} + pool + USM, batch "
                  f"{r['batch']}): {r['degrade_s']:.3f} s/batch = {100 * r['degrade_s'] / r['s_per_it']:.1f} % of the "
                  f"step (target <= 10 %)", flush=True)
    if args.table:
        print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
