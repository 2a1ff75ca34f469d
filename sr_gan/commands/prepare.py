"""Dataset preparation CLI: a tiny demo set, standard layouts, checks, sub-image extraction, LR making.

    python datasets/prepare.py demo [--out datasets/demo]
    python datasets/prepare.py layout
    python datasets/prepare.py check DIV2K --root datasets/DIV2K
    python datasets/prepare.py extract --input DIR --output DIR --crop 480 --step 240 --thresh-size 0
    python datasets/prepare.py lr --hr DIR --out DIR --scale 4
    python datasets/prepare.py lmdb --input DIR --output DIR.lmdb [--compress 1] [--overwrite]

The command functions hold the logic (tests call them); ``main`` only parses arguments.
Nothing is downloaded: ``layout`` prints where the official archives are.
"""
from __future__ import annotations

import argparse
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from sr_gan.cli import run_cli
from sr_gan.data.augment import mod_crop
from sr_gan.data.bicubic import imresize
from sr_gan.data.lmdb_store import write_lmdb
from sr_gan.data.paired import lr_stem_to_hr
from sr_gan.data.scan import scan
from sr_gan.data.sources import FolderSource
from sr_gan.errors import SRGanError
from sr_gan.utils.image_io import list_images, raw_to_float, read_image_raw, write_image

# scikit-image's bundled colour photographs (gray, binary and synthetic ones left out).
# Split by photo: the validation photos never appear in training, not even as patches.
DEMO_VAL = ("astronaut", "coffee", "chelsea")   # portrait, still life, animal fur
DEMO_TRAIN = ("rocket", "motorcycle_left", "motorcycle_right", "ihc", "retina", "hubble_deep_field")
DEMO_VAL_MAX = 256    # validation photos are centre-cropped to at most 256x256 (quick CPU validation)

# name -> list of (HR subfolder, expected count, {scale: LR subfolder}); LR folders are optional.
LAYOUTS = {
    "DIV2K": [("DIV2K_train_HR", 800, {s: f"DIV2K_train_LR_bicubic/X{s}" for s in (2, 3, 4)}),
              ("DIV2K_valid_HR", 100, {s: f"DIV2K_valid_LR_bicubic/X{s}" for s in (2, 3, 4)})],
    "Flickr2K": [("Flickr2K_HR", 2650, {s: f"Flickr2K_LR_bicubic/X{s}" for s in (2, 3, 4)})],
    **{name: [("HR", n, {s: f"LR_bicubic/X{s}" for s in (2, 3, 4)})]
       for name, n in (("Set5", 5), ("Set14", 14), ("BSD100", 100), ("Urban100", 100))},
}
SOURCES = {
    "DIV2K": "https://data.vision.ee.ethz.ch/cvl/DIV2K/ (DIV2K_train_HR.zip, DIV2K_valid_HR.zip, "
             "DIV2K_{train,valid}_LR_bicubic_X{2,3,4}.zip)",
    "Flickr2K": "https://cv.snu.ac.kr/research/EDSR/Flickr2K.tar",
    "benchmarks": "https://cv.snu.ac.kr/research/EDSR/benchmark.tar (Set5, Set14, B100 -> rename to "
                  "BSD100, Urban100; already in HR/ + LR_bicubic/X{2,3,4}/ with names like babyx4.png)",
}


def _demo_sources() -> dict[str, Path]:
    import skimage.data
    folder = Path(skimage.data.__file__).parent
    found = {p.stem: p for p in folder.iterdir() if p.suffix in (".png", ".jpg")}
    missing = [n for n in DEMO_VAL + DEMO_TRAIN if n not in found]
    if missing:
        raise SRGanError(f"scikit-image data folder {folder}: missing bundled images {', '.join(missing)}")
    return {n: found[n] for n in DEMO_VAL + DEMO_TRAIN}


def _center_crop(img: np.ndarray, size: int, multiple: int) -> np.ndarray:
    h, w = img.shape[:2]
    th, tw = min(h, size) // multiple * multiple, min(w, size) // multiple * multiple
    top, left = (h - th) // 2, (w - tw) // 2
    return img[top:top + th, left:left + tw]


def make_demo(out: Path) -> list[Path]:
    """Write <out>/train/HR (6 photos) and <out>/val/HR (3 held-out photos); returns the new files."""
    sources, written = _demo_sources(), []
    for split, names in (("train", DEMO_TRAIN), ("val", DEMO_VAL)):
        for name in names:
            target = out / split / "HR" / f"{name}.png"
            if target.exists():
                continue
            img, _ = read_image_raw(sources[name])
            if img.shape[2] == 4:
                img = img[:, :, :3]
            if split == "val":
                img = _center_crop(img, DEMO_VAL_MAX, 4)
            write_image(target, np.ascontiguousarray(img))
            written.append(target)
    return written


def print_layout() -> None:
    print("Expected layout (root = datasets/<NAME>); LR folders are optional, made with 'prepare.py lr':")
    for name, parts in LAYOUTS.items():
        print(f"\n{name}/")
        for hr, count, lrs in parts:
            print(f"  {hr}/  {count} PNG images")
            for scale, lr in lrs.items():
                print(f"  {lr}/  {count} images, 1/{scale} MATLAB bicubic (e.g. 0001x{scale}.png)")
    print("\nDownloads (not fetched by this tool):")
    for name, url in SOURCES.items():
        print(f"  {name}: {url}")


def _decode_all(folder: Path, images: list[Path]) -> tuple[dict, dict]:
    """({path: (h, w)}, {path: reason}) from decoding every image (a full scan, no cache)."""
    result = scan(FolderSource(folder, str(folder)), [p.name for p in images], "full", {})
    shapes, errors = {}, {}
    for p in images:
        rec = result.record(p.name)
        if rec.error:
            errors[p] = rec.error
        else:
            shapes[p] = (rec.h, rec.w)
    return shapes, errors


def check_dataset(name: str, root: Path) -> list[tuple[bool, str]]:
    """(ok, message) per check: folder present, image count, every image decodes, LR/HR sizes agree."""
    layout = {k.lower(): v for k, v in LAYOUTS.items()}.get(name.lower())
    if layout is None:
        return [(False, f"unknown dataset '{name}'; known: {', '.join(LAYOUTS)}")]
    results = []
    for hr_sub, count, lr_subs in layout:
        hr_dir = root / hr_sub
        if not hr_dir.is_dir():
            results.append((False, f"{hr_dir}: folder missing"))
            continue
        images, others = list_images(hr_dir)
        results.append((len(images) == count and not others,
                        f"{hr_dir}: {len(images)} images (expected {count})"
                        + (f", {len(others)} non-image files" if others else "")))
        shapes, errors = _decode_all(hr_dir, images)
        results.append((not errors, f"{hr_dir}: {len(shapes)} decode"
                        + (f", {len(errors)} unreadable: " + ", ".join(f"{p.name} ({r})" for p, r in
                                                                        list(errors.items())[:5]) if errors else "")))
        hr_by_stem = {p.stem: p for p in images}
        for scale, lr_sub in lr_subs.items():
            lr_dir = root / lr_sub
            if not lr_dir.is_dir():
                results.append((True, f"{lr_dir}: not present (optional, skipped)"))
                continue
            lr_images, _ = list_images(lr_dir)
            lr_shapes, lr_errors = _decode_all(lr_dir, lr_images)
            bad = [f"{p.name} ({r})" for p, r in lr_errors.items()]
            for p, (lh, lw) in lr_shapes.items():
                stem = lr_stem_to_hr(p.stem, hr_by_stem, scale)
                if stem is None:
                    bad.append(f"{p.name} (no HR)")
                elif hr_by_stem[stem] in shapes:
                    h, w = shapes[hr_by_stem[stem]]
                    if (lh, lw) != (h // scale, w // scale):
                        bad.append(f"{p.name} ({lw}x{lh}, HR {w}x{h})")
            ok = not bad and len(lr_images) == len(images)
            results.append((ok, f"{lr_dir}: {len(lr_images)} LR images x{scale}"
                            + (f", {len(bad)} bad: " + ", ".join(bad[:5]) if bad else ", sizes agree")))
    return results


def _extract_one(job) -> int:
    path, out, crop, step, thresh = job
    img, _ = read_image_raw(path)
    h, w = img.shape[:2]
    if h < crop or w < crop:
        return 0
    index = 0
    for top in _starts(h, crop, step, thresh):
        for left in _starts(w, crop, step, thresh):
            index += 1
            write_image(out / f"{path.stem}_s{index:03d}.png", img[top:top + crop, left:left + crop])
    return index


def _starts(length: int, crop: int, step: int, thresh: int) -> list[int]:
    """BasicSR: positions every ``step``; a leftover strip wider than ``thresh`` gets a border-aligned tile."""
    starts = list(range(0, length - crop + 1, step))
    if length - (starts[-1] + crop) > thresh:
        starts.append(length - crop)
    return starts


def extract_subimages(src: Path, dst: Path, crop: int, step: int, thresh: int, workers: int = 1) -> int:
    """Overlapping ``crop`` x ``crop`` tiles of every image in ``src`` (bit depth kept); returns the count."""
    from tqdm import tqdm
    images, _ = list_images(src)
    dst.mkdir(parents=True, exist_ok=True)
    jobs = [(p, dst, crop, step, thresh) for p in images]
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            counts = list(tqdm(pool.map(_extract_one, jobs), total=len(jobs), unit="img"))
    else:
        counts = [_extract_one(j) for j in tqdm(jobs, unit="img")]
    for p, n in zip(images, counts):
        if n == 0:
            print(f"  skipped {p.name}: smaller than {crop}x{crop}")
    return sum(counts)


def make_lr(hr_dir: Path, out: Path, scale: int) -> int:
    """MATLAB-bicubic LR '<stem>x<scale>.png' for every HR image (HR mod-cropped first, bits kept)."""
    from tqdm import tqdm
    images, _ = list_images(hr_dir)
    for p in tqdm(images, unit="img"):
        raw, info = read_image_raw(p)
        lr = imresize(raw_to_float(mod_crop(raw, scale)), 1 / scale)
        write_image(out / f"{p.stem}x{scale}.png", lr, bits=info.bits)
    return len(images)


def _dataset_name(text: str) -> str:
    """A LAYOUTS name, any capitalisation (argparse type for `check`)."""
    known = {k.lower(): k for k in LAYOUTS}
    if text.lower() not in known:
        raise argparse.ArgumentTypeError(f"unknown dataset '{text}'; known: {', '.join(LAYOUTS)}")
    return known[text.lower()]


def _image_folder(text: str) -> Path:
    """An input folder holding at least one image (argparse type): nothing to do is an error, not '0 written'."""
    from sr_gan import cli
    folder = Path(cli.existing_dir(text))
    if not list_images(folder)[0]:
        raise argparse.ArgumentTypeError(f"no images in '{text}'")
    return folder


def main(argv=None) -> int:
    from sr_gan import cli
    out_dir = lambda t: Path(cli.output_dir(t))   # noqa: E731
    out_dir.__name__ = "folder"
    ap = cli.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("demo", help="small train/val set from scikit-image's photos")
    d.add_argument("--out", type=out_dir, default=Path("datasets/demo"))
    sub.add_parser("layout", help="print expected folder layouts and download addresses")
    c = sub.add_parser("check", help="verify a downloaded dataset")
    c.add_argument("name", type=_dataset_name, help=", ".join(LAYOUTS))
    c.add_argument("--root", type=lambda t: Path(cli.existing_dir(t)), help="default: datasets/<name>")
    e = sub.add_parser("extract", help="overlapping sub-images from large HR images")
    e.add_argument("--input", type=_image_folder, required=True)
    e.add_argument("--output", type=out_dir, required=True)
    e.add_argument("--crop", type=cli.integer(min=1), default=480)
    e.add_argument("--step", type=cli.integer(min=1), default=240)
    e.add_argument("--thresh-size", type=cli.integer(min=0), default=0)
    e.add_argument("--workers", type=cli.integer(min=1), default=1)
    lr = sub.add_parser("lr", help="MATLAB-bicubic LR images for an HR folder")
    lr.add_argument("--hr", type=_image_folder, required=True)
    lr.add_argument("--out", type=out_dir, required=True)
    lr.add_argument("--scale", type=cli.integer(min=1), default=4)
    m = sub.add_parser("lmdb", help="pack an image folder into a BasicSR-layout LMDB (x.lmdb)")
    m.add_argument("--input", type=_image_folder, required=True)
    m.add_argument("--output", type=out_dir, required=True, help="new folder ending in .lmdb")
    m.add_argument("--compress", type=cli.integer(min=0, max=9), default=1, help="PNG compression level 0-9 (BasicSR: 1)")
    m.add_argument("--overwrite", action="store_true", help="replace an existing LMDB at --output")
    m.add_argument("--workers", type=cli.integer(min=1), default=4, help="encoding threads")
    return run_cli(lambda: run(ap.parse_args(argv)))


def run(args) -> int:
    if args.cmd == "demo":
        written = make_demo(args.out)
        if not written:
            print(f"demo dataset already there: {args.out} (train {len(DEMO_TRAIN)}, val {len(DEMO_VAL)})")
        for p in written:
            print(f"wrote {p}")
    elif args.cmd == "layout":
        print_layout()
    elif args.cmd == "check":
        results = check_dataset(args.name, args.root or Path("datasets") / args.name)
        for ok, msg in results:
            print(f"{'OK  ' if ok else 'FAIL'} {msg}")
        return 0 if results and all(ok for ok, _ in results) else 1
    elif args.cmd == "extract":
        n = extract_subimages(args.input, args.output, args.crop, args.step, args.thresh_size, args.workers)
        print(f"wrote {n} sub-images to {args.output}")
    elif args.cmd == "lr":
        n = make_lr(args.hr, args.out, args.scale)
        print(f"wrote {n} LR images (x{args.scale}) to {args.out}")
    elif args.cmd == "lmdb":
        n = write_lmdb(args.input, args.output, args.compress, args.overwrite, args.workers)
        print(f"wrote {n} images to {args.output} (BasicSR layout: data.mdb, meta_info.txt)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
