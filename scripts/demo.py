#!/usr/bin/env python
"""`make demo`: the ESRGAN recipe on scikit-image photos, sized for a 2-core CPU.

Stage 1 trains the PSNR model (options/demo.yml) and prints validation PSNR/SSIM next to bicubic.
Stage 2 fine-tunes it into a GAN. With VGG19's ImageNet weights in torch's hub cache it runs ESRGAN's
recipe (options/demo_esrgan.yml: L1 + VGG19 perceptual + relativistic GAN). Without them it says so in
one line and runs options/demo_esrgan_novgg.yml instead: a perceptual loss on random VGG19 features,
like every no-VGG19 loss mix tried that let the GAN term do much, paints a grid over the image (README,
"What the demo gives"). Both generators then upscale a held-out photo; the summary prints the grid-artefact
energy of each next to HR and bicubic, so a clean result is a number, not a claim.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import numpy as np

import _checkout  # noqa: F401  (this checkout's sr_gan: see scripts/_checkout.py)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PSNR_OPTIONS = "options/demo.yml"
GAN_OPTIONS = "options/demo_esrgan.yml"              # needs VGG19's ImageNet weights
GAN_OPTIONS_NO_VGG = "options/demo_esrgan_novgg.yml"
FETCH_VGG19 = "python -m sr_gan.weights fetch vgg19"
GRID_PERIODS = (2, 4)        # the x4 generator's two x2 pixel-shuffle steps: where GAN grids showed up
GRID_SIGMA = 4.0
SIDE_BY_SIDE_CROPS = ((0, 70), (192, 140))   # (top, left) of 64 x 64 crops: face and badge of the held-out photo


def stage(opt_file: str, extra: list[str]) -> tuple[dict, dict]:
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
    return opt, results


def loss_mix(opt: dict) -> str:
    """The generator's loss terms as the option file sets them, e.g. 'l1 1 (to hr_usm) + relativistic
    vanilla GAN 0.005' (what the notice and the summary print, read from the file so they stay true)."""
    t = opt["train"]
    parts = []
    for term in t["losses"]:
        if term["weight"] > 0:
            label = term["type"]
            if term["type"] == "perceptual":
                label = f"{'pretrained' if term.get('pretrained', True) else 'random'} VGG19 perceptual"
            to = f" (to {term['target']})" if term.get("target", "hr") != "hr" else ""
            parts.append(f"{label} {term['weight']:g}{to}")
    gan = t.get("gan") or {}
    if gan.get("weight", 0) > 0:
        parts.append(f"{'relativistic ' if gan.get('relativistic') else ''}{gan['type']} GAN {gan['weight']:g}")
    return " + ".join(parts)


def recipe(opt: dict) -> str:
    """loss_mix plus the two other settings the no-VGG file changes (discriminator, generator lr)."""
    return (f"{loss_mix(opt)}, {opt['network_d']['type']} discriminator, "
            f"generator lr {opt['train']['optim_g']['lr']:g}")


def gan_stage_options() -> tuple[str, str | None]:
    """The GAN stage's option file and, when VGG19's weights are missing, the one-line notice.
    Never touches the network: a 548 MB download is the user's call (FETCH_VGG19), not the demo's."""
    from sr_gan import options, weights
    if weights.available("vgg19"):
        return GAN_OPTIONS, None
    opt = options.load(os.path.join(ROOT, GAN_OPTIONS_NO_VGG), check_paths=False)
    return GAN_OPTIONS_NO_VGG, (
        f"note: VGG19 ImageNet weights not available (get them with `{FETCH_VGG19}`), so the GAN stage runs "
        f"{GAN_OPTIONS_NO_VGG}: {recipe(opt)}; no perceptual loss (a random VGG19 paints a grid over the image)")


def grid_energy(img: np.ndarray, period: int) -> float:
    """RMS of the period x period phase means of an image (their own mean removed): its spectral
    amplitude, sqrt(sum |FFT/N|^2), at the frequencies of a `period`-pixel grid (multiples of 1/period
    along both axes, DC excluded). A checkerboard or grid that repeats every 2, 4 or 8 output pixels
    (the x2 pixel-shuffle steps of a x4 generator) adds to it directly; content that does not repeat
    on that grid averages out."""
    h, w = img.shape[0] // period * period, img.shape[1] // period * period
    phases = img[:h, :w].reshape(h // period, period, w // period, period).mean(axis=(0, 2))
    return float(np.sqrt(((phases - phases.mean()) ** 2).mean()))


def grid_artefacts(img: np.ndarray, border: int, periods: tuple = GRID_PERIODS) -> dict[int, float]:
    """grid_energy per period of the image's Y channel (8-bit levels) after a high-pass: Y minus its
    Gaussian blur with sigma GRID_SIGMA = 4 px, which keeps every frequency of a 2-, 4- or 8-px grid (gain
    1 - exp(-2 pi^2 sigma^2 f^2) >= 0.993 at f >= 1/8) and removes smooth shading, which would
    otherwise leak into the phase means. No HR needed: any upscaled image can be measured."""
    import cv2

    from sr_gan.metrics.psnr_ssim import rgb_to_y
    y = rgb_to_y(img)
    high = y - cv2.GaussianBlur(y, (0, 0), GRID_SIGMA, borderType=cv2.BORDER_REFLECT_101)
    if border:
        high = high[border:-border, border:-border]
    return {p: grid_energy(high, p) for p in periods}


def upscale(model: str, lr_path: str, out_dir: str) -> str:
    subprocess.run([sys.executable, "scripts/upscale.py", "-i", lr_path, "-o", out_dir, "--model", model,
                    "--overwrite"], check=True)
    return os.path.join(out_dir, os.path.basename(lr_path))


def side_by_side(images: list[np.ndarray], crops: tuple, size: int, zoom: int, gap: int = 4) -> np.ndarray:
    """One row per (top, left) crop of size x size, the images side by side, each crop enlarged `zoom`
    times with nearest-neighbour (so single-pixel patterns stay visible), white gaps between them."""
    import cv2
    rows = []
    for top, left in crops:
        tiles = [cv2.resize(np.ascontiguousarray(img[top:top + size, left:left + size]), None, fx=zoom, fy=zoom,
                            interpolation=cv2.INTER_NEAREST) for img in images]
        row = tiles[0]
        for t in tiles[1:]:
            row = np.concatenate([row, np.ones((row.shape[0], gap, 3), row.dtype), t], axis=1)
        rows += [row, np.ones((gap, row.shape[1], 3), row.dtype)]
    return np.concatenate(rows[:-1], axis=0)


def main() -> int:
    from sr_gan.cli import ArgumentParser
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--psnr-only", action="store_true", help="stop after the PSNR stage")
    p.add_argument("overrides", nargs="*", help="overrides applied to the PSNR stage")
    from sr_gan.cli import run_cli

    def body():
        args = p.parse_args()
        os.chdir(ROOT)
        return demo(args)
    return run_cli(body)


def demo(args) -> int:
    from sr_gan.data.bicubic import imresize
    from sr_gan.metrics.psnr_ssim import calculate_psnr
    from sr_gan.train import experiment_path
    from sr_gan.utils.image_io import read_image, write_image

    t0 = time.time()
    psnr_opt, psnr = stage(PSNR_OPTIONS, args.overrides)
    if args.psnr_only:
        return 0
    gan_file, notice = gan_stage_options()
    if notice:
        print("\n" + notice, flush=True)
    gan_opt, gan = stage(gan_file, [])

    # the held-out photo, x4 by both generators, measured for grid artefacts next to HR and bicubic
    src = sorted(os.listdir("datasets/demo/val/HR"))[0]
    hr, _ = read_image(os.path.join("datasets/demo/val/HR", src))
    gan_dir, psnr_dir = experiment_path(gan_opt), experiment_path(psnr_opt)
    lr_path = os.path.join(gan_dir, "demo_input", src)
    write_image(lr_path, imresize(hr, 1 / 4))
    lr, _ = read_image(lr_path)       # the 8-bit LR the models read, for bicubic too
    psnr_out = upscale(os.path.join(psnr_dir, "checkpoints", "latest"), lr_path, os.path.join(psnr_dir, "upscaled"))
    gan_out = upscale(os.path.join(gan_dir, "checkpoints", "latest"), lr_path, os.path.join(gan_dir, "upscaled"))
    images = {"HR photo": hr, "bicubic": np.round(np.clip(imresize(lr, 4), 0, 1) * 255) / 255,
              "PSNR model": read_image(psnr_out)[0], "GAN model": read_image(gan_out)[0]}
    compare = os.path.join(gan_dir, "side_by_side.png")
    write_image(compare, side_by_side(list(images.values()), SIDE_BY_SIDE_CROPS, size=64, zoom=4))

    border = gan_opt["val"]["crop_border"]
    print(f"\nupscaled held-out photo: {gan_out} (x4 from {lr_path}); the PSNR model's: {psnr_out}")
    print(f"side by side (HR | bicubic | PSNR model | GAN model, crops x4): {compare}")
    print(f"GAN stage: {gan_file}: {recipe(gan_opt)}")
    print(f"{src}: grid-artefact energy at {' / '.join(map(str, GRID_PERIODS))} px (8-bit levels of Y detail that "
          f"repeats on that grid; a grid lifts it above the HR photo's own) and Y-PSNR, border {border}")
    for label, img in images.items():
        grid = grid_artefacts(img, border)
        quality = "" if label == "HR photo" else f"   {calculate_psnr(img, hr, border, True):.2f} dB"
        print(f"  {label:10s}  " + " / ".join(f"{grid[p]:.3f}" for p in GRID_PERIODS) + quality)
    r, g = psnr["val"], gan["val"]
    print(f"validation (3 held-out photos): PSNR model {r['model']['psnr']:.2f} dB vs bicubic "
          f"{r['bicubic']['psnr']:.2f} dB ({r['model']['psnr'] - r['bicubic']['psnr']:+.2f} dB); GAN model "
          f"{g['model']['psnr']:.2f} dB; demo took {(time.time() - t0) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
