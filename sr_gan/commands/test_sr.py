"""Score super-resolution results the way papers report them (Y-channel PSNR/SSIM, LPIPS, NIQE, FID/IS).

    # run a model on a set, save its SR images, score them
    python scripts/test_sr.py --model CKPT --hr DIR [--lr DIR] --scale 4 --out DIR [--csv FILE]
        [--rgb] [--metrics psnr,ssim,lpips,niqe] [--fid] [--inception-weights PATH] [--tile N]
        [--lpips-net alex|vgg] [--lpips-backbone PATH] [--metric-arg TYPE.KEY=VALUE ...]
    # score existing SR images (matched to HR by stem; suffixes like _x4, _SR, _out allowed)
    python scripts/test_sr.py --sr DIR --hr DIR --scale 4 [--csv FILE]
    # several benchmark sets at once (missing sets are skipped with a note)
    python scripts/test_sr.py -opt options/test/benchmarks.yml --model CKPT [--csv FILE]

Prints a Markdown table per set: one row per image, the mean, and the MATLAB-bicubic mean.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sr_gan.cli import run_cli
from sr_gan.errors import SRGanError


def metric_arg(text: str) -> tuple[str, str, object]:
    """'lpips.net=vgg' -> ('lpips', 'net', 'vgg'); the value is read as YAML (numbers, booleans, null)."""
    from sr_gan.errors import OptionError
    from sr_gan.utils.yaml_io import DuplicateKeyError, load_text
    key, sep, raw = text.partition("=")
    metric, dot, name = key.strip().partition(".")
    if not (sep and dot and metric and name):
        raise argparse.ArgumentTypeError(f"'{text}': expected TYPE.KEY=VALUE, e.g. lpips.net=vgg")
    try:
        value = load_text(raw) if raw.strip() else None
    except DuplicateKeyError as e:
        raise argparse.ArgumentTypeError(f"'{text}': {e}") from None
    except OptionError:      # not YAML: the text itself
        value = raw
    return metric, name.strip(), value


def parse_args(argv=None) -> argparse.Namespace:
    from sr_gan import cli
    p = cli.ArgumentParser(description="Evaluate super-resolution results against HR images.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", type=cli.existing_path, help="generator checkpoint to run (any format load_generator reads)")
    src.add_argument("--sr", type=cli.existing_dir, help="folder of existing SR images to score")
    p.add_argument("-opt", "--opt", dest="opt", type=cli.existing_file,
                   help="benchmark list (options/test/benchmarks.yml); needs --model")
    p.add_argument("--hr", type=cli.existing_dir, help="folder of HR images")
    p.add_argument("--lr", type=cli.existing_dir, help="folder of LR images (default: MATLAB bicubic of the mod-cropped HR)")
    p.add_argument("--scale", type=cli.integer(min=1), default=None,
                   help="upscaling factor (default 4, or the option file's)")
    p.add_argument("--out", type=cli.output_dir, help="where --model writes its SR images (per set subfolders with -opt)")
    p.add_argument("--csv", type=cli.output_file,
                   help="write the table(s) as CSV (with -opt: one file per set, <stem>_<set>.csv)")
    p.add_argument("--rgb", action="store_true", help="PSNR/SSIM on RGB instead of the Y channel")
    p.add_argument("--metrics", default=None, help="comma-separated (default psnr,ssim,lpips,niqe)")
    from sr_gan.metrics.lpips_metric import BACKBONES
    p.add_argument("--lpips-net", choices=sorted(BACKBONES), default=None,
                   help="LPIPS trunk (default alex); same as --metric-arg lpips.net=NET")
    p.add_argument("--lpips-backbone", metavar="PATH", type=cli.existing_file, default=None,
                   help="torchvision alexnet/vgg16 .pth for LPIPS instead of the hub cache (lpips.backbone_path)")
    p.add_argument("--metric-arg", action="append", default=[], type=metric_arg, metavar="TYPE.KEY=VALUE",
                   help="an argument of one listed metric, as val.metrics takes it (repeatable), e.g. lpips.net=vgg")
    p.add_argument("--fid", action="store_true", help="also FID and IS over the set (needs Inception weights)")
    p.add_argument("--inception-weights", type=cli.existing_file, default=None, help="torchvision inception_v3 .pth")
    p.add_argument("--tile", type=cli.integer(min=0), default=None, help="tile size for --model (0: whole image)")
    p.add_argument("--tile-pad", type=cli.integer(min=0), default=10)
    p.add_argument("--precision", choices=("fp32", "fp16", "bf16"), default="fp32")
    p.add_argument("--device", type=cli.device, default="auto", help="auto|cpu|cuda")
    p.add_argument("--arch", default=None, help="generator type for a bare state dict (with --num-feat ...)")
    p.add_argument("--num-feat", type=cli.integer(min=1), default=None)
    p.add_argument("--num-block", type=cli.integer(min=1), default=None)
    p.add_argument("--num-grow-ch", type=cli.integer(min=1), default=None)
    args = p.parse_args(argv)
    if args.opt and not args.model:
        p.error("-opt runs a model over several sets: give --model")
    if not args.opt and not args.hr:
        p.error("--hr is required (or -opt with a benchmark list)")
    if args.hr and not args.opt:
        from sr_gan.utils.image_io import list_images
        if not list_images(args.hr)[0]:
            p.error(f"argument --hr: no images in '{args.hr}'")
    return args


def _print_report(title: str, report, csv_path: str | None) -> None:
    print(f"## {title}\n")
    print(report.to_markdown())
    print()
    if csv_path:
        report.to_csv(csv_path)


def _sets_from_option_file(args, scale: int) -> tuple[list, dict]:
    from sr_gan.evaluation import load_benchmarks
    opt = load_benchmarks(args.opt)
    found = []
    for name, entry in opt["sets"].items():
        hr = entry["hr"].format(scale=scale)
        lr = entry["lr"].format(scale=scale) if entry.get("lr") else None
        if not Path(hr).is_dir():
            print(f"note: {name}: HR folder {hr} missing, skipped", file=sys.stderr)
            continue
        if lr and not Path(lr).is_dir():
            print(f"note: {name}: LR folder {lr} missing, making LR by MATLAB bicubic", file=sys.stderr)
            lr = None
        found.append((name, hr, lr))
    if not found:
        raise SRGanError(f"{args.opt}: none of the {len(opt['sets'])} listed sets exist (see "
                         f"'python datasets/prepare.py layout')")
    return found, opt


def metric_specs(args, opt: dict) -> list:
    """--metrics (or the benchmark file's list) with --lpips-*/--metric-arg applied to the entries of their
    type, validated against the metric classes like `val.metrics` (one line naming the flag if wrong)."""
    from sr_gan.errors import OptionError
    from sr_gan.options import validate_metrics
    if args.metrics:
        specs: list = [m.strip() for m in args.metrics.split(",") if m.strip()]
    else:
        specs = list(opt.get("metrics") or ["psnr", "ssim", "lpips", "niqe"])
    extra = list(args.metric_arg)
    if args.lpips_net:
        extra.append(("lpips", "net", args.lpips_net))
    if args.lpips_backbone:
        extra.append(("lpips", "backbone_path", args.lpips_backbone))
    for metric, key, value in extra:
        hits = [i for i, s in enumerate(specs) if (s if isinstance(s, str) else s["type"]) == metric]
        if not hits:
            listed = ", ".join(s if isinstance(s, str) else s["type"] for s in specs)
            raise OptionError(f"--metric-arg {metric}.{key}: '{metric}' is not among the metrics ({listed})")
        for i in hits:
            specs[i] = {**({"type": specs[i]} if isinstance(specs[i], str) else specs[i]), key: value}
    return validate_metrics(specs, key="--metrics")


def run(args) -> int:
    import torch

    from sr_gan.evaluation import evaluate_folder
    from sr_gan.inference import arch_from_flags, load_generator

    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    opt: dict = {}
    scale = args.scale
    if args.opt:
        from sr_gan.evaluation import load_benchmarks
        scale = scale or load_benchmarks(args.opt).get("scale") or 4
        sets, opt = _sets_from_option_file(args, scale)
    else:
        scale = scale or 4
        sets = [(Path(args.hr).name, args.hr, args.lr)]
    common = dict(metrics=metric_specs(args, opt), y_channel=not (args.rgb or opt.get("rgb", False)),
                  device=device, fid=args.fid or opt.get("fid", False),
                  inception_weights=args.inception_weights or opt.get("inception_weights"))
    if args.model:
        arch = arch_from_flags(args.arch, args.scale, args.num_feat, args.num_block, args.num_grow_ch)
        net, net_scale, info = load_generator(args.model, arch, device)
        if net_scale != scale:
            raise SRGanError(f"{args.model}: the generator upscales x{net_scale}, but --scale is {scale}")
        print(f"model: {info}", file=sys.stderr)
        tile = args.tile if args.tile is not None else opt.get("tile", 0)
        out_root = args.out or opt.get("out")
        for name, hr, lr in sets:
            out_dir = (Path(out_root) / name if args.opt else Path(out_root)) if out_root else None
            report = evaluate_folder(net, hr, scale, lr_dir=lr, out_dir=out_dir, tile=tile,
                                     tile_pad=args.tile_pad, precision=args.precision, **common)
            csv_path = args.csv
            if csv_path and args.opt:
                base = Path(csv_path)
                csv_path = str(base.with_name(f"{base.stem}_{name}{base.suffix or '.csv'}"))
            _print_report(f"{name} x{scale}" + (f" (SR images in {out_dir})" if out_dir else ""), report, csv_path)
    else:
        report = evaluate_folder(args.sr, args.hr, scale, lr_dir=args.lr, **common)
        _print_report(f"{Path(args.sr).name} vs {Path(args.hr).name} x{scale}", report, args.csv)
    return 0


def main(argv=None) -> int:
    return run_cli(lambda: run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
