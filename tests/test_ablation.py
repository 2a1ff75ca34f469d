"""scripts/ablate.py: grid expansion and naming, up-front validation, a real tiny sweep, its
resumability (finished runs skipped, interrupted ones resumed), failure reporting, and that its
numbers are exactly scripts/test_sr.py's for the same checkpoint."""
import csv
import importlib
import os
import re
import subprocess
import sys

import pytest

from sr_gan.ablation import grid, runner
from sr_gan.errors import OptionError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _script(name):
    return importlib.import_module(f"sr_gan.commands.{name}")


ablate = _script("ablate")

TINY_YML = """name: tiny
model: sr
scale: 4
seed: 7
datasets:
  train: {{type: paired, hr: {root}/train/HR, crop: 32, batch: 4, workers: 0}}
  val: {{type: paired, hr: {root}/val/HR}}
network_g: {{type: msrresnet, num_feat: 8, num_block: 1}}
train:
  total_iter: 4
  optim_g: {{lr: 1.0e-3}}
  ema_decay: 0.5
  losses: [{{type: l1, weight: 1.0}}]
val: {{freq: 0, metrics: [psnr, ssim], save_images: false}}
logger: {{print_freq: 1, use_tb: true}}
save: {{freq: 2, keep: 3}}
"""


@pytest.fixture(scope="module")
def tiny_yml(tiny_sr_data, tmp_path_factory):
    path = tmp_path_factory.mktemp("abl_opt") / "tiny.yml"
    path.write_text(TINY_YML.format(root=tiny_sr_data))
    return str(path)


# ------------------------------------------------------------------------------------------ grid
def test_values_are_typed():
    assert grid.parse_value("1e-3") == 0.001 and isinstance(grid.parse_value("1e-3"), float)
    assert grid.parse_value("true") is True and grid.parse_value("false") is False
    assert grid.parse_value("0") == 0 and isinstance(grid.parse_value("0"), int)
    assert grid.parse_value("null") is None and grid.parse_value("l1") == "l1"
    axis = grid.parse_grid("train.gan.weight=0,1e-3,5.0e-3")
    assert axis.key == "train.gan.weight" and axis.values == [0, 0.001, 0.005]
    assert axis.texts == ["0", "1e-3", "5.0e-3"]
    # override text reads back as the same type through options' YAML 1.1 parser
    for v in (0.001, 1e-10, 2.5, 1e16, True, None, 3):
        assert grid.parse_value(grid.format_value(v)) == v


def test_grid_product_times_seeds_names_unique_and_safe(tiny_yml, tmp_path):
    axes = [grid.parse_grid("train.losses.l1.weight=1e-3,1"), grid.parse_grid("train.channels_last=true,false")]
    runs = grid.expand(tiny_yml, axes, [0, 1], [], str(tmp_path / "runs"))
    assert len(runs) == 2 * 2 * 2
    names = [r.name for r in runs]
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"[A-Za-z0-9._=+-]+", n) for n in names)
    assert names[:3] == ["tiny__losses.l1.weight=1e-3__channels_last=true__seed0",
                         "tiny__losses.l1.weight=1e-3__channels_last=true__seed1",
                         "tiny__losses.l1.weight=1e-3__channels_last=false__seed0"]
    assert names[-1] == "tiny__losses.l1.weight=1__channels_last=false__seed1"
    first, last = runs[0].opt, runs[-1].opt
    assert first["train"]["losses"][0]["weight"] == 0.001 and first["train"]["channels_last"] is True
    assert last["train"]["losses"][0]["weight"] == 1.0 and isinstance(last["train"]["losses"][0]["weight"], float)
    assert last["train"]["channels_last"] is False and last["seed"] == 1 and first["seed"] == 0
    assert first["name"] == names[0] and first["path"]["experiments_root"] == str(tmp_path / "runs")
    assert runs[0].cell == runs[1].cell != runs[2].cell      # seeds share a grid cell
    # no --seeds: the option file's own seed, still named
    one = grid.expand(tiny_yml, [grid.parse_grid("train.losses.l1.weight=1")], None, [], str(tmp_path))
    assert [r.name for r in one] == ["tiny__losses.l1.weight=1__seed7"] and one[0].opt["seed"] == 7


def test_short_label_falls_back_to_full_key_when_ambiguous():
    assert grid.short_keys(["train.gan.weight", "val.gan.weight", "seed"]) == \
        {"train.gan.weight": "train.gan.weight", "val.gan.weight": "val.gan.weight", "seed": "seed"}
    assert grid.safe("a/b c:d") == "a-b-c-d"


def test_bad_key_fails_in_one_line_before_anything_runs(tiny_yml, tmp_path, capsys):
    out = tmp_path / "sweep"
    rc = ablate.main(["-opt", tiny_yml, "--grid", "train.losses.l1.weight=1,2", "--grid", "train.gan.wieght=0,1",
                      "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1
    assert err.startswith("error: ") and "train.gan.wieght" in err and "did you mean 'weight'" in err
    assert not out.exists()
    rc = ablate.main(["-opt", tiny_yml, "--grid", "train.losses.l1.weight=1,-1", "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "l1.weight=-1" in err and "train.losses[0].weight: must be >= 0" in err and not out.exists()
    rc = ablate.main(["-opt", tiny_yml, "--grid", "train.losses.ssim.weight=1,2", "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "train.losses: no entry named 'ssim' (names: l1" in err and not out.exists()


# ------------------------------------------------------------------------------------------ sweep
@pytest.fixture(scope="module")
def sweep(tiny_yml, tmp_path_factory):
    out = tmp_path_factory.mktemp("abl") / "sweep"
    argv = ["-opt", tiny_yml, "--grid", "train.losses.l1.weight=1,0.5", "--jobs", "2", "--out", str(out)]
    rc = ablate.main(argv)
    assert rc == 0
    return out, argv


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _ema_psnr(checkpoint: str, data_root: str) -> float:
    """The paper-convention PSNR of a checkpoint's EMA generator on the one validation photo, computed here:
    LR = 8-bit MATLAB bicubic x1/4, SR = 8-bit network output, Y = 16 + 65.481 R + 128.553 G + 24.966 B,
    4 border pixels cropped."""
    import numpy as np
    import torch
    from sr_gan.data.bicubic import imresize
    from sr_gan.registry import ARCHS
    from sr_gan.utils.image_io import read_image
    q = lambda a: np.rint(np.clip(a, 0, 1) * 255) / 255  # noqa: E731
    state = torch.load(checkpoint, weights_only=True)
    net = ARCHS.build({"type": "msrresnet", "num_feat": 8, "num_block": 1}, scale=4).eval()
    net.load_state_dict(state["nets"]["g_ema"])
    hr = read_image(os.path.join(data_root, "val", "HR", "coffee.png"))[0].astype(np.float64)   # 96 x 96
    lr = q(imresize(hr.astype(np.float32), 0.25)).astype(np.float32)
    with torch.no_grad():
        sr = q(net(torch.from_numpy(lr.transpose(2, 0, 1))[None])[0].numpy().transpose(1, 2, 0))
    y = lambda a: (16 + a @ np.array([65.481, 128.553, 24.966]))[4:-4, 4:-4]  # noqa: E731
    return 10 * np.log10(255 ** 2 / np.mean((y(sr) - y(hr)) ** 2))


def test_sweep_writes_results_table_plots_and_report(sweep, tiny_sr_data):
    out, _ = sweep
    rows = _rows(out / "results.csv")
    assert [r["run"] for r in rows] == ["tiny__losses.l1.weight=1__seed7", "tiny__losses.l1.weight=0.5__seed7"]
    for r in rows:
        assert r["iter"] == "4" and 0.0 < float(r["ssim"]) <= 1.0
        assert float(r["psnr"]) == pytest.approx(_ema_psnr(r["checkpoint"], tiny_sr_data), abs=1e-6)
        assert r["lpips"] == "n/a"          # no AlexNet weights here: reported, never faked
        assert r["bicubic_psnr"] == rows[0]["bicubic_psnr"]
        assert os.path.isfile(out / "runs" / r["run"] / "options.yml")
    md = (out / "results.md").read_text()
    assert "| bicubic |" in md and "`losses.l1.weight=1`" in md and "**" in md
    best = max(rows, key=lambda r: float(r["psnr"]))
    assert f"**{float(best['psnr']):.2f}**" in md
    for png in ("perception_distortion.png", "training_curves.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 2 + 3 * 4        # 2 plots + 3 crops x (bic, 2 runs, HR)
    assert "http://" not in html and "https://" not in html and "<select" in html and 'type="range"' in html
    # each run is resumable alone with train_sr.py: its options name its own folder
    opt = (out / "runs" / rows[0]["run"] / "options.yml").read_text()
    assert f"name: {rows[0]['run']}" in opt and str(out / "runs") in opt


def test_rerun_skips_finished_and_resumes_interrupted(sweep, capsys):
    out, argv = sweep
    done, cut = out / "runs" / "tiny__losses.l1.weight=1__seed7", out / "runs" / "tiny__losses.l1.weight=0.5__seed7"
    kept = done / "checkpoints" / "iter_00000004.pth"
    mtime = kept.stat().st_mtime_ns
    (cut / "checkpoints" / "iter_00000004.pth").unlink()        # as if killed after the iteration-2 save
    (cut / "checkpoints" / "latest").write_text("iter_00000002.pth\n")
    capsys.readouterr()
    assert ablate.main(argv) == 0
    said = capsys.readouterr().out
    assert f"[skip]   {done.name}: finished" in said
    assert f"[run]    {cut.name}: resume from iteration 2" in said
    assert kept.stat().st_mtime_ns == mtime
    assert (cut / "checkpoints" / "iter_00000004.pth").is_file()
    assert re.search(r"resumed from .*iter_00000002\.pth at iteration 2", (cut / "train.log").read_text())
    assert "1 trained, 1 skipped" in said


def test_csv_numbers_equal_test_sr(sweep, tiny_sr_data, tmp_path):
    out, _ = sweep
    row = _rows(out / "results.csv")[0]
    csv_path = tmp_path / "test_sr.csv"
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "test_sr.py"), "--model", row["checkpoint"],
                    "--hr", os.path.join(tiny_sr_data, "val", "HR"), "--scale", "4", "--csv", str(csv_path),
                    "--device", "cpu"], check=True, capture_output=True, cwd=ROOT)
    table = {r["image"]: r for r in _rows(csv_path)}
    for metric in ("psnr", "ssim", "lpips", "niqe"):
        for ours, theirs in ((row[metric], table["mean"][metric]),
                             (row[f"bicubic_{metric}"], table["bicubic mean"][metric])):
            assert _same(ours, theirs), (metric, ours, theirs)


def _same(ours: str, theirs: str) -> bool:
    """Equal as test_sr.py prints it: to its number of decimals, or exactly at full precision."""
    if "n/a" in (ours, theirs):
        return ours == theirs
    decimals = len(theirs.split(".")[1]) if "." in theirs else 0
    return float(ours) == float(theirs) if decimals > 6 else f"{float(ours):.{decimals}f}" == theirs


def test_failed_run_is_reported_and_others_finish(tiny_yml, tmp_path, capsys):
    out = tmp_path / "failing"
    rc = ablate.main(["-opt", tiny_yml, "--grid", "path.pretrain_network_g=null,no_such_weights.pth",
                      "--jobs", "2", "--out", str(out), "--no-report"])
    said = capsys.readouterr().out
    assert rc == 1
    bad = "tiny__pretrain_network_g=no_such_weights.pth__seed7"
    assert re.search(rf"\[FAILED\] {re.escape(bad)}: exit code 2: error: path.pretrain_network_g: .*no_such_weights",
                     said)
    assert "1 trained, 0 skipped (already finished), 1 failed" in said
    good = out / "runs" / "tiny__pretrain_network_g=null__seed7"
    assert runner.is_finished(str(good), 4) and (good / "eval.json").is_file()
    assert "error: path.pretrain_network_g" in (out / "runs" / bad / "stdout.log").read_text()


def test_grid_cannot_set_what_the_sweep_owns(tiny_yml, tmp_path):
    with pytest.raises(OptionError, match="--grid seed"):
        grid.expand(tiny_yml, [grid.parse_grid("seed=1,2")], None, [], str(tmp_path))


# ------------------------------------------------------------------------------------------ report
def _row(cell, seed, psnr, niqe):
    return {"kind": "run", "run": f"{cell}__seed{seed}", "cell": cell, "seed": seed, "alpha": "", "val_set": "val",
            "iter": 4, "psnr": psnr, "ssim": 0.5, "lpips": "n/a", "niqe": niqe, "bicubic_psnr": 25.0,
            "bicubic_ssim": 0.4, "bicubic_lpips": "n/a", "bicubic_niqe": 9.0}


def test_table_is_mean_and_sample_std_over_seeds_with_best_marked():
    from sr_gan.ablation import report
    rows = [_row("gan.weight=0", 0, 30.0, 6.0), _row("gan.weight=0", 1, 32.0, 8.0),
            _row("gan.weight=1e-2", 0, 29.0, 4.0), _row("gan.weight=1e-2", 1, 29.5, 5.0)]
    cells = report.aggregate(rows)["val"]
    assert [c["cell"] for c in cells] == ["bicubic", "gan.weight=0", "gan.weight=1e-2"]
    mean, std, n = cells[1]["psnr"]
    assert (mean, n) == (31.0, 2) and std == pytest.approx(2 ** 0.5)       # sample std of {30, 32}
    assert cells[1]["lpips"] is None
    assert report.best_cells(cells) == {"psnr": "gan.weight=0", "ssim": "gan.weight=0", "niqe": "gan.weight=1e-2"}
    md = report.markdown(report.aggregate(rows), seeds=2)
    assert "| `gan.weight=0` | 2/2 | **31.00 ± 1.41** | **0.5000 ± 0.0000** | n/a | 7.000 ± 1.414 |" in md
    assert "| `gan.weight=1e-2` | 2/2 | 29.25 ± 0.35 | 0.5000 ± 0.0000 | n/a | **4.500 ± 0.707** |" in md
    assert "| bicubic | - | 25.00 | 0.4000 | n/a | 9.000 |" in md


def test_training_log_fallback_reads_losses_and_validation(tmp_path):
    from sr_gan.ablation.plots import read_train_log
    log = tmp_path / "train.log"
    log.write_text("2026-01-01 00:00:00 INFO: iter 2/4: l_g_pix=0.5 lr=0.001\n"
                   "2026-01-01 00:00:01 INFO: iter 4/4 (0.5 it/s, ETA 0.0 min): l_g_pix=0.25 l_g_gan=1e-3\n"
                   "2026-01-01 00:00:02 INFO: validation at iteration 4:\n| set | metric | model | bicubic |\n"
                   "|---|---|---|---|\n| val | psnr | 27.5 | 26.0 |\n")
    series = read_train_log(str(log))
    assert series["train/l_g_pix"] == [(2, 0.5), (4, 0.25)] and series["train/l_g_gan"] == [(4, 0.001)]
    assert series["val/val/psnr"] == [(4, 27.5)]
