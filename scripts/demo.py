#!/usr/bin/env python
"""`make demo`: the ESRGAN recipe on scikit-image photos, sized for a 2-core CPU.

Stage 1 trains the PSNR model (options/demo.yml) and prints validation PSNR/SSIM next to bicubic.
Stage 2 (when options/demo_esrgan.yml exists) fine-tunes it with perceptual + GAN losses, then the GAN
generator upscales one held-out demo image into its experiment folder.
"""
import os
import subprocess
import sys
import time

import _checkout  # noqa: F401  (this checkout's sr_gan: see scripts/_checkout.py)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def stage(opt_file: str, extra: list[str]) -> dict:
    from sr_gan import options
    from sr_gan.train import run
    opt = options.load(opt_file, extra)
    t0 = time.time()
    results = run(opt)
    print(f"\n{opt['name']}: trained {opt['train']['total_iter']} iterations in {(time.time() - t0) / 60:.1f} min")
    for name, r in results.items():
        print(f"  validation set '{name}' (Y channel, border {opt['val']['crop_border']}):")
        for m, v in r["model"].items():
            b = r["bicubic"].get(m)
            if isinstance(v, float) and isinstance(b, float):
                print(f"    {m:6s} model {v:8.4f}   bicubic {b:8.4f}   difference {v - b:+.4f}")
            else:
                print(f"    {m:6s} {v}")
    return results


def main() -> int:
    from sr_gan.cli import ArgumentParser
    p = ArgumentParser(description=__doc__)
    p.add_argument("--psnr-only", action="store_true", help="stop after the PSNR stage")
    p.add_argument("overrides", nargs="*", help="overrides applied to the PSNR stage")
    from sr_gan.cli import run_cli

    def body():
        args = p.parse_args()
        os.chdir(ROOT)
        return demo(args)
    return run_cli(body)


def vgg19_cached() -> bool:
    from sr_gan import weights
    return weights.available("vgg19")


def demo(args) -> int:
    t0 = time.time()
    psnr = stage("options/demo.yml", args.overrides)
    gan_opt = "options/demo_esrgan.yml"
    if args.psnr_only:
        return 0
    if vgg19_cached():
        gan_over = ["train.losses.perceptual.pretrained=true"]
    else:
        gan_over = []
        print("\nnote: VGG19 ImageNet weights are not in torch's hub cache, so the GAN stage uses a random VGG19 "
              "for its perceptual loss (see README, 'Pretrained weights')")
    stage(gan_opt, gan_over)
    src = sorted(os.listdir("datasets/demo/val/HR"))[0]
    out, lr_dir = "experiments/demo_esrgan/upscaled", "experiments/demo_esrgan/demo_input"
    from sr_gan.data.bicubic import imresize
    from sr_gan.utils.image_io import read_image, write_image
    img, _ = read_image(os.path.join("datasets/demo/val/HR", src))
    write_image(os.path.join(lr_dir, src), imresize(img, 1 / 4))
    subprocess.run([sys.executable, "scripts/upscale.py", "-i", os.path.join(lr_dir, src), "-o", out,
                    "--model", "experiments/demo_esrgan/checkpoints/latest", "--overwrite"], check=True)
    print(f"\nupscaled held-out photo: {os.path.join(out, src)} (x4 from {os.path.join(lr_dir, src)})")
    r = psnr["val"]
    print(f"PSNR model on the held-out photos: {r['model']['psnr']:.2f} dB vs bicubic {r['bicubic']['psnr']:.2f} dB "
          f"({r['model']['psnr'] - r['bicubic']['psnr']:+.2f} dB); demo took {(time.time() - t0) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
