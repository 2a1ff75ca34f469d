"""(LR, HR) pairs from an HR folder or LMDB and either an LR folder/LMDB or on-the-fly MATLAB-bicubic
downscaling.

Images are checked when the dataset is built (``check``: decode all, headers only, or nothing; see
sr_gan/data/scan.py), so a corrupt, truncated or mismatched file is reported (all of them, by name, in one
error) before training starts rather than hours into it; what a shallower check lets through fails when
the sample is loaded, as one error naming the file (or, with ``skip_bad``, is skipped with a warning).
"""
from __future__ import annotations

import logging
import operator
import os
import re
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from sr_gan.data.augment import augment, mod_crop, paired_random_crop, random_crop
from sr_gan.data.bicubic import imresize
from sr_gan.scoring import benchmark_lr
from sr_gan.data.scan import cache_file, load_cache, resolve_check, save_cache, scan
from sr_gan.data.sources import open_source
from sr_gan.errors import DataError
from sr_gan.registry import DATASETS
from sr_gan.utils.image_io import img_to_tensor, raw_to_float, to_rgb

CACHE_PIXEL_BUDGET = 200_000_000   # auto-cache below this many decoded pixels (HR + LR)


def _names(items: list[str], limit: int = 5) -> str:
    more = f", ... ({len(items) - limit} more)" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def lr_stem_to_hr(lr_stem: str, hr_stems, scale: int) -> str | None:
    """The HR stem an LR file belongs to: same stem, or the stem less a trailing 'x4' / '_x4'."""
    if lr_stem in hr_stems:
        return lr_stem
    m = re.fullmatch(rf"(.+?)[_-]?x{scale}", lr_stem, flags=re.IGNORECASE)
    return m.group(1) if m and m.group(1) in hr_stems else None


def _stem(name: str) -> str:
    return os.path.splitext(name)[0]


@DATASETS.register("paired")
class PairedDataset(torch.utils.data.Dataset):
    """HR folder/LMDB + optional LR folder/LMDB (matched by stem) -> {'lr', 'hr': CHW float32, 'key': stem}.

    ``hr`` / ``lr``: a folder of images or a BasicSR ``*.lmdb`` folder (data.mdb + meta_info.txt).
    Without ``lr`` the LR is ``imresize(hr_patch, 1/scale)`` (MATLAB bicubic, clipped to [0, 1]; rounded to
    8 bits in a validation set, like released LR sets and scripts/test_sr.py).
    ``crop``: HR patch size (train); None -> whole images, HR mod-cropped to a multiple of ``scale``
    (an LR file must be HR_modcropped / scale, the usual benchmark convention).
    Keys: ``(index, sample_seed)`` -> random crop + flips drawn from ``default_rng(sample_seed)``
    only; a plain int -> deterministic (centre crop if ``crop``), no augmentation.
    Gray images are replicated to RGB, the alpha channel of RGBA is dropped, 16-bit stays 16-bit.
    ``check``: full | header | none; None = full up to 2,000 files, header above (sr_gan/data/scan.py).
    ``scan_cache``: folder of scan results to reuse (read here; :meth:`save_scan_cache` writes it).
    ``cache``: keep decoded (uint8/uint16) images in RAM; None = auto (below ~200 MP, sizes known);
    True decodes every image at start (so it implies a full check).
    ``max_images``: use a random subset (drawn with ``seed``) of that many pairs.
    ``hr_only`` (set by the training code, not a YAML key): items are {'hr', 'key'} -- the same crops and
    flips, no LR -- for a degradation pipeline that makes the LR on the training device (no CPU spent on
    a bicubic LR that would be thrown away).
    Bad files raise one ``DataError`` listing them, or with ``skip_bad`` are dropped with a warning
    and listed in ``bad_files``.
    """

    def __init__(self, hr: str, lr: str | None = None, scale: int = 4, crop: int | None = None,
                 flip: bool = True, rot: bool = True, phase: str = "train", skip_bad: bool = False,
                 cache: bool | None = None, max_images: int | None = None, check: str | None = None,
                 scan_cache: str | None = None, seed: int = 0, hr_only: bool = False):
        t0 = time.perf_counter()
        self.scale, self.crop, self.flip, self.rot, self.skip_bad = int(scale), crop, flip, rot, skip_bad
        self.hr_only = bool(hr_only)
        self.hr_key, self.lr_key = f"datasets.{phase}.hr", f"datasets.{phase}.lr"
        if self.hr_only and lr is not None:
            raise DataError(f"{self.lr_key}: not used when a degradation pipeline makes the LR from HR; remove it")
        self.crop_key = f"datasets.{phase}.crop"
        self.scored = phase != "train"
        if crop is not None and (crop <= 0 or crop % self.scale):
            raise DataError(f"{self.crop_key}: {crop} must be a positive multiple of scale {self.scale}")
        self.bad_files: list[str] = []
        self.scan_cache = scan_cache
        problems: list[tuple[str, str, list[str], list[str]]] = []   # (key, label, entries, bad labels)

        self.sources = {"hr": open_source(hr, self.hr_key)}
        if lr is not None:
            self.sources["lr"] = open_source(lr, self.lr_key)
        listed = {"hr": self._list("hr", hr, problems)}
        hr_by_stem: dict[str, str] = {}
        for n in listed["hr"]:
            if _stem(n) in hr_by_stem:
                problems.append((self.hr_key, "duplicate names", [f"{n} (same stem as {hr_by_stem[_stem(n)]})"],
                                 [self.sources["hr"].label(n)]))
            else:
                hr_by_stem[_stem(n)] = n
        lr_by_stem: dict[str, str] = {}
        if lr is not None:
            listed["lr"] = self._list("lr", lr, problems)
            orphans = []
            for n in listed["lr"]:
                stem = lr_stem_to_hr(_stem(n), hr_by_stem, self.scale)
                if stem is None or stem in lr_by_stem:
                    orphans.append(n)
                else:
                    lr_by_stem[stem] = n
            if orphans:
                problems.append((self.lr_key, "LR images without HR", orphans,
                                 [self.sources["lr"].label(n) for n in orphans]))
            missing = [hr_by_stem[s] for s in hr_by_stem if s not in lr_by_stem]
            if missing:
                problems.append((self.lr_key, "HR images without LR", missing,
                                 [self.sources["hr"].label(n) for n in missing]))
                for n in missing:
                    del hr_by_stem[_stem(n)]

        stems = sorted(hr_by_stem)
        if max_images is not None and max_images < len(stems):
            pick = np.random.default_rng(seed).choice(len(stems), size=max_images, replace=False)
            stems = [stems[i] for i in sorted(pick)]
        wanted = {"hr": [hr_by_stem[s] for s in stems]}
        if lr is not None:
            wanted["lr"] = [lr_by_stem[s] for s in stems]
        n_files = sum(len(v) for v in wanted.values())
        self.check, why = resolve_check(check, n_files, f"datasets.{phase}.check")
        if cache is True and self.check == "none":
            self.check, why = "full", "cache: true decodes every image at start"
        self._listed = listed
        self._scanned = self._scan(wanted, cache)
        records = {role: res.entries for role, res in self._scanned.items()}

        for role, key in (("hr", self.hr_key), ("lr", self.lr_key)):
            bad = [n for n in wanted.get(role, []) if role in records and records[role][n][1].error]
            if bad:
                src = self.sources[role]
                problems.append((key, "unreadable images", [f"{n} ({records[role][n][1].error})" for n in bad],
                                 [src.label(n) for n in bad]))

        self.items: list[tuple[str, str, str | None]] = []
        mismatched, small = [], []
        for s in stems:
            hr_n, lr_n = hr_by_stem[s], lr_by_stem.get(s)
            if self.check == "none":
                self.items.append((s, hr_n, lr_n))
                continue
            hr_r = records["hr"][hr_n][1]
            lr_r = records["lr"][lr_n][1] if lr_n is not None else None
            if hr_r.error or (lr_r is not None and lr_r.error):
                continue
            h, w = hr_r.h - hr_r.h % self.scale, hr_r.w - hr_r.w % self.scale
            if lr_r is not None and (lr_r.h, lr_r.w) != (h // self.scale, w // self.scale):
                mismatched.append((f"{lr_n} is {lr_r.w}x{lr_r.h} but HR {hr_n} is {hr_r.w}x{hr_r.h} "
                                   f"(expected {w // self.scale}x{h // self.scale})", self.sources["lr"].label(lr_n)))
                continue
            if crop is not None and (h < crop or w < crop):
                small.append((f"{hr_n} ({hr_r.w}x{hr_r.h} < {crop})", self.sources["hr"].label(hr_n)))
                continue
            self.items.append((s, hr_n, lr_n))
        if mismatched:
            problems.append((self.lr_key, f"LR/HR size mismatches (scale {self.scale})",
                             [m for m, _ in mismatched], [p for _, p in mismatched]))
        if small:
            problems.append((self.crop_key, f"images smaller than the crop {crop}",
                             [m for m, _ in small], [p for _, p in small]))
        if self._cache is not None:        # only what training reads stays in RAM
            used = {(r, n) for _, hr_n, lr_n in self.items for r, n in (("hr", hr_n), ("lr", lr_n)) if n}
            self._cache = {k: v for k, v in self._cache.items() if k in used}
        for src in self.sources.values():
            src.close()                    # LMDB: each reading process opens its own environment
        self.scan_summary = self._summary(phase, n_files, why, time.perf_counter() - t0)
        self._report(problems, skip_bad, hr)

    def _list(self, role: str, where: str, problems) -> list[str]:
        src = self.sources[role]
        key = self.hr_key if role == "hr" else self.lr_key
        images, others = src.list()
        if not images:
            raise DataError(f"{key}: no images in '{where}'")
        if others:
            problems.append((key, "unreadable images", [f"{n} (not an image)" for n in others],
                             [src.label(n) for n in others]))
        return images

    def _scan(self, wanted: dict, cache: bool | None) -> dict:
        """Check every wanted entry at ``self.check`` (reusing the scan cache) and fill the RAM cache."""
        self._cache, self._cache_note, self._ram_decoded = None, "off", 0
        if self.check == "none":
            self._cache_note = "off (sizes unknown with check: none)" if cache is None else "off"
            return {}
        keep = float("inf") if cache is True else CACHE_PIXEL_BUDGET if cache is None else 0
        self._loaded = {role: load_cache(self.scan_cache, self.sources[role]) for role in wanted}
        results = {role: scan(self.sources[role], names, self.check, self._loaded[role], keep)
                   for role, names in wanted.items()}
        if cache is False:
            return results
        ok = {role: [n for n in names if not results[role].record(n).error] for role, names in wanted.items()}
        total = sum(results[r].record(n).h * results[r].record(n).w for r, names in ok.items() for n in names)
        if cache is None and total > CACHE_PIXEL_BUDGET:
            self._cache_note = f"off ({total / 1e6:.3g} MP > budget {CACHE_PIXEL_BUDGET / 1e6:.3g} MP)"
            return results
        self._cache = {}
        for role, names in ok.items():      # decode what the check did not (header level, cache hits)
            res = results[role]
            arrays = res.arrays or {}
            missing = [n for n in names if n not in arrays]
            if missing:
                extra = scan(self.sources[role], missing, "full", {}, float("inf"))
                res.entries.update(extra.entries)          # now known at full depth
                self._ram_decoded += extra.checked
                arrays = {**arrays, **(extra.arrays or {})}
            self._cache.update({(role, n): a for n, a in arrays.items()})
            res.arrays = None
        self._cache_note = f"on ({total / 1e6:.3g} MP, {self._ram_decoded} images decoded for it)"
        return results

    def _summary(self, phase: str, n_files: int, why: str, seconds: float) -> str:
        kinds = ", ".join(f"{role.upper()} {src.kind}" for role, src in self.sources.items())
        checked = sum(r.checked for r in self._scanned.values())
        reused = sum(r.reused for r in self._scanned.values())
        scan_part = (f"{reused} from the scan cache, {checked} checked now" if self._scanned
                     else "sizes learned when loaded")
        return (f"datasets.{phase}: {len(self.items)} pairs from {n_files} files ({kinds}), check: {self.check} "
                f"({why}); {scan_part}; RAM cache {self._cache_note}; {seconds:.1f} s")

    def save_scan_cache(self, folder: str | None = None) -> list[str]:
        """Write what this scan learned to ``folder`` (default: the ``scan_cache`` it was built with).

        Separate from construction so the training loop can scan before it creates (or archives) the
        experiment folder the cache lives in. Entries of files not used this time (another
        ``max_images`` subset) are kept; files no longer listed drop out. Returns the files written.
        """
        folder = folder if folder is not None else self.scan_cache
        if folder is None:
            return []
        written = []
        for role, res in self._scanned.items():
            src = self.sources[role]
            listed = set(self._listed[role])
            entries = {n: e for n, e in self._loaded[role].items() if n in listed}
            entries.update(res.entries)
            unchanged = res.checked == 0 and not self._ram_decoded and len(entries) == len(self._loaded[role])
            same_place = self.scan_cache is not None and Path(folder) == Path(self.scan_cache)
            if unchanged and same_place and cache_file(folder, src).is_file():
                continue                   # the file there already says exactly this
            written.append(str(save_cache(folder, src, entries)))
        return written

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
        self.bad_files = [p for *_, files in problems for p in files]
        warnings.warn(f"skipping {len(self.bad_files)} bad files: {message}", stacklevel=3)
        if not self.items:
            raise DataError(f"{self.hr_key}: no usable images in '{hr_folder}' "
                            f"({len(self.bad_files)} bad files skipped)")

    def __len__(self) -> int:
        return len(self.items)

    def _load(self, role: str, name: str) -> np.ndarray:
        raw = self._cache.get((role, name)) if self._cache is not None else None
        return to_rgb(raw if raw is not None else self.sources[role].read(name))

    def __getitem__(self, key) -> dict:
        index, sample_seed = key if isinstance(key, tuple) else (key, None)
        index = operator.index(index)
        for attempt in range(len(self.items)):
            i = (index + attempt) % len(self.items)
            try:
                return self._sample(i, sample_seed)
            except DataError as e:         # a file a shallow check let through, or changed since
                if not self.skip_bad:
                    raise
                self._skip(i, e)
        raise DataError(f"{self.hr_key}: no usable images left (every file failed to load)")

    def _skip(self, index: int, error: DataError) -> None:
        """skip_bad at load time: the next item stands in (deterministic, so resume stays exact)."""
        seen = self.__dict__.setdefault("_skipped", set())
        if index not in seen:
            seen.add(index)
            logging.getLogger("sr_gan").warning(f"skip_bad: skipping {error}")

    def _sample(self, index: int, sample_seed) -> dict:
        rng = np.random.default_rng(sample_seed) if sample_seed is not None else None
        stem, hr_name, lr_name = self.items[index]
        s, crop = self.scale, self.crop
        hr = mod_crop(self._load("hr", hr_name), s)
        hr_label = self.sources["hr"].label(hr_name)
        lr = self._load("lr", lr_name) if lr_name is not None else None
        if lr is not None and (lr.shape[0] * s, lr.shape[1] * s) != hr.shape[:2]:
            raise DataError(f"{self.sources['lr'].label(lr_name)}: LR is {lr.shape[1]}x{lr.shape[0]} but HR "
                            f"{hr_label} mod-cropped is {hr.shape[1]}x{hr.shape[0]} (scale {s})")
        if crop is not None and (hr.shape[0] < crop or hr.shape[1] < crop):
            raise DataError(f"{hr_label}: size {hr.shape[1]}x{hr.shape[0]} is smaller than the crop {crop}x{crop}")
        if crop is not None:
            if rng is not None and lr is not None:
                hr, lr = paired_random_crop(hr, lr, crop, s, rng, key=hr_label)
            elif rng is not None:
                hr = random_crop(hr, crop, rng, key=hr_label)
            else:   # deterministic centre crop, on the LR grid so a paired LR stays aligned
                top = (hr.shape[0] // s - crop // s) // 2 * s
                left = (hr.shape[1] // s - crop // s) // 2 * s
                hr = hr[top:top + crop, left:left + crop]
                if lr is not None:
                    lr = lr[top // s:(top + crop) // s, left // s:(left + crop) // s]
        hr = raw_to_float(hr)
        if self.hr_only:      # the same draws as a paired item (augment always takes three), no LR
            if rng is not None:
                hr, = augment([hr], self.flip, self.rot, rng)
            return {"hr": img_to_tensor(hr), "key": stem}
        if lr is not None:
            lr = raw_to_float(lr)
        elif self.scored:     # a validation set: the 8-bit LR test_sr.py makes (sr_gan.scoring)
            lr = benchmark_lr(hr, s)
        else:
            lr = np.clip(imresize(hr, 1 / s), 0.0, 1.0)
        if rng is not None:
            hr, lr = augment([hr, lr], self.flip, self.rot, rng)
        return {"lr": img_to_tensor(lr), "hr": img_to_tensor(hr), "key": stem}
