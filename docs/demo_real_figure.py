#!/usr/bin/env python
"""The README's demo_real figure: LR (nearest-upscaled) | bicubic | sr_gan | HR, the same crop of one held-out
photo, whose LR is the degraded validation input of the run (datasets.val.degrade, fixed seed).

    python docs/demo_real_figure.py [--exp experiments/demo_real] [--image chelsea] [--box 14,10,40]
        [--out docs/demo_real_side_by_side.png]

--box is top,left,side in LR pixels; tiles are side * scale wide.
"""
import argparse
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "scripts")]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exp", default="experiments/demo_real")
    p.add_argument("--image", default="chelsea", help="stem of a validation image")
    p.add_argument("--box", default="14,10,40", help="top,left,side of the crop in LR pixels")
    p.add_argument("--out", default="docs/demo_real_side_by_side.png")
    args = p.parse_args(argv)
    import torch
    from degrade import labelled
    from sr_gan import options
    from sr_gan.data.bicubic import imresize
    from sr_gan.registry import MODELS
    from sr_gan.train import build_val_sets
    from sr_gan.utils import checkpoint as ckpt
    from sr_gan.utils.image_io import tensor_to_img, write_image

    opt = options.load(os.path.join(args.exp, "options.yml"), check_paths=False)
    val = next(ds for name, ds in build_val_sets(opt).items())
    item = next(val[i] for i in range(len(val)) if val[i]["key"] == args.image)
    model = MODELS.get(opt["model"])(opt, torch.device("cpu"))
    model.load_state_dict(ckpt.load_checkpoint(ckpt.resolve_resume("latest", os.path.join(args.exp, "checkpoints"))))
    s = opt["scale"]
    lr, hr = tensor_to_img(item["lr"]), tensor_to_img(item["hr"])
    sr = tensor_to_img(model.test(item["lr"][None])[0])
    bic = np.clip(imresize(lr, s), 0, 1)
    top, left, side = (int(v) for v in args.box.split(","))
    hr_box = (slice(top * s, (top + side) * s), slice(left * s, (left + side) * s))
    tiles = [(np.repeat(np.repeat(lr[top:top + side, left:left + side], s, 0), s, 1), "LR (nearest)"),
             (bic[hr_box], "bicubic"), (sr[hr_box], "sr_gan demo_real"), (hr[hr_box], "HR")]
    to_u8 = lambda x: np.rint(np.clip(x, 0, 1) * 255).astype(np.uint8)  # noqa: E731
    row = np.concatenate([np.pad(labelled(to_u8(t), text), ((0, 0), (0, 2), (0, 0)), constant_values=48)
                          for t, text in tiles], axis=1)
    write_image(args.out, row)
    print(f"{args.out}: {row.shape[1]}x{row.shape[0]}, {os.path.getsize(args.out) // 1024} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
