"""(LR, HR) pairs from an HR folder and either an LR folder or on-the-fly MATLAB-bicubic downscaling.

The whole folder is decoded once at construction, so a corrupt, truncated or mismatched file is
reported (all of them, by name, in one error) before training starts rather than hours into it.
"""
from __future__ import annotations

import operator
import os
import re
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from sr_gan.data.augment import augment, mod_crop, paired_random_crop, random_crop
from sr_gan.data.bicubic import imresize
from sr_gan.errors import DataError, ImageError
from sr_gan.registry import DATASETS
from sr_gan.utils.image_io import (REASON_CORRUPT, REASON_EMPTY, REASON_NOT_IMAGE, img_to_tensor,
                                   list_images, raw_to_float, read_image_raw, to_rgb)

CACHE_PIXEL_BUDGET = 200_000_000   # auto-cache below this many decoded pixels (HR + LR)
_SHORT_REASON = {REASON_EMPTY: "empty file", REASON_NOT_IMAGE: "not an image",
                 REASON_CORRUPT: "truncated or corrupt"}


def _names(items: list[str], limit: int = 5) -> str:
    more = f", ... ({len(items) - limit} more)" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def lr_stem_to_hr(lr_stem: str, hr_stems, scale: int) -> str | None:
    """The HR stem an LR file belongs to: same stem, or the stem less a trailing 'x4' / '_x4'."""
    if lr_stem in hr_stems:
        return lr_stem
    m = re.fullmatch(rf"(.+?)[_-]?x{scale}", lr_stem, flags=re.IGNORECASE)
    return m.group(1) if m and m.group(1) in hr_stems else None


def decode_folder(paths: list[Path], keep: bool | None) -> tuple[dict, dict, dict | None]:
    """Decode every file once (threads: OpenCV releases the GIL).

    Returns (shapes {path: (h, w)}, errors {path: short reason}, cache {path: raw uint array} or None).
    keep=None keeps the arrays only while the total stays under ``CACHE_PIXEL_BUDGET``.
    """
    shapes, errors, cache, total = {}, {}, ({} if keep is not False else None), 0

    def load(p):
        try:
            return read_image_raw(p)[0]
        except ImageError as e:
            return e

    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        for path, result in zip(paths, pool.map(load, paths)):
            if isinstance(result, ImageError):
                errors[path] = _SHORT_REASON.get(result.reason, result.reason)
                continue
            shapes[path] = result.shape[:2]
            total += result.shape[0] * result.shape[1]
            if cache is not None:
                if keep is None and total > CACHE_PIXEL_BUDGET:
                    cache = None
                else:
                    cache[path] = result
    return shapes, errors, cache


@DATASETS.register("paired")
class PairedDataset(torch.utils.data.Dataset):
    """HR folder + optional LR folder (matched by stem) -> {'lr', 'hr': CHW float32, 'key': stem}.

    Without ``lr`` the LR is ``imresize(hr_patch, 1/scale)`` (MATLAB bicubic, clipped to [0, 1]).
    ``crop``: HR patch size (train); None -> whole images, HR mod-cropped to a multiple of ``scale``
    (an LR file must be HR_modcropped / scale, the usual benchmark convention).
    Keys: ``(index, sample_seed)`` -> random crop + flips drawn from ``default_rng(sample_seed)``
    only; a plain int -> deterministic (centre crop if ``crop``), no augmentation.
    Gray images are replicated to RGB, the alpha channel of RGBA is dropped, 16-bit stays 16-bit.
    ``cache``: keep decoded (uint8/uint16) images in RAM; None = auto (below ~200 MP).
    ``max_images``: use a random subset (drawn with ``seed``) of that many pairs.
    Bad files raise one ``DataError`` listing them, or with ``skip_bad`` are dropped with a warning
    and listed in ``bad_files``.
    """

    def __init__(self, hr: str, lr: str | None = None, scale: int = 4, crop: int | None = None,
                 flip: bool = True, rot: bool = True, phase: str = "train", skip_bad: bool = False,
                 cache: bool | None = None, max_images: int | None = None, seed: int = 0):
        self.scale, self.crop, self.flip, self.rot = int(scale), crop, flip, rot
        self.hr_key, self.lr_key = f"datasets.{phase}.hr", f"datasets.{phase}.lr"
        self.crop_key = f"datasets.{phase}.crop"
        if crop is not None and (crop <= 0 or crop % self.scale):
            raise DataError(f"{self.crop_key}: {crop} must be a positive multiple of scale {self.scale}")
        self.bad_files: list[str] = []
        problems: list[tuple[str, str, list[str], list[Path]]] = []   # (key, label, entries, files)

        hr_paths = self._list(hr, self.hr_key, problems)
        hr_by_stem: dict[str, Path] = {}
        for p in hr_paths:
            if p.stem in hr_by_stem:
                problems.append((self.hr_key, "duplicate names", [f"{p.name} (same stem as "
                                 f"{hr_by_stem[p.stem].name})"], [p]))
            else:
                hr_by_stem[p.stem] = p
        lr_by_stem: dict[str, Path] = {}
        if lr is not None:
            lr_paths = self._list(lr, self.lr_key, problems)
            orphans = []
            for p in lr_paths:
                stem = lr_stem_to_hr(p.stem, hr_by_stem, self.scale)
                if stem is None or stem in lr_by_stem:
                    orphans.append(p)
                else:
                    lr_by_stem[stem] = p
            if orphans:
                problems.append((self.lr_key, "LR images without HR", [p.name for p in orphans], orphans))
            missing = [hr_by_stem[s] for s in hr_by_stem if s not in lr_by_stem]
            if missing:
                problems.append((self.lr_key, "HR images without LR", [p.name for p in missing], missing))
                for p in missing:
                    del hr_by_stem[p.stem]

        stems = sorted(hr_by_stem)
        if max_images is not None and max_images < len(stems):
            pick = np.random.default_rng(seed).choice(len(stems), size=max_images, replace=False)
            stems = [stems[i] for i in sorted(pick)]
        to_decode = [hr_by_stem[s] for s in stems] + [lr_by_stem[s] for s in stems if s in lr_by_stem]
        shapes, errors, self._cache = decode_folder(to_decode, cache)
        for key, paths in ((self.hr_key, [hr_by_stem[s] for s in stems]),
                           (self.lr_key, [lr_by_stem[s] for s in stems if s in lr_by_stem])):
            bad = [p for p in paths if p in errors]
            if bad:
                problems.append((key, "unreadable images", [f"{p.name} ({errors[p]})" for p in bad], bad))

        self.items: list[tuple[str, Path, Path | None]] = []
        mismatched, small = [], []
        for s in stems:
            hr_p, lr_p = hr_by_stem[s], lr_by_stem.get(s)
            if hr_p in errors or (lr_p is not None and lr_p in errors):
                continue
            h, w = shapes[hr_p]
            h, w = h - h % self.scale, w - w % self.scale
            if lr_p is not None and shapes[lr_p] != (h // self.scale, w // self.scale):
                lh, lw = shapes[lr_p]
                mismatched.append((f"{lr_p.name} is {lw}x{lh} but HR {hr_p.name} is {shapes[hr_p][1]}x"
                                   f"{shapes[hr_p][0]} (expected {w // self.scale}x{h // self.scale})", lr_p))
                continue
            if crop is not None and (h < crop or w < crop):
                small.append((f"{hr_p.name} ({shapes[hr_p][1]}x{shapes[hr_p][0]} < {crop})", hr_p))
                continue
            self.items.append((s, hr_p, lr_p))
        if mismatched:
            problems.append((self.lr_key, f"LR/HR size mismatches (scale {self.scale})",
                             [m for m, _ in mismatched], [p for _, p in mismatched]))
        if small:
            problems.append((self.crop_key, f"images smaller than the crop {crop}",
                             [m for m, _ in small], [p for _, p in small]))
        self._report(problems, skip_bad, hr)

    def _list(self, folder, key, problems) -> list[Path]:
        path = Path(folder)
        if not path.is_dir():
            raise DataError(f"{key}: folder '{folder}' does not exist")
        images, others = list_images(path)
        if not images:
            raise DataError(f"{key}: no images in '{folder}'")
        if others:
            problems.append((key, "unreadable images", [f"{p.name} (not an image)" for p in others], others))
        return images

    def _report(self, problems, skip_bad: bool, hr_folder) -> None:
        if not problems:
            return
        grouped: dict[tuple[str, str], list[str]] = {}
        for key, label, entries, _ in problems:
            grouped.setdefault((key, label), []).extend(entries)
        message = "; ".join(f"{key}: {len(entries)} {label}: {_names(sorted(entries))}"
                            for (key, label), entries in grouped.items())
        if not skip_bad:
            raise DataError(message)
        self.bad_files = [str(p) for *_, files in problems for p in files]
        warnings.warn(f"skipping {len(self.bad_files)} bad files: {message}", stacklevel=3)
        if not self.items:
            raise DataError(f"{self.hr_key}: no usable images in '{hr_folder}' "
                            f"({len(self.bad_files)} bad files skipped)")

    def __len__(self) -> int:
        return len(self.items)

    def _load(self, path: Path) -> np.ndarray:
        raw = self._cache[path] if self._cache is not None else read_image_raw(path)[0]
        return to_rgb(raw)

    def __getitem__(self, key) -> dict:
        if isinstance(key, tuple):
            index, sample_seed = key
            rng = np.random.default_rng(sample_seed)
        else:
            index, rng = key, None
        stem, hr_path, lr_path = self.items[operator.index(index)]
        s, crop = self.scale, self.crop
        hr = mod_crop(self._load(hr_path), s)
        lr = self._load(lr_path) if lr_path is not None else None
        if crop is not None:
            if rng is not None and lr is not None:
                hr, lr = paired_random_crop(hr, lr, crop, s, rng, key=str(lr_path))
            elif rng is not None:
                hr = random_crop(hr, crop, rng, key=str(hr_path))
            else:   # deterministic centre crop, on the LR grid so a paired LR stays aligned
                top = (hr.shape[0] // s - crop // s) // 2 * s
                left = (hr.shape[1] // s - crop // s) // 2 * s
                hr = hr[top:top + crop, left:left + crop]
                if lr is not None:
                    lr = lr[top // s:(top + crop) // s, left // s:(left + crop) // s]
        hr = raw_to_float(hr)
        lr = raw_to_float(lr) if lr is not None else np.clip(imresize(hr, 1 / s), 0.0, 1.0)
        if rng is not None:
            hr, lr = augment([hr, lr], self.flip, self.rot, rng)
        return {"lr": img_to_tensor(lr), "hr": img_to_tensor(hr), "key": stem}
