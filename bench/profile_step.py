#!/usr/bin/env python
"""Where the `srgan` training step spends its time: torch.profiler tables grouped by op kind.

For each case (same cases as train_step.py: fp32, bf16, bf16+cl, ..., basicsr) the step is warmed up,
then `--steps` steps run under torch.profiler (CPU activities; CUDA too on a GPU). Printed per case:
  * kinds: self time of every aten op summed by kind -- convolution (forward and backward kernels),
    matmul (the linear heads), and the non-convolution kinds: casts/copies (to/copy_/clone/contiguous:
    dtype casts and layout changes), cat, batch norm, pooling/upsampling, the foreach kernels
    (optimizer, EMA, finiteness check) and the remaining element-wise/reduction ops;
  * phases: wall time of the parts of optimize_parameters (annotated here from outside the library:
    G forward, D calls, loss terms, backward, finiteness check, optimizer steps, EMA);
  * the top ops by self time, with their input shapes when `--shapes` is given.
The conv share is the fraction of the profiled step time spent inside convolution kernels; what is
left is the non-convolution work the step could lose. Profiling adds a little time per op
(a few percent on this step): read shares, not absolute times, and take times from train_step.py.

    python bench/profile_step.py --config esrgan --cases fp32 bf16 bf16+cl
    PYTHONPATH=/work/bsr python bench/profile_step.py --config esrgan --cases basicsr --steps 1
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections import defaultdict

import torch
from torch.profiler import ProfilerActivity, profile, record_function

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(HERE), HERE]
from train_step import CASE_HELP, CONFIGS, build_case, load_avg, make_batch, parse_case, platform_line, sync  # noqa: E402

# (kind, predicate on the op name), first match wins; everything left is "elementwise/other"
KINDS = [
    ("convolution", lambda n: "conv" in n),
    ("matmul (linear heads)", lambda n: n in ("aten::addmm", "aten::mm", "aten::bmm", "aten::matmul", "aten::linear")),
    ("cast/copy/layout", lambda n: n in ("aten::copy_", "aten::_to_copy", "aten::to", "aten::clone", "aten::contiguous",
                                         "aten::_copy_from", "aten::_copy_from_and_resize")),
    ("cat", lambda n: n in ("aten::cat", "aten::_cat")),
    ("batch norm", lambda n: "batch_norm" in n),
    ("pool/upsample", lambda n: "pool" in n or "upsample" in n),
    ("foreach (optimizer/EMA/norms)", lambda n: "_foreach_" in n or "_fused_adam" in n),
    ("allocation", lambda n: n in ("aten::empty", "aten::empty_strided", "aten::empty_like", "aten::zeros",
                                   "aten::zeros_like", "aten::ones_like", "aten::fill_", "aten::zero_", "aten::resize_")),
]


def kind_of(name: str) -> str:
    return next((k for k, pred in KINDS if pred(name)), "elementwise/reduction/other")


@contextlib.contextmanager
def annotate(model):
    """Wrap the model's parts in record_function ranges (from outside: the library stays untouched)."""
    saved = []

    def wrap(obj, attr, label):
        if isinstance(getattr(obj, attr), torch.nn.Module):    # keep the module (its .parameters() are used)
            obj, attr = getattr(obj, attr), "forward"
        fn = getattr(obj, attr)

        def wrapped(*a, **kw):
            with record_function(label):
                return fn(*a, **kw)
        saved.append((obj, attr, obj.__dict__.get(attr, None)))
        setattr(obj, attr, wrapped)

    if hasattr(model, "precision"):       # sr_gan
        wrap(model, "g", "phase: G forward")
        if hasattr(model, "_discriminate"):
            wrap(model, "_discriminate", "phase: D forward")
            wrap(model, "_d_terms", "phase: D loss")
        for term in model.losses.terms:
            wrap(term, "module", f"phase: loss {term.name}")
        wrap(model, "_check_finite", "phase: finiteness check")
        wrap(model, "_step", "phase: optimizer step")
        if model.ema is not None:
            wrap(model.ema, "update", "phase: EMA")
        for o in model.optimizers.values():
            wrap(o, "zero_grad", "phase: zero_grad")
    else:                                 # BasicSR
        wrap(model, "net_g", "phase: G forward")
        wrap(model, "net_d", "phase: D forward")
        if model.cri_perceptual is not None:
            wrap(model, "cri_perceptual", "phase: loss perceptual")
        if model.cri_pix is not None:
            wrap(model, "cri_pix", "phase: loss l1")
        for o in (model.optimizer_g, model.optimizer_d):
            wrap(o, "step", "phase: optimizer step")
            wrap(o, "zero_grad", "phase: zero_grad")
        wrap(model, "model_ema", "phase: EMA")
    real_backward = torch.autograd.backward

    def backward(*a, **kw):
        with record_function("phase: backward"):
            return real_backward(*a, **kw)
    torch.autograd.backward = backward
    try:
        yield
    finally:
        torch.autograd.backward = real_backward
        for obj, attr, old in reversed(saved):
            if old is None:
                delattr(obj, attr)
            else:
                setattr(obj, attr, old)


def profile_case(args, case: dict, batch: dict) -> dict:
    device = torch.device(args.device)
    model, step = build_case(args, case, batch)
    for it in range(1, args.warmup + 1):
        step(it)
    sync(device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with annotate(model), profile(activities=activities, record_shapes=args.shapes) as prof:
        t = time.perf_counter()
        for it in range(args.warmup + 1, args.warmup + 1 + args.steps):
            with record_function("step"):
                step(it)
        sync(device)
        wall = (time.perf_counter() - t) / args.steps
    events = prof.key_averages(group_by_input_shape=args.shapes)
    use_cuda = device.type == "cuda"

    def self_time(e):   # microseconds; on a GPU the device time is what bounds the step
        return (e.self_device_time_total if use_cuda else e.self_cpu_time_total) / args.steps

    kinds, phases, ops = defaultdict(float), {}, []
    for e in events:
        if e.key.startswith("phase: ") or e.key == "step":
            total = (e.device_time_total if use_cuda else e.cpu_time_total) / args.steps
            phases[e.key.removeprefix("phase: ")] = total
            continue
        if not e.key.startswith("aten::") and not e.key.startswith("mkldnn") and "conv" not in e.key:
            continue       # autograd wrappers and other ranges: their ops are counted by name
        kinds[kind_of(e.key)] += self_time(e)
        ops.append((self_time(e), e.count // args.steps, e.key, str(e.input_shapes) if args.shapes else ""))
    ops.sort(reverse=True)
    return {"case": case["name"], "wall_s": wall, "kinds": dict(kinds), "phases": phases, "ops": ops[:args.top]}


def report(r: dict) -> str:
    total = sum(r["kinds"].values()) / 1e6
    lines = [f"### {r['case']}: {r['wall_s']:.3f} s/step under the profiler, ops' self time {total:.3f} s", "",
             "| op kind | s/step | share |", "|---|---|---|"]
    conv = r["kinds"].get("convolution", 0.0) / 1e6
    for k, v in sorted(r["kinds"].items(), key=lambda kv: -kv[1]):
        lines.append(f"| {k} | {v / 1e6:.3f} | {100 * v / 1e6 / total:.1f} % |")
    lines.append(f"| **non-convolution total** | **{total - conv:.3f}** | **{100 * (total - conv) / total:.1f} %** |")
    lines += ["", "| phase (inclusive wall time) | s/step | share of step |", "|---|---|---|"]
    step = r["phases"].get("step", 0.0) / 1e6
    for k, v in sorted(r["phases"].items(), key=lambda kv: -kv[1]):
        if k != "step":
            lines.append(f"| {k} | {v / 1e6:.3f} | {100 * v / 1e6 / step:.1f} % |")
    lines += ["", "| op (self time) | calls/step | s/step | share |" + (" input shapes |" if r["ops"] and r["ops"][0][3] else ""),
              "|---|---|---|---|" + ("---|" if r["ops"] and r["ops"][0][3] else "")]
    for t, n, name, shapes in r["ops"]:
        lines.append(f"| {name} | {n} | {t / 1e6:.4f} | {100 * t / 1e6 / total:.1f} % |" + (f" {shapes} |" if shapes else ""))
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", choices=sorted(CONFIGS), default="esrgan")
    p.add_argument("--cases", nargs="+", type=parse_case, default=[parse_case("fp32"), parse_case("bf16+cl")],
                   metavar="CASE", help=CASE_HELP)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--hr", type=int, default=None, help="HR patch size (default: the config's)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--steps", type=int, default=2, help="profiled steps per case")
    p.add_argument("--top", type=int, default=25, help="ops listed by self time")
    p.add_argument("--shapes", action="store_true", help="group the op list by input shape")
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    args.hr = args.hr or CONFIGS[args.config]["hr"]
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "cuda":
        torch.backends.cudnn.benchmark = True
    print(f"{platform_line(args)}; config {args.config}, batch {args.batch}, HR {args.hr}; load avg {load_avg()}")
    batch = make_batch(args.batch, args.hr)
    for case in args.cases:
        r = profile_case(args, case, batch)
        print(report(r))
        print(f"(load avg after this case: {load_avg()})\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
