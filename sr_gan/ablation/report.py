"""Turn a sweep folder into results: results.csv (a row per run and validation set), results.md
(mean +- std over seeds per grid cell, best per metric in bold) and, via plots/html, the figures and
the self-contained HTML report. Everything is rebuilt from files on disk (ablation.json, each run's
eval.json, interpolation.json), so `scripts/interpolate.py --ablation DIR` can add to it later.
"""
from __future__ import annotations

import csv
import json
import math
import os
from typing import Any

from sr_gan.metrics import better_sentence, direction, higher_is_better

from .evaluate import METRICS

MANIFEST = "ablation.json"
INTERPOLATION = "interpolation.json"
UNITS = {"psnr": " (dB)"}
DIGITS = {"psnr": 2, "ssim": 4, "lpips": 4, "niqe": 3}


def column_title(metric: str) -> str:
    """Column title: name, unit, and the arrow the metric class's direction gives (e.g. 'PSNR (dB) ↑')."""
    return f"{metric.upper()}{UNITS.get(metric, '')} {direction(metric)}"


def read_json(path: str, default: Any = None) -> Any:
    if not os.path.isfile(path):
        return default
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def write_json(path: str, data: Any) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, path)


def collect_rows(out: str, manifest: dict) -> list[dict]:
    """One row per (run or interpolated model, validation set); failed/unfinished runs have no numbers."""
    rows = []
    keys = [a["key"] for a in manifest["grid"]]
    for run in manifest["runs"]:
        ev = read_json(os.path.join(out, "runs", run["name"], "eval.json"))
        results = ev["results"] if ev else {}
        for vset in manifest["val_sets"]:
            r = results.get(vset, {})
            row = {"kind": "run", "run": run["name"], "cell": run["cell"], "seed": run["seed"],
                   **{k: run["point"][k] for k in keys}, "alpha": "", "val_set": vset,
                   "status": run.get("status", ""), "iter": run["total_iter"] if ev else "",
                   "checkpoint": ev.get("checkpoint", "") if ev else ""}
            for m in METRICS:
                row[m] = r.get("model", {}).get(m, "")
                row[f"bicubic_{m}"] = r.get("bicubic", {}).get(m, "")
            rows.append(row)
    for item in read_json(os.path.join(out, INTERPOLATION), {}).get("models", []):
        for vset, r in item["results"].items():
            row = {"kind": "interpolation", "run": item["name"], "cell": item["name"], "seed": "",
                   **{k: "" for k in keys}, "alpha": item["alpha"], "val_set": vset, "status": "finished",
                   "iter": item.get("iter", ""), "checkpoint": item["checkpoint"]}
            for m in METRICS:
                row[m] = r["model"].get(m, "")
                row[f"bicubic_{m}"] = r["bicubic"].get(m, "")
            rows.append(row)
    return rows


def write_csv(rows: list[dict], path: str) -> None:
    if not rows:
        return
    fields = list(rows[0].keys())
    for r in rows[1:]:
        fields += [k for k in r if k not in fields]
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for r in rows:
            w.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in r.items()})


def _stats(values: list) -> tuple[float, float, int] | None:
    nums = [v for v in values if isinstance(v, float) and math.isfinite(v)]
    if not nums:
        return None
    mean = sum(nums) / len(nums)
    std = math.sqrt(sum((v - mean) ** 2 for v in nums) / (len(nums) - 1)) if len(nums) > 1 else 0.0
    return mean, std, len(nums)


def aggregate(rows: list[dict]) -> dict[str, list[dict]]:
    """{val_set: [{'cell', 'kind', 'n', 'runs', metric: (mean, std, n) | None}]} in first-seen order;
    a 'bicubic' entry (the same for every run) comes first."""
    out: dict[str, list[dict]] = {}
    for vset in dict.fromkeys(r["val_set"] for r in rows):
        sub = [r for r in rows if r["val_set"] == vset]
        cells: list[dict] = []
        bic = next((r for r in sub if any(isinstance(r[f"bicubic_{m}"], float) for m in METRICS)), None)
        if bic:
            cells.append({"cell": "bicubic", "kind": "bicubic", "runs": 1, "alpha": "",
                          **{m: _stats([bic[f"bicubic_{m}"]]) for m in METRICS}})
        for cell in dict.fromkeys(r["cell"] for r in sub):
            members = [r for r in sub if r["cell"] == cell]
            cells.append({"cell": cell, "kind": members[0]["kind"], "runs": len(members),
                          "alpha": members[0]["alpha"], "finished": sum(r["iter"] != "" for r in members),
                          **{m: _stats([r[m] for r in members]) for m in METRICS}})
        out[vset] = cells
    return out


def best_cells(cells: list[dict]) -> dict[str, str]:
    """metric -> cell with the best mean (bicubic excluded: it is the reference, not a candidate)."""
    best = {}
    for m in METRICS:
        cand = [c for c in cells if c["kind"] != "bicubic" and c[m] is not None]
        if cand:
            pick = max if higher_is_better(m) else min
            best[m] = pick(cand, key=lambda c: c[m][0])["cell"]
    return best


def fmt(stat: tuple | None, metric: str) -> str:
    if stat is None:
        return "n/a"
    mean, std, n = stat
    d = DIGITS[metric]
    return f"{mean:.{d}f} ± {std:.{d}f}" if n > 1 else f"{mean:.{d}f}"


def markdown(agg: dict[str, list[dict]], seeds: int) -> str:
    parts = []
    for vset, cells in agg.items():
        best = best_cells(cells)
        shown = list(METRICS)
        lines = [f"### Validation set `{vset}`", "",
                 f"Mean ± sample std over {seeds} seed(s) per grid cell; **bold** = best per metric "
                 f"({better_sentence(shown)}); n/a = metric unavailable here.", "",
                 "| grid cell | runs | " + " | ".join(column_title(m) for m in shown) + " |",
                 "|---|---:|" + "---:|" * len(shown)]
        for c in cells:
            runs = "-" if c["kind"] == "bicubic" else f"{c.get('finished', c['runs'])}/{c['runs']}"
            vals = [f"**{fmt(c[m], m)}**" if best.get(m) == c["cell"] else fmt(c[m], m) for m in shown]
            label = f"`{c['cell']}`" if c["kind"] == "run" else c["cell"]
            lines.append(f"| {label} | {runs} | " + " | ".join(vals) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def build(out: str, say=print, html: bool = True) -> dict:
    """(Re)write results.csv, results.md, the two plots and report.html from the sweep folder."""
    from . import html as html_mod
    from . import plots
    manifest = read_json(os.path.join(out, MANIFEST))
    if manifest is None:
        from sr_gan.errors import SRGanError
        raise SRGanError(f"{out}: no {MANIFEST} (not an ablation folder made by scripts/ablate.py)")
    rows = collect_rows(out, manifest)
    write_csv(rows, os.path.join(out, "results.csv"))
    agg = aggregate(rows)
    seeds = len(manifest["seeds"])
    table = markdown(agg, seeds)
    with open(os.path.join(out, "results.md"), "w", encoding="utf-8") as f:
        f.write(table)
    paths = {"csv": os.path.join(out, "results.csv"), "md": os.path.join(out, "results.md")}
    first_set = next(iter(agg), None)
    paths["pd"] = plots.perception_distortion(agg.get(first_set, []), os.path.join(out, "perception_distortion.png"),
                                              title=f"perception-distortion plane ({first_set})")
    runs = [(r["name"], os.path.join(out, "runs", r["name"])) for r in manifest["runs"]]
    paths["curves"] = plots.training_curves(runs, os.path.join(out, "training_curves.png"))
    if html:
        paths["html"] = html_mod.write_report(out, manifest, table, paths)
    for k, p in paths.items():
        if p:
            say(f"wrote {p}")
    return paths
