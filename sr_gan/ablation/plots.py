"""The sweep's two figures (matplotlib, Agg backend: no display needed).

perception_distortion: PSNR (distortion, x) against LPIPS, or NIQE where LPIPS is unavailable
(perception, y; SSIM, labelled as the distortion metric it is, when neither is), one labelled point per grid cell with error bars over seeds; interpolated models,
when present, as a connected curve ordered by alpha. Blau & Michaeli (2018) show the best
achievable points form a monotone frontier: moving along it trades PSNR for perceptual quality.
training_curves: generator losses and validation PSNR against iteration for every run, from the
run's TensorBoard events, or its train.log when TensorBoard was off.
"""
from __future__ import annotations

import glob
import os
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from sr_gan.metrics import higher_is_better  # noqa: E402

Y_CHOICES = ("lpips", "niqe", "ssim")
DISTORTION_METRICS = {"psnr", "ssim"}     # full-reference fidelity: SSIM is only a fallback y-axis


def y_label(metric: str) -> str:
    """The y-axis label, true to what is plotted: SSIM (the fallback) measures distortion, not perception."""
    better = "higher" if higher_is_better(metric) else "lower"
    if metric in DISTORTION_METRICS:
        return f"{metric.upper()}  ({better} = less distortion; no perceptual metric available)"
    return f"{metric.upper()}  ({better} = better perceptual quality)"


def perception_axis(cells: list[dict]) -> str | None:
    """The perceptual metric to plot: LPIPS, else NIQE, else SSIM (whichever has numbers)."""
    for m in Y_CHOICES:
        if any(c[m] is not None for c in cells if c["kind"] != "bicubic"):
            return m
    return None


def perception_distortion(cells: list[dict], path: str, title: str = "") -> str | None:
    if not cells or not any(c["psnr"] is not None for c in cells):
        return None
    y = perception_axis(cells)
    fig, ax = plt.subplots(figsize=(7, 5), dpi=110)
    runs = [c for c in cells if c["kind"] == "run" and c["psnr"] and (y is None or c[y])]
    for i, c in enumerate(runs):
        color = f"C{i % 10}"
        yv = c[y] if y else (0.0, 0.0, 1)
        ax.errorbar(c["psnr"][0], yv[0], xerr=c["psnr"][1], yerr=yv[1], fmt="o", color=color, capsize=3,
                    label=c["cell"])
        ax.annotate(_short(c["cell"]), (c["psnr"][0], yv[0]), textcoords="offset points", xytext=(5, 5),
                    fontsize=7, color=color)
    interp = sorted((c for c in cells if c["kind"] == "interpolation" and c["psnr"] and (y is None or c[y])),
                    key=lambda c: float(c["alpha"]))
    if interp:
        xs = [c["psnr"][0] for c in interp]
        ys = [c[y][0] if y else 0.0 for c in interp]
        ax.plot(xs, ys, "s--", color="gray", label="network interpolation (alpha)")
        for c, xv, yv in zip(interp, xs, ys):
            ax.annotate(f"α={float(c['alpha']):g}", (xv, yv), textcoords="offset points", xytext=(4, -10),
                        fontsize=7, color="gray")
    bic = next((c for c in cells if c["kind"] == "bicubic" and c["psnr"] and (y is None or c[y])), None)
    if bic:
        ax.plot(bic["psnr"][0], bic[y][0] if y else 0.0, "kx", markersize=9, label="bicubic")
    ax.set_xlabel("PSNR (dB)  →  less distortion")
    if y:
        ax.set_ylabel(y_label(y))
    ax.set_title(title or "perception-distortion plane")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _short(cell: str) -> str:
    return cell.replace("__", "\n")


def _dedupe(points: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """A resumed run may log a step twice: keep the last value per step, sorted by step."""
    return sorted(dict(points).items())


def read_tensorboard(tb_dir: str) -> dict[str, list[tuple[int, float]]]:
    if not glob.glob(os.path.join(tb_dir, "events.out.tfevents.*")):
        return {}
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(tb_dir, size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: _dedupe([(e.step, e.value) for e in acc.Scalars(tag)]) for tag in acc.Tags()["scalars"]}


_LOSS_LINE = re.compile(r"iter (\d+)/\d+(?: \([^)]*\))?: (.*)$")
_VAL_HEAD = re.compile(r"validation at iteration (\d+):")
_VAL_ROW = re.compile(r"^\| (\S+) \| (\w+) \| ([-0-9.eE+]+) \|")


def read_train_log(path: str) -> dict[str, list[tuple[int, float]]]:
    """The same series from train.log: `iter N/T: k=v ...` lines and validation tables."""
    series: dict[str, list] = {}
    if not os.path.isfile(path):
        return series
    val_iter = None
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if m := _LOSS_LINE.search(line):
                val_iter = None
                for kv in m.group(2).split():
                    k, _, v = kv.partition("=")
                    try:
                        series.setdefault(f"train/{k}", []).append((int(m.group(1)), float(v)))
                    except ValueError:
                        pass
            elif m := _VAL_HEAD.search(line):
                val_iter = int(m.group(1))
            elif val_iter is not None and (m := _VAL_ROW.match(line.strip())):
                series.setdefault(f"val/{m.group(1)}/{m.group(2)}", []).append((val_iter, float(m.group(3))))
    return {k: _dedupe(v) for k, v in series.items()}


def run_series(folder: str) -> dict[str, list[tuple[int, float]]]:
    try:
        series = read_tensorboard(os.path.join(folder, "tb"))
    except Exception:   # a truncated event file from a killed run: fall back to the text log
        series = {}
    return series or read_train_log(os.path.join(folder, "train.log"))


def training_curves(runs: list[tuple[str, str]], path: str) -> str | None:
    """One panel per generator loss term (l_g_*) plus one for validation PSNR; a line per run."""
    data = {name: run_series(folder) for name, folder in runs}
    loss_tags = sorted({t for s in data.values() for t in s if t.startswith("train/l_g")})
    psnr_tags = sorted({t for s in data.values() for t in s if t.startswith("val/") and t.endswith("/psnr")})
    panels = loss_tags + psnr_tags
    if not panels:
        return None
    cols = min(3, len(panels))
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.6 * rows), dpi=100, squeeze=False)
    for ax, tag in zip(axes.flat, panels):
        for i, (name, series) in enumerate(data.items()):
            pts = series.get(tag)
            if pts:
                xs, ys = zip(*pts)
                ax.plot(xs, ys, "o-" if len(pts) < 4 else "-", color=f"C{i % 10}", label=name.split("__", 1)[-1],
                        markersize=3, linewidth=1)
        title = tag[len("train/"):] if tag.startswith("train/") else f"validation PSNR ({tag.split('/')[1]})"
        ax.set_title(title, fontsize=9)
        ax.ticklabel_format(axis="y", useOffset=False, style="plain") if not tag.startswith("train/") else None
        ax.set_xlabel("iteration", fontsize=8)
        ax.tick_params(labelsize=7)
        if tag.startswith("train/") and all(v > 0 for s in data.values() for _, v in s.get(tag, [])):
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    handles = {}
    for ax in axes.flat:    # one legend naming every run, even those missing from the first panel
        for h, lbl in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lbl, h)
    axes.flat[0].legend(list(handles.values()), list(handles), fontsize=6)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
