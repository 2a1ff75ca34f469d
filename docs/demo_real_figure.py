#!/usr/bin/env python
"""The README's demo_real results: per held-out photo, PSNR/SSIM (Y, border 4, 8-bit, sr_gan.scoring -- the
numbers training validation prints) of the model and of bicubic on the degraded validation LR
(datasets.val.degrade, fixed seed), and the side-by-side figure LR (nearest) | bicubic | sr_gan | HR of
one crop.

    python docs/demo_real_figure.py [--exp experiments/demo_real] [--image astronaut] [--box 10,20,40]
        [--out docs/demo_real_side_by_side.png]

--box is top,left,side in LR pixels; tiles are side * scale wide.
"""
import argparse
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exp", default="experiments/demo_real")
    p.add_argument("--image", default="astronaut", help="stem of a validation image")
    p.add_argument("--box", default="10,20,40", help="top,left,side of the crop in LR pixels")
    p.add_argument("--out", default="docs/demo_real_side_by_side.png")
    args = p.parse_args(argv)
    from sr_gan import options
    from sr_gan.commands.degrade import labelled, to_u8
    from sr_gan.inference import load_generator
    from sr_gan.scoring import bicubic_baseline, build_scorers, mean_scores, score_image, super_resolve
    from sr_gan.train import build_val_sets
    from sr_gan.utils import checkpoint as ckpt
    from sr_gan.utils.image_io import tensor_to_img, write_image

    opt = options.load(os.path.join(args.exp, "options.yml"), check_paths=False)
    s = opt["scale"]
    net, _, info = load_generator(ckpt.resolve_checkpoint(os.path.join(args.exp, "checkpoints")))
    scorers, _ = build_scorers(["psnr", "ssim"], crop_border=s, y_channel=True, device="cpu")
    for name, val in build_val_sets(opt).items():
        rows = {"model": [], "bicubic": []}
        print(f"set {name} ({info}):\n| image | PSNR model | PSNR bicubic | SSIM model | SSIM bicubic |\n|---|---|---|---|---|")
        for i in range(len(val)):
            item = val[i]
            lr, hr = tensor_to_img(item["lr"]), tensor_to_img(item["hr"])
            sr, bic = super_resolve(net, lr, s), bicubic_baseline(lr, s)
            m, b = score_image(scorers, sr, hr), score_image(scorers, bic, hr)
            rows["model"].append(m)
            rows["bicubic"].append(b)
            print(f"| {item['key']} | {m['psnr']:.2f} | {b['psnr']:.2f} | {m['ssim']:.4f} | {b['ssim']:.4f} |")
            if item["key"] != args.image:
                continue
            top, left, side = (int(v) for v in args.box.split(","))
            box = (slice(top * s, (top + side) * s), slice(left * s, (left + side) * s))
            tiles = [(np.repeat(np.repeat(lr[top:top + side, left:left + side], s, 0), s, 1), "LR (nearest)"),
                     (bic[box], "bicubic"), (sr[box], "sr_gan demo_real"), (hr[box], "HR")]
            row = np.concatenate([np.pad(labelled(to_u8(t), text), ((0, 0), (0, 2), (0, 0)), constant_values=48)
                                  for t, text in tiles], axis=1)
            write_image(args.out, row)
            print(f"{args.out}: {row.shape[1]}x{row.shape[0]}", file=sys.stderr)
        mm, mb = mean_scores(rows["model"], ["psnr", "ssim"]), mean_scores(rows["bicubic"], ["psnr", "ssim"])
        print(f"| mean | {mm['psnr']:.2f} | {mb['psnr']:.2f} | {mm['ssim']:.4f} | {mb['ssim']:.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
