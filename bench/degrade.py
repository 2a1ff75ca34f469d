#!/usr/bin/env python
"""Degraded samples/s: sr_gan's `realesrgan` pipeline against BasicSR 1.4.2's Real-ESRGAN, same machine, same run.

Real-ESRGAN's setting: batch 12, GT 256, x4, train_realesrgan_x4plus.yml's degradation options, pool 180.
BasicSR: RealESRGANDataset (reads a photo, flips, crops/pads it to 400, draws the three kernels in
numpy) in a DataLoader, then RealESRGANModel.feed_data (USM, both degradation orders with DiffJPEG,
crop to 256, pool, USM again) on the device. The model object is built bare (only what feed_data
uses: the USM, DiffJPEG, the options) because the full model needs pretrained VGG weights.
sr_gan: a loader of HR crops (read, flip, crop/pad: RealESRGANDataset's work without the kernels,
which sr_gan draws on the device) and the pipeline + pool + USM of the pooled HR, measured
  like-for-like  on 400 x 400 crops with gt_size 256 (the whole 400 crop is degraded, as BasicSR does)
  direct         on 256 x 256 crops (nothing to crop away afterwards).
Stages: `loader` (DataLoader alone, workers as given), `degrade` (feed_data / pipeline alone on
batches already in memory), `together` (both, as a training loop would see them). Pools start full
(steady state). The degradation is random, so rates are means over all timed iterations.

    python bench/degrade.py                            # CPU, 0 and 2 workers, prints Markdown tables
    python bench/degrade.py --device cuda --workers 4
    python bench/degrade.py --iters 3 --warmup 1 --workers 0      # a quick check that it runs
    python bench/degrade.py --stages                   # where sr_gan's pipeline spends its time
    python bench/degrade.py --blur                     # blur methods (FFT vs grouped conv) by size

BasicSR is not a dependency: PYTHONPATH=/work/bsr here, or install it into a throw-away folder with
`pip install --no-deps --no-build-isolation --target DIR basicsr==1.4.2 addict yapf future` and set
PYTHONPATH=DIR (its import of torchvision.transforms.functional_tensor is patched below).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import defaultdict

import cv2
import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from sr_gan.degradations import pipelines  # noqa: E402
from sr_gan.degradations.sampler import degradation_generator  # noqa: E402
from sr_gan.degradations.usm import usm_sharp  # noqa: E402

# train_realesrgan_x4plus.yml (dataset part); the model part equals the pipeline's defaults
DATASET_OPT = {
    "blur_kernel_size": 21, "kernel_list": list(pipelines.ALL_KERNELS), "kernel_prob": list(pipelines.DEFAULT_KERNEL_PROB),
    "sinc_prob": 0.1, "blur_sigma": [0.2, 3], "betag_range": [0.5, 4], "betap_range": [1, 2],
    "blur_kernel_size2": 21, "kernel_list2": list(pipelines.ALL_KERNELS), "kernel_prob2": list(pipelines.DEFAULT_KERNEL_PROB),
    "sinc_prob2": 0.1, "blur_sigma2": [0.2, 1.5], "betag_range2": [0.5, 4], "betap_range2": [1, 2],
    "final_sinc_prob": 0.8, "gt_size": 256, "use_hflip": True, "use_rot": False,
}
MODEL_OPT = {
    "scale": 4, "resize_prob": [0.2, 0.7, 0.1], "resize_range": [0.15, 1.5], "gaussian_noise_prob": 0.5,
    "noise_range": [1, 30], "poisson_scale_range": [0.05, 3], "gray_noise_prob": 0.4, "jpeg_range": [30, 95],
    "second_blur_prob": 0.8, "resize_prob2": [0.3, 0.4, 0.3], "resize_range2": [0.3, 1.2], "gaussian_noise_prob2": 0.5,
    "noise_range2": [1, 25], "poisson_scale_range2": [0.05, 2.5], "gray_noise_prob2": 0.4, "jpeg_range2": [30, 95],
    "gt_size": 256, "queue_size": 180,
}


def photo_folder(root: str, copies: int = 10) -> tuple[str, str]:
    """Five scikit-image photos as PNGs, and a meta_info file listing each `copies` times."""
    from skimage import data
    photos = {"astronaut": data.astronaut(), "coffee": data.coffee(), "chelsea": data.chelsea(),
              "rocket": data.rocket(), "motorcycle": data.stereo_motorcycle()[0]}
    os.makedirs(root, exist_ok=True)
    for name, img in photos.items():
        cv2.imwrite(os.path.join(root, f"{name}.png"), np.ascontiguousarray(img[:, :, ::-1]))
    meta = os.path.join(root, "meta_info.txt")
    with open(meta, "w") as f:
        f.write("".join(f"{name}.png\n" for name in photos for _ in range(copies)))
    return root, meta


class HRCrops(torch.utils.data.Dataset):
    """sr_gan side of the loader: read, random h-flip, crop/pad to `size` (reflect-101, like
    RealESRGANDataset), CHW float tensor. Randomness from a per-item generator."""

    def __init__(self, root: str, meta: str, size: int):
        with open(meta) as f:
            self.paths = [os.path.join(root, line.strip()) for line in f if line.strip()]
        self.size = size

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        rng = np.random.default_rng(i + 7919 * int(torch.randint(0, 2 ** 31, (1,))))
        img = cv2.imread(self.paths[i % len(self.paths)], cv2.IMREAD_COLOR)[:, :, ::-1]
        if rng.random() < 0.5:
            img = img[:, ::-1]
        h, w = img.shape[:2]
        s = self.size
        if h < s or w < s:
            img = cv2.copyMakeBorder(np.ascontiguousarray(img), 0, max(0, s - h), 0, max(0, s - w), cv2.BORDER_REFLECT_101)
            h, w = img.shape[:2]
        top, left = rng.integers(0, h - s + 1), rng.integers(0, w - s + 1)
        img = np.ascontiguousarray(img[top:top + s, left:left + s])
        return {"gt": torch.from_numpy(img).permute(2, 0, 1).float().div_(255)}


def loader(dataset, batch: int, workers: int, batches: int):
    sampler = torch.utils.data.RandomSampler(dataset, replacement=True, num_samples=batch * batches)
    return torch.utils.data.DataLoader(dataset, batch_size=batch, sampler=sampler, num_workers=workers,
                                       drop_last=True, persistent_workers=False)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def import_basicsr():
    """BasicSR's classes; not importable is one `error:` line saying how to get it or skip it."""
    import torchvision.transforms.functional as tvf
    sys.modules.setdefault("torchvision.transforms.functional_tensor", tvf)
    try:
        from basicsr.data.realesrgan_dataset import RealESRGANDataset
        from basicsr.models.realesrgan_model import RealESRGANModel
        from basicsr.utils import DiffJPEG, USMSharp
    except ImportError as e:
        from sr_gan.errors import SRGanError
        raise SRGanError(f"BasicSR 1.4.2 is not importable ({e}): put an install on PYTHONPATH (see this "
                         f"file's docstring) or pass --skip-basicsr") from None
    return RealESRGANDataset, RealESRGANModel, DiffJPEG, USMSharp


class BasicSRFeed:
    """RealESRGANModel.feed_data on a bare model object (no networks), its pool started full."""

    def __init__(self, device, batch: int):
        _, model_cls, diffjpeg, usm = import_basicsr()
        m = model_cls.__new__(model_cls)
        m.opt, m.is_train, m.device = dict(MODEL_OPT), True, device
        jpeger = diffjpeg(differentiable=False).to(device)
        # DiffJPEG returns a permuted (non-contiguous) tensor that feed_data's filter2D .view()s: with
        # current torch that raises, so make it contiguous (one copy of the small LR batch)
        m.jpeger = lambda x, quality: jpeger(x, quality=quality).contiguous()
        m.usm_sharpener = usm().to(device)
        m.queue_size = MODEL_OPT["queue_size"]
        lr = MODEL_OPT["gt_size"] // MODEL_OPT["scale"]
        m.queue_lr = torch.zeros(m.queue_size, 3, lr, lr, device=device)
        m.queue_gt = torch.zeros(m.queue_size, 3, MODEL_OPT["gt_size"], MODEL_OPT["gt_size"], device=device)
        m.queue_ptr = m.queue_size
        self.model, self.cls = m, model_cls

    def __call__(self, batch: dict, it: int):
        self.cls.feed_data(self.model, batch)
        return self.model.lq


class SrGanFeed:
    """The realesrgan pipeline + pool (started full) + USM of the pooled HR, as the model step will run it."""

    def __init__(self, device, gt_size: int, name: str = "realesrgan"):
        self.pipe = pipelines.DEGRADATIONS.build({"type": name, "gt_size": gt_size}, scale=4)
        self.pool = pipelines.TrainingPairPool(180)
        self.device = device

    def __call__(self, batch: dict, it: int):
        hr = batch["gt"].to(self.device, non_blocking=True)
        g = degradation_generator(0, it, 0)
        d = self.pipe(hr, g)
        if self.pool.lr is None:
            self.pool.lr = torch.zeros(180, *d.lr.shape[1:], device=self.device)
            self.pool.hr = torch.zeros(180, *d.hr.shape[1:], device=self.device)
            self.pool.filled = 180
        lr, hr = self.pool(d.lr, d.hr, g)
        usm_sharp(hr)
        return lr


def time_degrade(feed, batches: list, warmup: int, device) -> float:
    for i in range(warmup):
        feed(batches[i % len(batches)], i)
    sync(device)
    t = time.perf_counter()
    for i, b in enumerate(batches):
        feed(b, warmup + i)
    sync(device)
    return len(batches) * batches[0]["gt"].shape[0] / (time.perf_counter() - t)


def time_loader(dataset, batch, workers, iters, warmup) -> tuple[float, list]:
    it = iter(loader(dataset, batch, workers, iters + warmup + 1))
    for _ in range(warmup + 1):                 # worker start-up excluded
        next(it)
    got, t = [], time.perf_counter()
    for _ in range(iters):
        got.append(next(it))
    return iters * batch / (time.perf_counter() - t), got


def time_together(dataset, feed, batch, workers, iters, warmup, device) -> float:
    it = iter(loader(dataset, batch, workers, iters + warmup + 1))
    for i in range(warmup + 1):
        feed(next(it), i)
    sync(device)
    t = time.perf_counter()
    for i in range(iters):
        feed(next(it), 1000 + i)
    sync(device)
    return iters * batch / (time.perf_counter() - t)


def stage_profile(device, batch: int, size: int, iters: int) -> None:
    """Mean ms per batch of each stage of the pipeline (wrapping the functions it calls)."""
    from sr_gan.degradations import sampler
    spent, calls = defaultdict(float), defaultdict(int)

    def wrap(mod, name, label):
        fn = getattr(mod, name)

        def timed(*a, **k):
            sync(device)
            t = time.perf_counter()
            out = fn(*a, **k)
            sync(device)
            spent[label] += time.perf_counter() - t
            calls[label] += 1
            return out
        setattr(mod, name, timed)

    for name, label in (("usm_sharp", "usm (input)"), ("blur", "blur"), ("resize", "resize"), ("jpeg", "jpeg"),
                        ("add_noise", "noise"), ("crop_batch", "crop"), ("quantize8", "round to 8 bits"),
                        ("sample_realesrgan", "sample parameters")):
        wrap(pipelines, name, label)
    wrap(sampler.KernelParams, "build", "build kernels")
    from skimage import data
    photo = torch.from_numpy(data.astronaut()).permute(2, 0, 1).float() / 255
    reps = -(-size // 512)
    photo = photo.repeat(1, reps, reps)[:, :size, :size]
    hr = torch.stack([photo.roll((17 * i, 29 * i), (1, 2)) for i in range(batch)]).to(device)
    pipe = pipelines.DEGRADATIONS.build({"type": "realesrgan", "gt_size": 256}, scale=4)
    pipe(hr, degradation_generator(0, 0))
    spent.clear(), calls.clear()
    sync(device)
    t = time.perf_counter()
    for i in range(iters):
        pipe(hr, degradation_generator(0, 1 + i))
    sync(device)
    total = (time.perf_counter() - t) / iters
    print(f"\nsr_gan realesrgan pipeline, batch {batch}, input {size}, gt 256, {device}: {total * 1e3:.1f} ms/batch "
          f"= {batch / total:.1f} samples/s (mean of {iters} random batches)\n")
    print("| stage | ms / batch | calls / batch | share |\n|---|---|---|---|")
    for label, s in sorted(spent.items(), key=lambda kv: -kv[1]):
        print(f"| {label} | {s / iters * 1e3:.1f} | {calls[label] / iters:.1f} | {100 * s / iters / total:.0f} % |")


def blur_methods(device, batch: int) -> None:
    from sr_gan.degradations import filters
    from sr_gan.degradations.kernels import gaussian_kernels
    print(f"\n| image | kernels | fft padded 21 | conv padded 21 | fft grouped | conv grouped |  ({device}, batch {batch}, ms)")
    print("|---|---|---|---|---|---|")
    g = torch.Generator().manual_seed(0)
    for hw in (64, 128, 256, 400):
        x = torch.rand(batch, 3, hw, hw, generator=g).to(device)
        sizes = torch.tensor([7, 9, 11, 13, 15, 17, 19, 21] * 2)[:batch]
        k = gaussian_kernels(sizes, torch.full((batch,), 2.0), torch.full((batch,), 1.0), torch.zeros(batch), 21).to(device)
        res = []
        for method, grouped in (("fft", False), ("conv", False), ("fft", True), ("conv", True)):
            kw = {"sizes": sizes} if grouped else {}
            filters.blur(x, k, method=method, **kw)
            best = 1e9
            for _ in range(3):
                sync(device)
                t = time.perf_counter()
                filters.blur(x, k, method=method, **kw)
                sync(device)
                best = min(best, time.perf_counter() - t)
            res.append(best * 1e3)
        print(f"| {hw} | sizes 7-21 | " + " | ".join(f"{r:.1f}" for r in res) + " |")


def parse_args(argv=None) -> argparse.Namespace:
    from sr_gan import cli
    ap = cli.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", type=cli.device, default="cpu", help="cpu|cuda|cuda:N|mps|auto")
    ap.add_argument("--batch", type=cli.integer(min=1), default=12)
    ap.add_argument("--iters", type=cli.integer(min=1), default=20, help="timed batches per measurement")
    ap.add_argument("--warmup", type=cli.integer(min=0), default=2)
    ap.add_argument("--workers", type=cli.integer(min=0), nargs="+", default=[0, 2],
                    help="DataLoader workers (loader/together)")
    ap.add_argument("--threads", type=cli.integer(min=1), default=None, help="torch intra-op threads (default: torch's)")
    ap.add_argument("--skip-basicsr", action="store_true")
    ap.add_argument("--stages", action="store_true", help="per-stage profile of sr_gan's pipeline and exit")
    ap.add_argument("--blur", action="store_true", help="time the blur methods and exit")
    return ap.parse_args(argv)


def main(argv=None) -> int:
    from sr_gan.cli import run_cli
    return run_cli(lambda: run(parse_args(argv)))


def run(args) -> int:
    from sr_gan.commands.upscale import resolve_device
    device = torch.device(resolve_device(args.device))      # CUDA asked for and absent: one line, before any work
    if not (args.skip_basicsr or args.stages or args.blur):
        import_basicsr()                                     # missing: one line, before the photos are written
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}"
          + (f" ({torch.cuda.get_device_name()})" if device.type == "cuda" else "")
          + f", load average {os.getloadavg()[0]:.2f} at start")
    if args.stages:
        for size in (256, 400):
            stage_profile(device, args.batch, size, args.iters)
        return 0
    if args.blur:
        blur_methods(device, args.batch)
        return 0

    torch.manual_seed(0)
    np.random.seed(0)
    import random
    random.seed(0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root, meta = photo_folder(tmp)
        ours = {400: HRCrops(root, meta, 400), 256: HRCrops(root, meta, 256)}
        feeds = {400: SrGanFeed(device, 256), 256: SrGanFeed(device, 256)}
        theirs = feed_b = None
        if not args.skip_basicsr:
            dataset_cls = import_basicsr()[0]
            theirs = dataset_cls({**DATASET_OPT, "dataroot_gt": root, "meta_info": meta, "io_backend": {"type": "disk"}})
            feed_b = BasicSRFeed(device, args.batch)
        results = {}
        for w in args.workers:
            if theirs is not None:
                results[("basicsr", 400, "loader", w)], batches_b = time_loader(theirs, args.batch, w, args.iters, args.warmup)
            for size, ds in ours.items():
                results[("sr_gan", size, "loader", w)], batches = time_loader(ds, args.batch, w, args.iters, args.warmup)
                if w == args.workers[0]:
                    results[("sr_gan", size, "degrade", None)] = time_degrade(feeds[size], batches, args.warmup, device)
            if theirs is not None and w == args.workers[0]:
                results[("basicsr", 400, "degrade", None)] = time_degrade(feed_b, batches_b, args.warmup, device)
            if theirs is not None:
                results[("basicsr", 400, "together", w)] = time_together(theirs, feed_b, args.batch, w, args.iters,
                                                                        args.warmup, device)
            for size, ds in ours.items():
                results[("sr_gan", size, "together", w)] = time_together(ds, feeds[size], args.batch, w, args.iters,
                                                                         args.warmup, device)
        for key, rate in results.items():
            rows.append((*key, rate))
    print(f"\nbatch {args.batch}, GT 256, x4, {args.iters} timed batches per cell, load average "
          f"{os.getloadavg()[0]:.2f} at the end\n")
    print("| side | input crop | stage | workers | samples/s | x BasicSR |\n|---|---|---|---|---|---|")
    for side, size, stage, w, rate in rows:
        ref = results.get(("basicsr", 400, stage, w))
        ratio = f"{rate / ref:.2f}" if ref and side == "sr_gan" else ""
        print(f"| {side} | {size} | {stage} | {'-' if w is None else w} | {rate:.2f} | {ratio} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
