"""Throughput and peak memory of tiled x4 upscaling for 1, 4 and 16 megapixel OUTPUTS.

    python bench/upscale.py [--sizes 1,4,16] [--num-feat 32 --num-block 6] [--tile 128 --tile-pad 10]
                            [--precision fp32|fp16|bf16] [--channels-last] [--device cpu|cuda]

Each case runs in a fresh subprocess, so one case's allocations cannot hide in another's numbers.
Memory method:
  * CUDA: torch.cuda.max_memory_allocated() after reset_peak_memory_stats(); the output is assembled
    in host memory, so GPU memory should stay flat (tile-bound) as the image grows.
  * CPU: tracemalloc does not see torch's C++ allocations, so we read the process's peak resident
    set size (getrusage ru_maxrss, the kernel's high-water mark: robust, counts every allocator) once
    after importing torch, building the net and a 16 px warm-up ("baseline"), and once after the
    case; the difference is what this image size cost (input, float32 output, tile activations).
The last column divides that by the float32 output's bytes (H*W*3*4): a roughly constant or falling
ratio as the size grows shows peak memory grows no faster than the output image.
Random weights: speed does not depend on the values. 'CPU seconds' (all threads) is less sensitive
than wall time to other processes sharing the machine.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import runpy
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
runpy.run_path(os.path.join(ROOT, "scripts", "_checkout.py"))    # this checkout's sr_gan, sys.path untouched


def parse_args(argv=None) -> argparse.Namespace:
    from sr_gan import cli
    p = cli.ArgumentParser(description="Benchmark tiled x4 upscaling (RRDBNet, random weights).")
    p.add_argument("--sizes", type=cli.number_list(cli.number(above=0)), default=[1.0, 4.0, 16.0],
                   help="output megapixels, comma-separated")
    p.add_argument("--num-feat", type=cli.integer(min=1), default=32)
    p.add_argument("--num-block", type=cli.integer(min=1), default=6)
    p.add_argument("--num-grow-ch", type=cli.integer(min=1), default=32)
    p.add_argument("--tile", type=cli.integer(min=0), default=128, help="tile size in LR px (0: whole image)")
    p.add_argument("--tile-pad", type=cli.integer(min=0), default=10)
    p.add_argument("--precision", choices=("fp32", "fp16", "bf16"), default="fp32")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--device", type=cli.device, default="auto", help="auto|cpu|cuda")
    p.add_argument("--threads", type=cli.integer(min=0), default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--case", type=cli.number(above=0), default=None, help=argparse.SUPPRESS)  # child process mode
    return p.parse_args(argv)


def _rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def run_case(args, megapixels: float) -> dict:
    """One measurement (called in a fresh child process)."""
    import torch

    from sr_gan.inference import upscale_tensor
    from sr_gan.registry import ARCHS
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    net = ARCHS.build({"type": "rrdbnet", "num_feat": args.num_feat, "num_block": args.num_block,
                       "num_grow_ch": args.num_grow_ch}, scale=4).to(device).eval()
    opts = dict(tile=args.tile, tile_pad=args.tile_pad, precision=args.precision, channels_last=args.channels_last)
    upscale_tensor(net, torch.rand(1, 3, 16, 16), 4, **opts)            # warm-up: kernels, thread pool
    lr_side = int(round(math.sqrt(megapixels * 1e6) / 4))
    x = torch.rand(1, 3, lr_side, lr_side)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    baseline = _rss_bytes()
    start, cpu_start = time.perf_counter(), time.process_time()
    out = upscale_tensor(net, x, 4, **opts)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    out_px = out.shape[-1] * out.shape[-2]
    peak = torch.cuda.max_memory_allocated() if device.type == "cuda" else _rss_bytes() - baseline
    return {"mp": out_px / 1e6, "side": out.shape[-1], "seconds": seconds, "cpu_seconds": cpu_seconds,
            "mp_per_s": out_px / 1e6 / seconds,
            "peak": peak, "rss_total": _rss_bytes(), "output_bytes": out.numel() * out.element_size()}


def main(argv=None) -> int:
    from sr_gan import cli
    try:
        args = parse_args(argv)
    except cli.UsageError as e:
        return cli.report(e)
    if args.device == "auto":
        import torch
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.case is not None:
        print(json.dumps(run_case(args, args.case)))
        return 0
    what = "GPU max_memory_allocated" if args.device.startswith("cuda") else "RSS peak increase"
    print(f"x4 RRDBNet nf{args.num_feat} nb{args.num_block} gc{args.num_grow_ch}, tile {args.tile} pad "
          f"{args.tile_pad}, {args.precision}{', channels_last' if args.channels_last else ''}, device {args.device}")
    print(f"| output | seconds | CPU seconds | MP/s | {what} | process peak RSS | peak / output bytes |")
    print("|---|---|---|---|---|---|---|")
    for mp in args.sizes:
        child = [sys.executable, os.path.abspath(__file__), "--case", str(mp)] + [
            a for a in (argv if argv is not None else sys.argv[1:])]
        child += ["--device", args.device]
        proc = subprocess.run(child, capture_output=True, text=True)
        if proc.returncode != 0:
            reason = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"
            print(f"| {mp:g} MP | failed: {reason} |")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"| {r['side']}x{r['side']} ({r['mp']:.2f} MP) | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} | "
              f"{r['mp_per_s']:.3f} | "
              f"{r['peak'] / 2**20:.0f} MiB | {r['rss_total'] / 2**20:.0f} MiB | {r['peak'] / r['output_bytes']:.2f} |",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
