#!/usr/bin/env python
"""Preview what a degradation pipeline makes of your HR images before training on it.

    python scripts/degrade.py -i photos/ -opt options/realesrnet_x4plus.yml [degradation.jpeg_range=[60,95] ...]
        [--num 8] [--seed 0] [--crop 256] [--out degrade_preview] [--overwrite]
    python scripts/degrade.py -i a.png b.jpg --type bsrgan --scale 4      # a pipeline's defaults, no option file

For each input (files, folders or globs) the centre crop of --crop HR pixels (a multiple of the scale;
smaller images: their largest such square) is degraded --num times, sample k of image j with the
generator of (--seed, j * num + k) -- the same as training draws for a batch of one -- with the
pipeline's final random crop turned off, so every sample shows the same region. Written to --out:
  <stem>_hr.png, <stem>_<k>.png   the HR crop and each 8-bit LR sample
  contact_sheet.png               one row per image: HR crop | LR samples (nearest-upscaled to the HR size), labelled
  params.json                     the options used and every sample's drawn parameters (Degraded.params)
Overrides address the option file (`degradation.<key>=value`); without -opt only `degradation.*` and `scale`.
"""
from __future__ import annotations

import argparse
import glob
import json
import sys
from pathlib import Path

import numpy as np

from sr_gan import cli
from sr_gan.cli import run_cli
from sr_gan.errors import DataError, OptionError

LABEL_H = 18


def parse_args(argv=None) -> argparse.Namespace:
    p = cli.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-i", "--input", nargs="+", required=True, help="HR image files, folders or globs")
    p.add_argument("-opt", "--opt", default=None, help="option file whose degradation: section is used")
    p.add_argument("overrides", nargs="*", help="option overrides, e.g. degradation.jpeg_range=[60,95]")
    p.add_argument("--type", default="realesrgan", help="pipeline without -opt (its defaults; default realesrgan)")
    p.add_argument("--scale", type=cli.integer(min=1), default=4, help="scale without -opt (default 4)")
    p.add_argument("--num", type=cli.integer(min=1), default=8, help="LR samples per image (default 8)")
    p.add_argument("--seed", type=cli.integer(min=0), default=0, help="seed of the draws (default 0)")
    p.add_argument("--crop", type=cli.integer(min=1), default=256, help="HR centre crop side in pixels (default 256)")
    p.add_argument("--out", default="degrade_preview", help="output folder (created)")
    p.add_argument("--overwrite", action="store_true", help="replace earlier preview files of the same names in --out")
    return p.parse_args(argv)


def load_options(args) -> dict:
    """Validated options holding a `degradation:` section (from -opt, or --type/--scale) and the overrides."""
    from sr_gan import options
    if args.opt is not None:
        opt = options.load(args.opt, args.overrides, check_paths=False)
        if opt.get("degradation") is None:
            raise OptionError(f"{args.opt}: has no degradation: section to preview (add one, or leave out -opt "
                              f"for a pipeline's defaults with --type)")
        return opt
    raw = {"name": "degrade_preview", "scale": args.scale, "degradation": {"type": args.type}}
    for text in args.overrides:
        keys, value = options.parse_override(text)
        if keys[0] not in ("degradation", "scale"):
            raise OptionError(f"override '{text}': without -opt only degradation.<key>=... and scale=... apply")
        options.apply_override(raw, keys, value)
    opt = options.validate(raw, src="scripts/degrade.py")
    if opt["degradation"] is None:
        raise OptionError("degradation: null leaves nothing to preview")
    return opt


def collect_inputs(specs: list[str]) -> list[Path]:
    from sr_gan.utils.image_io import IMAGE_EXTENSIONS, list_images
    found: list[Path] = []
    for spec in specs:
        path = Path(spec)
        if path.is_dir():
            images = list_images(path)[0]
            if not images:
                raise DataError(f"-i {spec}: no images in this folder")
            found += images
        elif path.is_file():
            found.append(path)
        else:
            matches = sorted(Path(p) for p in glob.glob(spec)
                             if Path(p).is_file() and Path(p).suffix.lower() in IMAGE_EXTENSIONS)
            if not matches:
                hint = " (overrides go after -opt, not after -i)" if "=" in spec else ""
                raise DataError(f"-i {spec}: no such file or folder, and no image matches it as a glob{hint}")
            found += matches
    stems = [p.stem for p in found]
    dup = sorted({s for s in stems if stems.count(s) > 1})
    if dup:
        raise DataError(f"-i: several inputs share the name {dup[0]} (outputs are named by stem)")
    return found


def centre_crop(img: np.ndarray, size: int, scale: int, path=None) -> tuple[np.ndarray, list[int]]:
    """The centre square of min(size, h, w) rounded down to the scale, and [top, left, side]."""
    h, w = img.shape[:2]
    side = min(size, h, w) // scale * scale
    if side == 0:
        where = f"{path}: " if path is not None else ""
        raise DataError(f"{where}image of {w}x{h} is smaller than the scale {scale}")
    top, left = (h - side) // 2, (w - side) // 2
    return img[top:top + side, left:left + side], [top, left, side]


def labelled(tile: np.ndarray, text: str) -> np.ndarray:
    """The tile under a black bar with white text (uint8 RGB)."""
    import cv2
    bar = np.zeros((LABEL_H, tile.shape[1], 3), np.uint8)
    cv2.putText(bar, text, (3, LABEL_H - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1, cv2.LINE_AA)
    return np.concatenate([bar, tile], axis=0)


def to_u8(img: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(img, 0, 1) * 255).astype(np.uint8)


def contact_sheet(rows: list[list[tuple[np.ndarray, str]]], side: int) -> np.ndarray:
    """Rows of labelled tiles, each padded to side x side (grey), 2 px gaps."""
    gap = 2
    cols = max(len(r) for r in rows)
    sheet = np.full((len(rows) * (side + LABEL_H + gap), cols * (side + gap), 3), 48, np.uint8)
    for r, row in enumerate(rows):
        for c, (tile, text) in enumerate(row):
            t = labelled(tile, text)
            y, x = r * (side + LABEL_H + gap), c * (side + gap)
            sheet[y:y + t.shape[0], x:x + t.shape[1]] = t
    return sheet


def run(args) -> int:
    import torch

    from sr_gan.degradations.pipelines import degrade_step
    from sr_gan.input_stage import build_pipeline
    from sr_gan.utils.image_io import read_image, to_rgb, write_image

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise OptionError(f"--out {out}: exists and is not a folder")
    opt = load_options(args)
    scale = opt["scale"]
    if args.crop < scale:
        raise OptionError(f"--crop: {args.crop} is smaller than the scale {scale}")
    inputs = collect_inputs(args.input)
    pipe = build_pipeline(opt, gt_size=None)
    crops = []                 # every input read and cropped before anything is written
    for path in inputs:
        img, _ = read_image(path)
        crops.append((path, *centre_crop(to_rgb(img)[:, :, :3], args.crop, scale, path)))
    names = [f"{p.stem}_{suffix}.png" for p in inputs for suffix in ["hr"] + [f"{k:02d}" for k in range(args.num)]]
    existing = [n for n in names + ["contact_sheet.png", "params.json"] if (out / n).exists()]
    if existing and not args.overwrite:
        more = f" and {len(existing) - 1} more" if len(existing) > 1 else ""
        raise OptionError(f"--out {out}: {existing[0]}{more} already exist; choose another --out or pass --overwrite")
    out.mkdir(parents=True, exist_ok=True)
    samples, rows, side = [], [], 0
    for j, (path, hr, crop) in enumerate(crops):
        side = max(side, crop[2])
        write_image(out / f"{path.stem}_hr.png", hr)
        hr_t = torch.from_numpy(np.ascontiguousarray(hr.transpose(2, 0, 1))).float()[None]
        row = [(to_u8(hr), f"HR {path.stem}")]
        for k in range(args.num):
            it = j * args.num + k
            d = degrade_step(pipe, hr_t, args.seed, it)
            lr = d.lr[0].permute(1, 2, 0).numpy()
            name = f"{path.stem}_{k:02d}.png"
            write_image(out / name, lr)
            row.append((np.repeat(np.repeat(to_u8(lr), scale, axis=0), scale, axis=1), f"#{k} {lr.shape[1]}x{lr.shape[0]}"))
            samples.append({"image": str(path), "crop_top_left_side": crop, "sample": k, "iteration": it,
                            "file": name, "params": d.params[0]})
        rows.append(row)
    write_image(out / "contact_sheet.png", contact_sheet(rows, side))
    record = {"seed": args.seed, "scale": scale, "degradation": opt["degradation"],
              "generator": "degradation_generator(seed, iteration, rank=0)", "samples": samples}
    with open(out / "params.json", "w", encoding="utf-8") as f:
        json.dump(record, f, indent=1)
    print(f"{len(samples)} LR samples of {len(inputs)} image(s), contact_sheet.png and params.json -> {out}",
          file=sys.stderr)
    return 0


def main(argv=None) -> int:
    return run_cli(lambda: run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
