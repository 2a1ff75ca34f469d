#!/usr/bin/env python
"""ESRGAN network interpolation between a PSNR-oriented and a GAN generator.

    python scripts/interpolate.py --psnr CKPT_A --gan CKPT_B --alphas 0,0.2,0.4,0.6,0.8,1 --out DIR \\
        [--hr DIR --scale 4 [--lr DIR]] [--ablation SWEEP_DIR]

theta = (1 - alpha) * theta_psnr + alpha * theta_gan for every floating tensor of the (EMA) generator.
Writes DIR/interp_alpha=<a>.pth (our checkpoint layout: test_sr.py and upscale.py read it). With --hr
(or --ablation, which supplies its validation sets) every interpolated model is evaluated like
scripts/test_sr.py does (DIR/interpolation.csv, .md); with --ablation they are added to that
sweep's results and perception-distortion plot as a labelled curve.
"""
import argparse
import os
import sys


def parse_alphas(text: str) -> list[float]:
    """'0,0.5,1' -> [0.0, 0.5, 1.0] (sorted, distinct), each in [0, 1]; an argparse type."""
    try:
        alphas = [float(a) for a in text.split(",") if a.strip()]
    except ValueError:
        alphas = []
    if not alphas or any(not 0.0 <= a <= 1.0 for a in alphas):
        raise argparse.ArgumentTypeError(f"'{text}': expected comma-separated numbers in [0, 1]")
    return sorted(set(alphas))


def main(argv=None) -> int:
    from sr_gan import cli
    p = cli.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--psnr", required=True, type=cli.existing_path, help="PSNR-oriented generator checkpoint (alpha = 0)")
    p.add_argument("--gan", required=True, type=cli.existing_path, help="GAN generator checkpoint (alpha = 1)")
    p.add_argument("--alphas", default=parse_alphas("0,0.2,0.4,0.6,0.8,1"), type=parse_alphas,
                   help="comma-separated interpolation weights in [0, 1]")
    p.add_argument("--out", required=True, type=cli.output_dir, help="folder for the interpolated checkpoints and results")
    p.add_argument("--hr", type=cli.existing_dir, help="HR folder to evaluate on")
    p.add_argument("--lr", type=cli.existing_dir, help="matching LR folder (default: MATLAB-bicubic downscaled HR)")
    p.add_argument("--scale", type=cli.integer(min=1), help="upscaling factor (default: the checkpoint's)")
    p.add_argument("--rgb", action="store_true", help="PSNR/SSIM on RGB instead of Y")
    p.add_argument("--ablation", type=cli.existing_dir, help="a scripts/ablate.py folder to add the interpolation curve to")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    from sr_gan.errors import SRGanError
    try:
        args = p.parse_args(argv)
        from sr_gan.utils.image_io import list_images
        if args.hr and not list_images(args.hr)[0]:      # found before any checkpoint is written
            p.error(f"argument --hr: no images in '{args.hr}'")
    except SRGanError as e:
        return cli.report(e)

    from sr_gan.ablation import interpolation, report
    from sr_gan.ablation.evaluate import METRICS, eval_device, evaluate
    try:
        alphas = args.alphas
        psnr_sd, psnr_raw = interpolation.load_ema_generator(args.psnr, "--psnr")
        gan_sd, gan_raw = interpolation.load_ema_generator(args.gan, "--gan")
        interpolation.check_compatible(psnr_sd, gan_sd)
        opt = interpolation.generator_options(gan_raw, psnr_raw, gan_sd)
        iteration = int(gan_raw.get("iter", 0)) if isinstance(gan_raw.get("iter", 0), int) else 0
        os.makedirs(args.out, exist_ok=True)
        models = []
        for a in alphas:
            sd = interpolation.interpolate(psnr_sd, gan_sd, a)
            path = os.path.join(args.out, f"interp_alpha={a:g}.pth")
            interpolation.save_interpolated(sd, opt, iteration, path)
            models.append({"name": f"interp_alpha={a:g}", "alpha": a, "checkpoint": os.path.abspath(path),
                           "iter": iteration})
            print(f"wrote {path}")

        manifest = None
        if args.ablation:
            manifest = report.read_json(os.path.join(args.ablation, report.MANIFEST))
            if manifest is None:
                raise SRGanError(f"--ablation {args.ablation}: no {report.MANIFEST} (not a scripts/ablate.py folder)")
        if manifest:      # the sweep's own validation sets, so the new points are comparable
            sets = manifest["val_sets"]
            if args.hr:
                print(f"note: --ablation given: evaluating on its validation sets, not --hr {args.hr}")
        elif args.hr:
            sets = {os.path.basename(os.path.normpath(args.hr)): {"hr": args.hr, "lr": args.lr}}
        else:
            return 0
        scale = args.scale or int(opt.get("scale") or opt["network_g"].get("scale"))
        y_channel = not args.rgb if not manifest else manifest["opt"]["val"]["y_channel"]
        device = eval_device({"device": args.device})
        for m in models:
            m["results"] = evaluate(m["checkpoint"], sets, scale, y_channel, METRICS, device)
            first = next(iter(m["results"].values()))["model"]
            print(f"alpha={m['alpha']:g}: " + " ".join(
                f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in first.items()))
        rows = [{"name": m["name"], "alpha": m["alpha"], "val_set": s, **{k: v for k, v in r["model"].items()},
                 "checkpoint": m["checkpoint"]} for m in models for s, r in m["results"].items()]
        report.write_csv(rows, os.path.join(args.out, "interpolation.csv"))
        with open(os.path.join(args.out, "interpolation.md"), "w", encoding="utf-8") as f:
            f.write("| alpha | set | " + " | ".join(METRICS) + " |\n|---:|---|" + "---:|" * len(METRICS) + "\n")
            for r in rows:
                f.write(f"| {r['alpha']:g} | {r['val_set']} | " + " | ".join(
                    f"{r[k]:.4f}" if isinstance(r[k], float) else str(r[k]) for k in METRICS) + " |\n")
        print(f"wrote {os.path.join(args.out, 'interpolation.csv')}")
        if manifest:
            report.write_json(os.path.join(args.ablation, report.INTERPOLATION),
                              {"psnr": os.path.abspath(args.psnr), "gan": os.path.abspath(args.gan), "models": models})
            report.build(args.ablation)
    except SRGanError as e:
        return cli.report(e)
    return 0


if __name__ == "__main__":
    sys.exit(main())
