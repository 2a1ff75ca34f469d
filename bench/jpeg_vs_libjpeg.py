"""sr_gan's tensor JPEG (sr_gan/degradations/jpeg.py) against libjpeg-turbo (cv2.imencode/imdecode).

For each quality, every photo of the set is compressed by both and the PSNR between the two decoded
images is reported (MSE pooled over all photos; "inf" = bit-identical), with the share of identical
pixel values and, for scale, the PSNR of libjpeg's output against the original. When BasicSR 1.4.2 is
importable (PYTHONPATH=/work/bsr; install: pip install --no-deps --no-build-isolation --target DIR
basicsr==1.4.2 addict yapf future), Real-ESRGAN's DiffJPEG is measured the same way.

    python bench/jpeg_vs_libjpeg.py            # prints a Markdown table; the numbers are deterministic
"""
from __future__ import annotations

import argparse
import os
import sys

import cv2
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from sr_gan.degradations.jpeg import jpeg  # noqa: E402


def photos() -> dict[str, np.ndarray]:
    from skimage import data
    return {"astronaut": data.astronaut(), "coffee": data.coffee(), "chelsea": data.chelsea(),
            "rocket": data.rocket(), "motorcycle": data.stereo_motorcycle()[0]}


def libjpeg(rgb8: np.ndarray, quality: int) -> np.ndarray:
    ok, enc = cv2.imencode(".jpg", np.ascontiguousarray(rgb8[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(enc, cv2.IMREAD_COLOR)[:, :, ::-1]


def to_uint8(x: torch.Tensor) -> np.ndarray:
    return (x[0].clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def diffjpeg():
    """BasicSR's DiffJPEG (non-differentiable mode, as RealESRGANModel uses it), or None."""
    try:
        import torchvision
        import torchvision.transforms.functional as tvf
        sys.modules.setdefault("torchvision.transforms.functional_tensor", tvf)
        del torchvision
        from basicsr.utils.diffjpeg import DiffJPEG
    except Exception:                                   # not installed: that column is left out
        return None
    return DiffJPEG(differentiable=False)


def psnr_from(sq_err: float, count: int) -> float:
    return float("inf") if sq_err == 0 else 10 * np.log10(255 ** 2 / (sq_err / count))


def parse_args(argv=None) -> argparse.Namespace:
    from sr_gan import cli
    ap = cli.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--qualities", type=cli.integer(min=1, max=100), nargs="+", default=[30, 50, 70, 95],
                    help="JPEG qualities, 1-100 (libjpeg's range)")
    return ap.parse_args(argv)


def main(argv=None) -> int:
    from sr_gan.cli import run_cli
    return run_cli(lambda: run(parse_args(argv)))


def run(args) -> int:
    imgs = photos()
    dj = diffjpeg()
    head = "| quality | PSNR sr_gan vs libjpeg (dB) | identical values | PSNR libjpeg vs original (dB) |"
    sep = "|---|---|---|---|"
    if dj is not None:
        head += " PSNR DiffJPEG vs libjpeg (dB) |"
        sep += "---|"
    print(f"photos: {', '.join(f'{k} {v.shape[1]}x{v.shape[0]}' for k, v in imgs.items())}")
    print(head)
    print(sep)
    for q in args.qualities:
        err = err_orig = err_dj = 0.0
        same = count = 0
        for img in imgs.values():
            ref = libjpeg(img, q).astype(np.float64)
            x = torch.from_numpy(img.copy()).permute(2, 0, 1)[None].float() / 255
            ours = to_uint8(jpeg(x, q)).astype(np.float64)
            err += float(((ours - ref) ** 2).sum())
            err_orig += float(((ref - img) ** 2).sum())
            same += int((ours == ref).sum())
            count += ref.size
            if dj is not None:
                with torch.no_grad():
                    d = to_uint8(dj(x, quality=torch.tensor([float(q)]))).astype(np.float64)
                err_dj += float(((d - ref) ** 2).sum())
        row = f"| {q} | {psnr_from(err, count):.2f} | {100 * same / count:.3f} % | {psnr_from(err_orig, count):.2f} |"
        if dj is not None:
            row += f" {psnr_from(err_dj, count):.2f} |"
        print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
