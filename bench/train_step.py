#!/usr/bin/env python
"""Time the real `srgan` training step (RRDBNet G + VGG-style D + VGG19 conv5_4 perceptual loss).

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
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings

import torch

CONFIGS = {   # name -> (generator kwargs, discriminator kwargs)
    "esrgan": ({"type": "rrdbnet", "num_feat": 64, "num_block": 23, "num_grow_ch": 32}, {"type": "vgg", "num_feat": 64}),
    "small": ({"type": "rrdbnet", "num_feat": 32, "num_block": 6, "num_grow_ch": 16}, {"type": "vgg", "num_feat": 32}),
}


def make_options(config: str, amp: str, channels_last: bool, compile_: bool, device: str, batch: int, hr: int) -> dict:
    from sr_gan import options
    g, d = CONFIGS[config]
    return options.validate({
        "name": f"bench_{config}", "model": "srgan", "scale": 4, "device": device,
        "datasets": {"train": {"type": "paired", "hr": "unused", "crop": hr, "batch": batch, "workers": 0}},
        "network_g": dict(g), "network_d": dict(d),
        "train": {"total_iter": 10 ** 6, "ema_decay": 0.999,
                  "losses": [{"type": "l1", "weight": 1e-2},
                             {"type": "perceptual", "layers": {"conv5_4": 1.0}, "weight": 1.0, "pretrained": False}],
                  "gan": {"type": "vanilla", "relativistic": True, "weight": 5e-3},
                  "amp": amp, "channels_last": channels_last, "compile": compile_},
    })


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
        vgg.extract(sr.detach().requires_grad_(True))["conv5_4"].sum().backward()

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


def bench_case(args, amp: str, channels_last: bool) -> dict:
    from sr_gan.registry import MODELS
    device = torch.device(args.device)
    torch.manual_seed(0)
    opt = make_options(args.config, amp, channels_last, args.compile, args.device, args.batch, args.hr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # "random VGG19 features" is expected here
        model = MODELS.get("srgan")(opt, device)
    lr_size = args.hr // 4
    batch = {"lr": torch.rand(args.batch, 3, lr_size, lr_size), "hr": torch.rand(args.batch, 3, args.hr, args.hr)}
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
            "device": args.device, "s_per_it": t_step, "gflop": flops / 1e9, "gflops": flops / 1e9 / t_step,
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
    return "\n".join([head] + lines)


def main(argv=None) -> int:
    from sr_gan import cli
    p = cli.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", choices=sorted(CONFIGS), default="small")
    p.add_argument("--amp", nargs="+", choices=["none", "bf16", "fp16"], default=["none"], help="one case per value")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--compile", action="store_true", help="torch.compile G and D (train.compile)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--batch", type=cli.integer(min=1), default=4)
    p.add_argument("--hr", type=cli.integer(min=4), default=128, help="HR patch size, a multiple of 4 (LR = HR/4)")
    p.add_argument("--iters", type=cli.integer(min=1), default=3)
    p.add_argument("--warmup", type=cli.integer(min=0), default=1)
    p.add_argument("--threads", type=cli.integer(min=1), default=None)
    p.add_argument("--table", action="store_true", help="print a Markdown table at the end")
    p.add_argument("--peak", action="store_true", help="only measure matmul/conv GFLOP/s of this machine")
    try:
        args = p.parse_args(argv)
        if args.hr % 4:
            p.error(f"argument --hr: {args.hr} is not a multiple of 4 (the x4 networks' LR is HR/4)")
        if args.device == "cuda" and not torch.cuda.is_available():
            p.error("argument --device: cuda requested but torch.cuda.is_available() is False")
    except cli.UsageError as e:
        return cli.report(e)
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
    if args.table:
        print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
