"""Benchmark evaluation: score SR images (or a model's output) against HR, next to the bicubic baseline.

Follows the paper convention so numbers are comparable with published tables: HR mod-cropped to the
scale, LR made by MATLAB bicubic when none is given (and stored as 8-bit, like the released LR
sets), SR quantised to 8 bits as a saved PNG would be, PSNR/SSIM on Y with ``scale`` border pixels
cropped. A metric whose weights are not on this machine is reported as 'n/a' with a note naming the
missing file -- never computed with a random network.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from sr_gan.data.augment import mod_crop
from sr_gan.data.paired import lr_stem_to_hr
from sr_gan.errors import CheckpointError, DataError, MissingWeightsError
from sr_gan.inference import load_generator
from sr_gan.metrics import metric_label
from sr_gan.scoring import (NA, benchmark_lr, bicubic_baseline, build_scorers, format_score, mean_scores, score_image,
                            super_resolve)
from sr_gan.utils.image_io import list_images, read_image, to_rgb, write_image
from sr_gan.utils.logger import markdown_table

DEFAULT_METRICS = ("psnr", "ssim", "lpips", "niqe")
_SR_SUFFIX = re.compile(r"(?:[_-][A-Za-z0-9]+|x\d+)+")   # '_x4', '_SR', '_out', 'x4', '_rlt_x4', ...


@dataclass
class Report:
    metrics: list[str]
    rows: list[dict] = field(default_factory=list)           # {'image': stem, metric: float | 'n/a'}
    bicubic_rows: list[dict] = field(default_factory=list)
    set_metrics: dict = field(default_factory=dict)          # fid / is of the model output
    bicubic_set_metrics: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @staticmethod
    def _mean(rows: list[dict], metrics: list[str], set_level: dict) -> dict:
        return {**mean_scores(rows, metrics), **set_level}

    @property
    def columns(self) -> list[str]:
        return self.metrics + [k for k in self.set_metrics if k not in self.metrics]

    @property
    def mean(self) -> dict:
        return self._mean(self.rows, self.metrics, self.set_metrics)

    @property
    def bicubic_mean(self) -> dict:
        return self._mean(self.bicubic_rows, self.metrics, self.bicubic_set_metrics)

    def table_rows(self, fmt=format_score) -> list[list[str]]:
        """Per-image rows, then 'mean' and 'bicubic mean' (set-level FID/IS only in the mean rows)."""
        cols = self.columns
        rows = [[r["image"]] + [fmt(r[c]) if c in r else "" for c in cols] for r in self.rows]
        rows.append(["mean"] + [fmt(self.mean[c]) for c in cols])
        if self.bicubic_rows:
            rows.append(["bicubic mean"] + [fmt(self.bicubic_mean[c]) for c in cols])
        return rows

    def to_markdown(self) -> str:
        return "\n".join([markdown_table(["image"] + self.columns, self.table_rows())]
                         + [f"note: {n}" for n in self.notes])

    def to_csv(self, path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["image"] + self.columns)
            writer.writerows(self.table_rows(fmt=lambda v: v if isinstance(v, str) else repr(float(v))))


def match_sr_to_hr(sr_files: list[Path], hr_stems: list[str]) -> tuple[dict, list[str]]:
    """{hr stem: sr path} matching by stem, allowing suffixes such as '_x4', '_SR', '_out'."""
    by_length = sorted(hr_stems, key=len, reverse=True)
    matched, unmatched = {}, []
    for path in sr_files:
        stem = path.stem
        hit = next((s for s in by_length if stem == s or (stem.startswith(s) and _SR_SUFFIX.fullmatch(stem[len(s):]))),
                   None)
        if hit is None:
            unmatched.append(path.name)
        elif hit in matched and matched[hit].stem != hit:
            if stem == hit:
                matched[hit] = path
        elif hit in matched:
            continue
        else:
            matched[hit] = path
    return matched, unmatched


def _lr_for(hr: np.ndarray, stem: str, lr_files: dict | None, scale: int) -> np.ndarray:
    if lr_files is None:
        return benchmark_lr(hr, scale)
    path = lr_files.get(stem)
    if path is None:
        raise DataError(f"no LR image for HR '{stem}' (expected {stem}.png or {stem}x{scale}.png)")
    lr = to_rgb(read_image(path)[0])
    if lr.shape[0] * scale > hr.shape[0] or lr.shape[1] * scale > hr.shape[1]:
        raise DataError(f"{path}: LR {lr.shape[1]}x{lr.shape[0]} x{scale} is larger than HR "
                        f"{hr.shape[1]}x{hr.shape[0]}")
    return lr


def _inception(fid: bool, device: str, weights: str | None, notes: list[str]):
    if not fid:
        return None
    from sr_gan.metrics.fid_is import InceptionFeatures
    try:
        return InceptionFeatures(device=device, weights_path=weights)
    except MissingWeightsError as e:
        notes.append(f"fid/is: n/a -- {e}")
        return NA


def _set_metrics(inception, sr_images: list, hr_images: list) -> dict:
    if inception is None:
        return {}
    if isinstance(inception, str) or len(sr_images) < 2:
        return {"fid": NA, "is": NA}
    from sr_gan.metrics.fid_is import fid_from_features, inception_score

    def features(images):
        out = [inception(torch.from_numpy(np.ascontiguousarray(im.transpose(2, 0, 1)))[None]) for im in images]
        return np.concatenate([f for f, _ in out]), np.concatenate([p for _, p in out])

    sr_feats, sr_probs = features(sr_images)
    hr_feats, _ = features(hr_images)
    return {"fid": fid_from_features(sr_feats, hr_feats), "is": inception_score(sr_probs)[0]}


def evaluate_folder(source, hr_dir, scale: int, lr_dir=None, metrics=DEFAULT_METRICS, y_channel: bool = True,
                    device: str = "cpu", out_dir=None, fid: bool = False, inception_weights: str | None = None,
                    tile: int = 0, tile_pad: int = 10, precision: str = "fp32") -> Report:
    """Score ``source`` -- a folder of SR images or a generator (nn.Module) -- against ``hr_dir``."""
    hr_files, _ = list_images(hr_dir) if Path(hr_dir).is_dir() else ([], [])
    if not hr_files:
        raise DataError(f"{hr_dir}: no HR images (folder missing or empty)")
    report = Report(metrics=[metric_label(m) for m in metrics])
    scorers, missing = build_scorers(metrics, crop_border=scale, y_channel=y_channel, device=device)
    report.notes.extend(f"{label}: n/a -- {reason}" for label, reason in missing.items())
    inception = _inception(fid, device, inception_weights, report.notes)
    hr_stems = [p.stem for p in hr_files]
    is_model = isinstance(source, torch.nn.Module)
    lr_files = None
    if lr_dir is not None:
        if not Path(lr_dir).is_dir():
            raise DataError(f"{lr_dir}: LR folder missing")
        lr_files = {}
        for p in list_images(lr_dir)[0]:
            stem = lr_stem_to_hr(p.stem, hr_stems, scale)
            if stem is not None:
                lr_files[stem] = p
    if not is_model:
        sr_dir = Path(source)
        if not sr_dir.is_dir():
            raise DataError(f"{sr_dir}: SR folder missing")
        sr_files, unmatched = match_sr_to_hr(list_images(sr_dir)[0], hr_stems)
        missing = [s for s in hr_stems if s not in sr_files]
        if missing:
            raise DataError(f"{sr_dir}: no SR image for {len(missing)} of {len(hr_stems)} HR images "
                            f"(first: {', '.join(missing[:3])})")
        if unmatched:
            report.notes.append(f"{len(unmatched)} SR files match no HR image and were ignored "
                                f"(first: {', '.join(unmatched[:3])})")
    failures: dict = {}
    sr_all, bic_all, hr_all = [], [], []
    for hr_path in hr_files:
        stem = hr_path.stem
        hr = mod_crop(to_rgb(read_image(hr_path)[0]), scale)
        lr = _lr_for(hr, stem, lr_files, scale)
        hr = hr[: lr.shape[0] * scale, : lr.shape[1] * scale]
        if is_model:
            sr = super_resolve(source, lr, scale, tile=tile, tile_pad=tile_pad, precision=precision)
            if out_dir is not None:
                write_image(Path(out_dir) / f"{stem}.png", sr)
        else:
            sr = to_rgb(read_image(sr_files[stem])[0])
            if sr.shape != hr.shape:
                raise DataError(f"{sr_files[stem]}: size {sr.shape[1]}x{sr.shape[0]} does not match HR "
                                f"{hr.shape[1]}x{hr.shape[0]} (mod-cropped to x{scale})")
        bicubic = bicubic_baseline(lr, scale)
        report.rows.append({"image": stem, **score_image(scorers, sr, hr, failures)})
        report.bicubic_rows.append({"image": stem, **score_image(scorers, bicubic, hr, failures)})
        if inception is not None:
            sr_all.append(sr), bic_all.append(bicubic), hr_all.append(hr)
    for name, reason in failures.items():
        report.notes.append(f"{name}: n/a for some images ({reason})")
    report.set_metrics = _set_metrics(inception, sr_all, hr_all)
    report.bicubic_set_metrics = _set_metrics(inception, bic_all, hr_all)
    return report


def evaluate_checkpoint(ckpt_path, hr_dir, scale: int, lr_dir=None, device: str = "cpu", arch: dict | None = None,
                        **kw) -> Report:
    """Load any checkpoint with ``inference.load_generator`` and evaluate it on one set."""
    net, net_scale, _ = load_generator(str(ckpt_path), arch, device)
    if net_scale != scale:
        raise CheckpointError(f"{ckpt_path}: the generator upscales x{net_scale}, but --scale is {scale}")
    return evaluate_folder(net, hr_dir, scale, lr_dir=lr_dir, device=device, **kw)


# ------------------------------------------------------------------------------ benchmark option files
BENCHMARK_KEYS = {"scale": int, "metrics": list, "rgb": bool, "out": str, "tile": int, "fid": bool,
                  "inception_weights": str, "sets": dict}
SET_KEYS = {"hr": str, "lr": str}
BENCHMARK_MINIMUM = {"scale": 1, "tile": 0}


def load_benchmarks(path) -> dict:
    """Read and validate a benchmark list (options/test/benchmarks.yml); unknown keys are errors."""
    from sr_gan.errors import OptionError
    from sr_gan.options import read_yaml
    opt = read_yaml(str(path))

    def check(mapping: dict, schema: dict, where: str) -> None:
        for key, value in mapping.items():
            if key not in schema:
                raise OptionError(f"{path}: unknown key '{where}{key}' (allowed: {', '.join(schema)})")
            expected = schema[key]
            if value is None and key in ("lr", "inception_weights"):
                continue
            ok = isinstance(value, bool) if expected is bool else (isinstance(value, expected)
                                                                  and not isinstance(value, bool))
            if not ok:
                raise OptionError(f"{path}: '{where}{key}' must be a {schema[key].__name__}, got {value!r}")

    check(opt, BENCHMARK_KEYS, "")
    for key, low in BENCHMARK_MINIMUM.items():
        if opt.get(key) is not None and opt[key] < low:
            raise OptionError(f"{path}: '{key}' must be >= {low}, got {opt[key]}")
    if not opt.get("sets"):
        raise OptionError(f"{path}: 'sets' must list at least one set ({{name: {{hr: DIR, lr: DIR}}}})")
    for name, entry in opt["sets"].items():
        if not isinstance(entry, dict) or "hr" not in entry:
            raise OptionError(f"{path}: 'sets.{name}' must be a mapping with 'hr' (and optional 'lr')")
        check(entry, SET_KEYS, f"sets.{name}.")
    if opt.get("metrics") is not None:
        from sr_gan.options import validate_metrics
        opt["metrics"] = validate_metrics(opt["metrics"], src=str(path), key="metrics")
    return opt
