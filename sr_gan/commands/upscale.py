"""Upscale images with any supported generator checkpoint.

    python scripts/upscale.py -i INPUT -o OUTDIR --model CKPT [--tile 256 --tile-pad 10]
        [--precision fp32|fp16|bf16] [--device auto|cpu|cuda] [--outscale 3.5] [--ext png|jpg|webp]
        [--suffix _x4] [--overwrite] [--channels-last]
        [--arch rrdbnet --scale 4 --num-feat 64 --num-block 23 --num-grow-ch 32]   (bare state dicts)

INPUT is a file, a folder or a glob. Gray stays gray, RGBA keeps its alpha, 16-bit PNG stays 16-bit.
Unreadable files are reported (one line each) and skipped; the exit status is then 1.
"""
from __future__ import annotations

import argparse
import glob
import sys
from pathlib import Path

from sr_gan.cli import run_cli
from sr_gan.errors import DataError, SRGanError

OUTPUT_EXTS = (".png", ".jpg", ".webp")


def collect_inputs(spec: str) -> list[Path]:
    from sr_gan.utils.image_io import IMAGE_EXTENSIONS, list_images
    path = Path(spec)
    if path.is_dir():
        images, others = list_images(path)
        if not images:
            raise DataError(f"-i {spec}: no images in this folder" + (f" ({len(others)} other files)" if others else ""))
        return images
    if path.is_file():
        if path.suffix.lower() not in IMAGE_EXTENSIONS:
            raise DataError(f"-i {spec}: not an image file (extensions: {', '.join(sorted(IMAGE_EXTENSIONS))})")
        return [path]
    matches = sorted(Path(p) for p in glob.glob(spec) if Path(p).is_file()
                     and Path(p).suffix.lower() in IMAGE_EXTENSIONS)
    if not matches:
        raise DataError(f"-i {spec}: no such file or folder, and no image matches it as a glob")
    return matches


def output_path(src: Path, outdir: Path, ext: str | None, suffix: str) -> Path:
    if ext:
        out_ext = "." + ext.lower().lstrip(".")
    else:
        out_ext = src.suffix.lower() if src.suffix.lower() in OUTPUT_EXTS + (".jpeg",) else ".png"
    return outdir / f"{src.stem}{suffix}{out_ext}"


def parse_args(argv=None) -> argparse.Namespace:
    from sr_gan import cli
    p = cli.ArgumentParser(description="Upscale images with a super-resolution generator.")
    p.add_argument("-i", "--input", required=True, help="image file, folder or glob")
    p.add_argument("-o", "--output", required=True, type=cli.output_dir, help="output folder (created)")
    p.add_argument("--model", required=True, type=cli.existing_path,
                   help="checkpoint (.pth/.safetensors), experiment folder or its 'latest'")
    p.add_argument("--tile", type=cli.integer(min=0), default=0, help="tile size in LR px (0: whole image, tiles on OOM)")
    p.add_argument("--tile-pad", type=cli.integer(min=0), default=10, help="context around each tile in LR px")
    p.add_argument("--precision", choices=("fp32", "fp16", "bf16"), default="fp32")
    p.add_argument("--device", type=cli.device, default="auto", help="auto|cpu|cuda|cuda:N")
    p.add_argument("--outscale", type=cli.number(above=0), default=None, help="final scale (resized after the network)")
    p.add_argument("--ext", choices=("png", "jpg", "webp"), default=None, help="default: the input's (png otherwise)")
    p.add_argument("--suffix", default="", help="appended to the output file stem")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs (default: skip them)")
    p.add_argument("--channels-last", action="store_true", help="channels_last memory format (faster with AMP on GPU)")
    p.add_argument("--arch", default=None, help="generator type for a bare state dict, e.g. rrdbnet")
    p.add_argument("--scale", type=cli.integer(min=1), default=None)
    p.add_argument("--num-feat", type=cli.integer(min=1), default=None)
    p.add_argument("--num-block", type=cli.integer(min=1), default=None)
    p.add_argument("--num-grow-ch", type=cli.integer(min=1), default=None)
    args = p.parse_args(argv)
    if any(sep in args.suffix for sep in ("/", "\\")):
        p.error(f"argument --suffix: '{args.suffix}' would write outside -o (no '/' or '\\')")
    return args


def resolve_device(name: str) -> str:
    import torch
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SRGanError(f"--device {name}: CUDA is not available on this machine")
    return name


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from sr_gan.errors import ImageError
    from sr_gan.inference import arch_from_flags, load_generator, upscale_image
    from sr_gan.utils.image_io import read_image, write_image

    inputs = collect_inputs(args.input)
    outdir = Path(args.output)
    jobs = [(src, output_path(src, outdir, args.ext, args.suffix)) for src in inputs]
    resolved_inputs = {src.resolve() for src in inputs}
    for src, dst in jobs:
        if dst.resolve() in resolved_inputs:
            raise SRGanError(f"{dst}: output would overwrite an input image; choose another -o or --suffix")
    if len({dst for _, dst in jobs}) != len(jobs):
        raise SRGanError(f"-i {args.input}: several inputs map to the same output name (use --ext or distinct stems)")
    device = resolve_device(args.device)
    arch = arch_from_flags(args.arch, args.scale, args.num_feat, args.num_block, args.num_grow_ch)
    net, scale, info = load_generator(args.model, arch, device)
    print(f"model: {info}", file=sys.stderr)
    outdir.mkdir(parents=True, exist_ok=True)
    failed = skipped = done = 0
    for src, dst in tqdm(jobs, desc="upscale", unit="img", disable=None):
        if dst.exists() and not args.overwrite:
            skipped += 1
            continue
        try:
            img, img_info = read_image(src)
        except ImageError as e:
            tqdm.write(f"skipped: {e}", file=sys.stderr)
            failed += 1
            continue
        out = upscale_image(net, img, img_info, scale, outscale=args.outscale, tile=args.tile,
                            tile_pad=args.tile_pad, precision=args.precision, channels_last=args.channels_last)
        bits = 16 if img_info.bits == 16 and dst.suffix == ".png" else 8
        write_image(dst, out, bits=bits)
        done += 1
    print(f"{done} written, {skipped} skipped (exist; --overwrite to replace), {failed} failed -> {outdir}",
          file=sys.stderr)
    return 1 if failed else 0


def main(argv=None) -> int:
    return run_cli(lambda: run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
