#!/usr/bin/env python
"""Time the real `srgan` training step (RRDBNet G + VGG-style D + VGG19 conv5_4 perceptual loss),
next to BasicSR 1.4.2's own ESRGANModel step with the same networks and options (`--basicsr`).

Cases (`--cases`): `basicsr`, or sr_gan with `<amp>[+cl][+compile]` (train.amp, train.channels_last,
train.compile). Every case is built and warmed up first (the first step's time is reported: it is
what torch.compile costs), then timed round-robin, one step of each case per round, so each case
sees the same machine load; "x BasicSR" is the median over rounds of BasicSR's time / the case's.
Per case also: FLOP per step (FlopCounterMode around one step; eager cases only), GFLOP/s, and with
`--bare` the overhead ratio = step time / the sum of the bare forward+backward passes the step
contains (G; D on the real and the fake batch; VGG on sr with grad and on hr without), timed in the
same round. The load average is printed at the start and end of the timed rounds: on a shared
machine a figure is only meaningful when it stayed low. Random VGG weights are as slow as real ones.

    PYTHONPATH=/work/bsr python bench/train_step.py --config esrgan --cases basicsr fp32 bf16+cl --iters 5 --table
    python bench/train_step.py --config small --amp bf16 --channels-last --table
    python bench/train_step.py --peak
    python bench/train_step.py --config realesrgan --batch 12 --degradation-share --amp none bf16   # input step vs step
"""
from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
import warnings

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(HERE), HERE]     # sr_gan from this checkout; basicsr_step

ESRGAN_LOSSES = [{"type": "l1", "weight": 1e-2},
                 {"type": "perceptual", "layers": {"conv5_4": 1.0}, "weight": 1.0, "pretrained": False}]
# Real-ESRGAN's train_realesrgan_x4plus.yml: every term against the unsharp-masked HR, 5 VGG layers
REALESRGAN_LOSSES = [{"type": "l1", "weight": 1.0, "target": "hr_usm"},
                     {"type": "perceptual", "weight": 1.0, "target": "hr_usm", "pretrained": False,
                      "layers": {"conv1_2": 0.1, "conv2_2": 0.1, "conv3_4": 1.0, "conv4_4": 1.0, "conv5_4": 1.0}}]
CONFIGS = {   # name -> generator, discriminator, losses, GAN, default HR size, BasicSR model that matches
    "esrgan": {"g": {"type": "rrdbnet", "num_feat": 64, "num_block": 23, "num_grow_ch": 32},
               "d": {"type": "vgg", "num_feat": 64}, "losses": ESRGAN_LOSSES,
               "gan": {"type": "vanilla", "relativistic": True, "weight": 5e-3}, "hr": 128, "basicsr": "ESRGANModel"},
    "small": {"g": {"type": "rrdbnet", "num_feat": 32, "num_block": 6, "num_grow_ch": 16},
              "d": {"type": "vgg", "num_feat": 32}, "losses": ESRGAN_LOSSES,
              "gan": {"type": "vanilla", "relativistic": True, "weight": 5e-3}, "hr": 128, "basicsr": "ESRGANModel"},
    "realesrgan": {"g": {"type": "rrdbnet", "num_feat": 64, "num_block": 23, "num_grow_ch": 32},
                   "d": {"type": "unet_sn", "num_feat": 64, "skip_connection": True}, "losses": REALESRGAN_LOSSES,
                   "gan": {"type": "vanilla", "weight": 0.1, "target": "hr"}, "hr": 256,
                   "basicsr": "RealESRGANModel", "crop": 400,
                   "degradation": {"type": "realesrgan", "queue_size": 180}},
}


def make_options(config: str, amp: str, channels_last: bool, compile_: bool, device: str, batch: int, hr: int,
                 overrides: tuple = (), degrade: bool = False, crop: int | None = None) -> dict:
    """`hr` is the patch the step sees (GT); with `degrade` (configs with a degradation) the loader's HR
    crop is `crop` (default the config's, Real-ESRGAN's 400) and the pipeline cuts GT `hr` from it."""
    import copy
    from sr_gan import options
    c = copy.deepcopy(CONFIGS[config])
    raw = {
        "name": f"bench_{config}", "model": "srgan", "scale": 4, "device": device,
        "datasets": {"train": {"type": "paired", "hr": "unused", "crop": hr, "batch": batch, "workers": 0}},
        "network_g": c["g"], "network_d": c["d"],
        "train": {"total_iter": 10 ** 6, "ema_decay": 0.999, "losses": c["losses"], "gan": c["gan"],
                  "amp": amp, "channels_last": channels_last, "compile": compile_},
    }
    if degrade and c.get("degradation"):   # HR crops in, the pipeline + pool make LR / GT (a pool of whole batches)
        raw["datasets"]["train"]["crop"] = max(hr, crop or c["crop"])
        raw["degradation"] = {**c["degradation"], "gt_size": hr,
                              "queue_size": max(batch, c["degradation"]["queue_size"] // batch * batch)}
    for text in overrides:       # e.g. train.losses.perceptual.autocast=false
        options.apply_override(raw, *options.parse_override(text))
    return options.validate(raw)


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
    term = next(t for t in model.losses.terms if t.name == "perceptual")
    vgg = term.module
    g, d, prec = model.g, model.d, model.precision
    vgg_prec = prec.autocast if term.autocast else contextlib.nullcontext
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
        with vgg_prec():
            feats = vgg.extract(sr.detach().requires_grad_(True))
        sum(f.float().sum() for f in feats.values()).backward()

    def vgg_hr():
        with torch.no_grad(), vgg_prec():
            vgg.extract(hr)
    return {"G fwd+bwd": g_pass, "D(real) fwd+bwd": d_real, "D(fake) fwd+bwd": d_fake,
            "VGG(sr) fwd+bwd": vgg_sr, "VGG(hr) fwd": vgg_hr}


def _vgg_nchw(model) -> None:
    for m in model.losses.modules():
        m.to(memory_format=torch.contiguous_format)


def _adam(model, **kw) -> None:
    for k, o in model.optimizers.items():
        d = o.defaults
        model.optimizers[k] = type(o)(o.param_groups[0]["params"], lr=d["lr"], betas=d["betas"], eps=d["eps"],
                                      weight_decay=d["weight_decay"], **kw)


# bench-only variants (`+x-<name>`): what a change in the library is measured against, in one run
EXPERIMENTS = {
    "vgg-nchw": _vgg_nchw,                                                  # loss modules left NCHW
    "vgg-cast-per-call": lambda m: [setattr(t.module, "_network", lambda x, v=t.module.vgg: v)   # autocast's casts
                                    for t in m.losses.terms if t.name == "perceptual"],
    "foreach-adam": lambda m: _adam(m, foreach=True),                       # multi-tensor Adam (before: CPU default)
    "loop-adam": lambda m: _adam(m, foreach=False, fused=False),            # per-tensor Adam
}

CASE_HELP = ("a case: basicsr | <amp>[+cl][+compile][+x-<experiment>][,key=value...] with amp none/fp32, bf16 or "
             "fp16; cl = train.channels_last, compile = train.compile, x-: a bench-only variant ("
             + ", ".join(EXPERIMENTS) + "), then option overrides "
             "(e.g. fp32, bf16+cl, bf16+cl+compile, bf16+cl,train.losses.perceptual.autocast=false)")


def parse_case(text: str) -> dict:
    """'bf16+cl+compile' -> {'amp': 'bf16', 'channels_last': True, 'compile': True}; 'basicsr' -> BasicSR."""
    if text == "basicsr":
        return {"name": "basicsr", "basicsr": True, "amp": "none", "channels_last": False, "compile": False,
                "overrides": (), "experiments": ()}
    head, *overrides = text.split(",")
    amp, *flags = head.split("+")
    amp = {"fp32": "none"}.get(amp, amp)
    experiments = tuple(f[2:] for f in flags if f.startswith("x-"))
    flags = [f for f in flags if not f.startswith("x-")]
    if amp not in ("none", "bf16", "fp16") or any(f not in ("cl", "compile") for f in flags) or \
            any(x not in EXPERIMENTS for x in experiments) or \
            any("=" not in o for o in overrides):
        raise argparse.ArgumentTypeError(f"bad case '{text}'; {CASE_HELP}")
    return {"name": text, "basicsr": False, "amp": amp, "channels_last": "cl" in flags, "compile": "compile" in flags,
            "overrides": tuple(overrides), "experiments": experiments}


def make_batch(config_batch: int, hr: int) -> dict:
    g = torch.Generator().manual_seed(0)
    return {"lr": torch.rand(config_batch, 3, hr // 4, hr // 4, generator=g),
            "hr": torch.rand(config_batch, 3, hr, hr, generator=g)}


def build_case(args, case: dict, batch: dict):
    """(model, step(it) closure) for one case; the same batch for every case."""
    torch.manual_seed(0)
    if case["basicsr"]:
        from basicsr_step import build_basicsr_model, feed_basicsr
        model = build_basicsr_model(CONFIGS[args.config], args.device, args.hr)
        feed_basicsr(model, batch)
        return model, model.optimize_parameters
    from sr_gan.registry import MODELS
    opt = make_options(args.config, case["amp"], case["channels_last"], case["compile"], args.device, args.batch, args.hr,
                       case["overrides"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # "random VGG19 features" is expected here
        model = MODELS.get("srgan")(opt, torch.device(args.device))
    for x in case["experiments"]:
        EXPERIMENTS[x](model)
    model.feed_data(batch)
    return model, model.optimize_parameters


def count_flops(step, it: int) -> float:
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as counter:
        step(it)
    return counter.get_total_flops()


def load_avg() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def run_cases(args, cases: list[dict]) -> list[dict]:
    """Build every case, warm each up (the first step's time is what compile costs), then time them
    round-robin, one step of each case per round, so every case sees the same machine load."""
    device = torch.device(args.device)
    batch = make_batch(args.batch, args.hr)
    rows, steps, its = [], [], []
    for case in cases:
        model, step = build_case(args, case, batch)
        it = {"n": 0}

        def run(step=step, it=it):
            it["n"] += 1
            step(it["n"])
        t = time.perf_counter()
        run()
        sync(device)
        first = time.perf_counter() - t
        for _ in range(args.warmup - 1):
            run()
        sync(device)
        bare = bare_passes(model, model.lr, model.hr) if args.bare and not case["basicsr"] else None
        rows.append({**case, "config": args.config, "model": model, "first_s": first, "times": [], "cpu": [],
                     "bare": [], "bare_fns": bare})
        steps.append(run)
        its.append(it)
    load_start = load_avg()
    for _ in range(args.iters):
        for row, run in zip(rows, steps):
            cpu = time.process_time()
            row["times"].append(timed(run, device, 1, 0))
            row["cpu"].append(time.process_time() - cpu)
            if row["bare_fns"]:
                parts = {name: timed(fn, device, 1, 0) for name, fn in row["bare_fns"].items()}
                row["bare"].append(parts)
    load_end = load_avg()
    base = next((r for r in rows if r["basicsr"]), None)
    for row, it in zip(rows, its):
        row["s_per_it"] = statistics.median(row["times"])
        # CPU seconds of this process per step: with one thread and a busy machine, a far steadier
        # measure of the work than wall time (no spinning, waiting is not counted)
        row["cpu_s"] = statistics.median(row["cpu"])
        row["x_basicsr_cpu"] = statistics.median(b / t for b, t in zip(base["cpu"], row["cpu"])) if base else float("nan")
        row["x_basicsr"] = statistics.median(b / t for b, t in zip(base["times"], row["times"])) if base else float("nan")
        if row["bare"]:
            row["overhead"] = statistics.median(t / sum(p.values()) for t, p in zip(row["times"], row["bare"]))
            row["bare_s"] = sum(statistics.median(p[k] for p in row["bare"]) for k in row["bare"][0])
        else:
            row["overhead"] = row["bare_s"] = float("nan")
        model = row.pop("model")
        if hasattr(model, "networks"):
            for n in model.networks().values():
                n.zero_grad(set_to_none=True)
        # FlopCounterMode sees eager ops only: no count for compiled cases
        row["gflop"] = float("nan") if row["compile"] else count_flops(model.optimize_parameters, it["n"] + 1) / 1e9
        row["gflops"] = row["gflop"] / row["s_per_it"]
        row["load"] = f"{load_start} -> {load_end}"
        row.pop("bare_fns")
    return rows


def photo_crops(batch: int, size: int, seed: int = 0) -> torch.Tensor:
    """`batch` random size x size crops of scikit-image photos (upscaled so any crop up to 480 fits), CHW in [0, 1]."""
    import cv2
    import numpy as np
    from skimage import data
    rng = np.random.default_rng(seed)
    photos = [data.astronaut(), data.coffee(), data.rocket(), data.chelsea()]
    out = []
    for i in range(batch):
        img = photos[i % len(photos)]
        k = max(1.0, 480 / min(img.shape[:2]))
        img = cv2.resize(img, (round(img.shape[1] * k), round(img.shape[0] * k)), interpolation=cv2.INTER_CUBIC)
        top, left = rng.integers(0, img.shape[0] - size + 1), rng.integers(0, img.shape[1] - size + 1)
        out.append(torch.from_numpy(np.ascontiguousarray(img[top:top + size, left:left + size])).permute(2, 0, 1))
    return torch.stack(out).float() / 255


def degradation_share(args) -> None:
    """The model's input step (model.feed_data on HR photo crops: to the device, the realesrgan pipeline,
    the pool at steady state (full, swapping every batch), the USM targets) against the training step,
    interleaved one of each per round, for each --amp case; prints the input step as a share of the step."""
    device = torch.device(args.device)
    from sr_gan.registry import MODELS
    print(f"| config | case | batch | HR crop -> GT | input step s | train step s | input share | load avg |\n"
          f"|---|---|---|---|---|---|---|---|")
    for amp in args.amp:
        torch.manual_seed(0)
        opt = make_options(args.config, amp, args.channels_last, args.compile, args.device, args.batch, args.hr,
                           degrade=True, crop=args.crop)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = MODELS.get("srgan")(opt, device)
        crop = opt["datasets"]["train"]["crop"]
        batches = [photo_crops(args.batch, crop, seed) for seed in range(3)]
        pool = model.input_stage.pool
        model.feed_data({"hr": batches[0]}, 1)
        if pool is not None:           # steady state: a full pool swaps pairs every batch
            pool.filled = pool.queue_size
        state = {"it": 1}

        def feed():
            state["it"] += 1
            model.feed_data({"hr": batches[state["it"] % len(batches)]}, state["it"])

        def step():
            model.optimize_parameters(state["it"])
        for _ in range(args.warmup):
            feed()
            step()
        load = load_avg()
        t_feed, t_step = [], []
        for _ in range(args.iters):
            t_feed.append(timed(feed, device, 1, 0))
            t_step.append(timed(step, device, 1, 0))
        f, s_ = statistics.median(t_feed), statistics.median(t_step)
        name = {"none": "fp32"}.get(amp, amp) + ("+cl" if args.channels_last else "")
        print(f"| {args.config} | {name} | {args.batch} | {crop} -> {args.hr} | {f:.3f} | {s_:.3f} | "
              f"{100 * f / s_:.1f} % | {load} -> {load_avg()} |", flush=True)


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


def platform_line(args) -> str:
    """Which hardware the figures come from: CPU model and bf16-relevant flags, or the GPU's name."""
    if args.device == "cuda":
        return f"device cuda ({torch.cuda.get_device_name()}), torch {torch.__version__}"
    model, flags = "?", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and model == "?":
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not flags:
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    bf16 = [f for f in ("avx512_bf16", "amx_bf16", "amx_tile") if f in flags] or ["no bf16 flags"]
    return (f"device cpu ({model}, capability {torch.backends.cpu.get_cpu_capability()}, {', '.join(bf16)}), "
            f"torch {torch.__version__}, {torch.get_num_threads()} threads")


def peak(args) -> None:
    device = torch.device(args.device)
    print(platform_line(args))
    dtypes = [("fp32", torch.float32), ("bf16", torch.bfloat16)] + ([("fp16", torch.float16)] if device.type == "cuda" else [])
    n = 2048 if device.type == "cpu" else 8192
    for name, dt in dtypes:
        # bf16 GEMM without AVX512-BF16/AMX is a slow fallback: a small matrix keeps the run short
        size = 512 if (device.type == "cpu" and dt != torch.float32) else n
        print(f"matmul {name} {size}x{size}: {matmul_peak(dt, device, size):8.1f} GFLOP/s")
        for cl in (False, True):
            print(f"conv3x3 64->64 {name} {'channels_last' if cl else 'NCHW'}: {conv_peak(dt, device, cl):8.1f} GFLOP/s")


def table(rows: list[dict]) -> str:
    head = ("| config | case | s/it | x BasicSR | CPU s/it | x BasicSR (CPU s) | GFLOP/step | GFLOP/s | first step s "
            "| bare passes s | overhead | threads | load avg (1/5/15 min, start -> end) |\n|" + "---|" * 13)
    lines = [f"| {r['config']} | {r['name']} | {r['s_per_it']:.3f} | {r['x_basicsr']:.2f} | {r['cpu_s']:.3f} | "
             f"{r['x_basicsr_cpu']:.2f} | {r['gflop']:.1f} | {r['gflops']:.1f} | {r['first_s']:.1f} | {r['bare_s']:.3f} | "
             f"{r['overhead']:.3f} | {torch.get_num_threads()} | {r['load']} |" for r in rows]
    return "\n".join([head] + lines)


def parts(args) -> None:
    """Each step change on its own part of the step, old and new interleaved (one call of each per
    round; median wall and CPU seconds): the perceptual term (VGG(sr) fwd+bwd, VGG(hr) fwd, the
    distance) and the two optimizer steps of the `--config` networks. Step-level ratios of 1-2 %
    drown in a shared machine's noise; the part they change does not."""
    device = torch.device(args.device)
    batch = make_batch(args.batch, args.hr)
    fp32_cl, _ = build_case(args, parse_case("fp32+cl"), batch)
    bf16_cl, _ = build_case(args, parse_case("bf16+cl"), batch)

    def perceptual(model, autocast: bool, per_call_cast: bool = False, nchw_weights: bool = False):
        import copy as copy_
        term = next(t for t in model.losses.terms if t.name == "perceptual")
        vgg = copy_.deepcopy(term.module)
        if nchw_weights:
            vgg.to(memory_format=torch.contiguous_format)
        if per_call_cast:
            vgg._network = lambda x, v=vgg.vgg: v
        ctx = model.precision.autocast if autocast else contextlib.nullcontext
        sr = model.hr.detach().clone().requires_grad_(True)

        def run():
            with ctx():
                value = vgg(sr, model.hr)
            value.backward()
        return run

    def adam(model, **kw):
        nets = [model.net_g, model.net_d]
        params = [p for n in nets for p in n.parameters()]
        model.optimize_parameters(1)                       # real gradients in .grad
        opt = torch.optim.Adam(params, lr=1e-4, betas=(0.9, 0.99), **kw)
        return opt.step

    groups = {
        "perceptual term, bf16 + channels_last": {
            "VGG fp32 (autocast: false)": perceptual(bf16_cl, autocast=False),
            "VGG bf16, weights cast per call": perceptual(bf16_cl, autocast=True, per_call_cast=True),
            "VGG bf16, bf16 weight copy (now)": perceptual(bf16_cl, autocast=True)},
        "perceptual term, fp32 + channels_last": {
            "VGG weights NCHW (before)": perceptual(fp32_cl, autocast=False, nchw_weights=True),
            "VGG weights channels_last (now)": perceptual(fp32_cl, autocast=False)},
        "Adam step of G and D, channels_last weights": {
            "foreach (before)": adam(fp32_cl, foreach=True), "fused (now)": adam(fp32_cl, fused=True),
            "per-tensor loop": adam(fp32_cl, foreach=False)},
    }
    fp32, _ = build_case(args, parse_case("fp32"), batch)
    groups["Adam step of G and D, NCHW weights"] = {
        "foreach (before)": adam(fp32, foreach=True), "fused (now)": adam(fp32, fused=True),
        "per-tensor loop": adam(fp32, foreach=False)}
    print(f"| part | variant | s | CPU s | x first variant (CPU s) | load avg |\n|---|---|---|---|---|---|")
    for group, fns in groups.items():
        for fn in fns.values():
            fn()
        wall, cpu = {k: [] for k in fns}, {k: [] for k in fns}
        load = load_avg()
        for _ in range(args.iters):
            for k, fn in fns.items():
                c = time.process_time()
                wall[k].append(timed(fn, device, 1, 0))
                cpu[k].append(time.process_time() - c)
        first = next(iter(fns))
        for k in fns:
            ratio = statistics.median(a / b for a, b in zip(cpu[first], cpu[k]))
            print(f"| {group} | {k} | {statistics.median(wall[k]):.4f} | {statistics.median(cpu[k]):.4f} | "
                  f"{ratio:.2f} | {load} -> {load_avg()} |", flush=True)


def main(argv=None) -> int:
    from sr_gan import cli
    p = cli.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", choices=sorted(CONFIGS), default="small")
    p.add_argument("--cases", nargs="+", type=parse_case, default=None, metavar="CASE", help=CASE_HELP)
    p.add_argument("--basicsr", action="store_true", help="add BasicSR 1.4.2's ESRGANModel (fp32) as the first case")
    p.add_argument("--amp", nargs="+", choices=["none", "bf16", "fp16"], default=["none"],
                   help="without --cases: one case per value")
    p.add_argument("--channels-last", action="store_true", help="without --cases: channels_last for every case")
    p.add_argument("--compile", action="store_true", help="without --cases: train.compile for every case")
    p.add_argument("--bare", action="store_true", help="also time the bare passes of each sr_gan step (overhead column)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--batch", type=cli.integer(min=1), default=4)
    p.add_argument("--hr", type=cli.integer(min=4), default=None,
                   help="HR patch size, a multiple of 4 (LR = HR/4; default: the config's, 128 or 256)")
    p.add_argument("--iters", type=cli.integer(min=1), default=3, help="timed rounds (one step of every case per round)")
    p.add_argument("--warmup", type=cli.integer(min=0), default=1, help="untimed steps per case (the first one is reported)")
    p.add_argument("--threads", type=cli.integer(min=1), default=None)
    p.add_argument("--table", action="store_true", help="print a Markdown table at the end")
    p.add_argument("--peak", action="store_true", help="only measure matmul/conv GFLOP/s of this machine")
    p.add_argument("--crop", type=cli.integer(min=4), default=None,
                   help="--degradation-share: the loader's HR crop the pipeline degrades before cutting --hr "
                        "(default: the config's, realesrgan 400 like Real-ESRGAN)")
    p.add_argument("--degradation-share", action="store_true",
                   help="configs with a degradation (realesrgan): time the input step (pipeline + pool + USM, "
                        "model.feed_data) against the training step, per --amp case")
    p.add_argument("--parts", action="store_true",
                   help="only time the parts the step changes touched, old vs new (perceptual term, Adam)")
    try:
        args = p.parse_args(argv)
        args.hr = args.hr or CONFIGS[args.config]["hr"]
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
    if args.parts:
        parts(args)
        return 0
    if args.degradation_share:
        if not CONFIGS[args.config].get("degradation"):
            return cli.report(cli.UsageError(f"argument --degradation-share: config {args.config} has no degradation "
                                             f"(use --config realesrgan)"))
        print(f"{platform_line(args)}; load avg {load_avg()}", flush=True)
        degradation_share(args)
        return 0
    cases = args.cases or [{"name": "+".join([{"none": "fp32"}.get(a, a)] + (["cl"] if args.channels_last else [])
                                             + (["compile"] if args.compile else [])),
                            "basicsr": False, "amp": a, "channels_last": args.channels_last, "compile": args.compile,
                            "overrides": (), "experiments": ()}
                           for a in args.amp]
    if args.basicsr and not any(c["basicsr"] for c in cases):
        cases = [parse_case("basicsr")] + cases
    args.warmup = max(1, args.warmup)
    print(f"{platform_line(args)}; load avg {load_avg()}", flush=True)
    rows = run_cases(args, cases)
    for r in rows:
        print(f"{r['config']} {r['name']}: {r['s_per_it']:.3f} s/it (rounds {', '.join(f'{t:.3f}' for t in r['times'])}), "
              f"x BasicSR {r['x_basicsr']:.2f}, CPU {r['cpu_s']:.3f} s/it (x BasicSR {r['x_basicsr_cpu']:.2f}), "
              f"{r['gflop']:.1f} GFLOP/step, {r['gflops']:.1f} GFLOP/s, "
              f"first step {r['first_s']:.1f} s, overhead {r['overhead']:.3f}, load {r['load']}", flush=True)
    if args.table:
        print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
