"""The flags of every script (issue 14): a bad value is one `error:` line, exit 2, before any work, and
earlier outputs, models and experiments keep their names and bytes.

Most cases call the script's main(argv) in this process (argparse errors take the same path as every
other user error: cli.ArgumentParser raises UsageError, run_cli prints it). A few run as real processes,
all at once, to prove what a user sees at the shell: exit status 2, one line, no traceback.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess

import pytest
import torch

from bad_input_utils import assert_fails, finish, start
from reliability_utils import assert_one_line_error, tiny_options, write_options, write_photos
from sr_gan import cli
from sr_gan.errors import SRGanError, UsageError
from sr_gan.registry import ARCHS


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A generator checkpoint, a folder of photos, an empty folder, a plain file, an output folder holding
    an earlier result, and a finished-looking experiment folder."""
    root = tmp_path_factory.mktemp("bad_flags")
    model = root / "gen.pth"
    torch.save({"params": ARCHS.build({"type": "msrresnet", "num_feat": 8, "num_block": 1}, scale=4).state_dict()},
               model)
    hr = os.path.dirname(write_photos(root / "hr", count=2, size=48)[0])
    (root / "empty").mkdir()
    (root / "notes.txt").write_text("a file, not a folder")
    out = root / "out"
    out.mkdir()
    (out / "img0.png").write_bytes(b"an earlier output")
    exp = root / "exp" / "tiny" / "checkpoints"
    exp.mkdir(parents=True)
    (exp / "iter_00000005.pth").write_bytes(b"stands for a checkpoint")
    yml = write_options(root / "tiny.yml", tiny_options(hr, str(root / "exp")))
    return {"root": root, "model": model, "hr": hr, "empty": root / "empty", "file": root / "notes.txt",
            "out": out, "exp": root / "exp", "yml": yml}


def _guard(files) -> list:
    return [files["out"], files["exp"], files["model"].parent / "hr"]


# ----------------------------------------------------------------------------- scripts/upscale.py

@pytest.mark.parametrize("extra, needles", [
    (["--tile", "-8"], ["argument --tile", "expected an integer >= 0, got -8"]),
    (["--tile-pad", "-1"], ["argument --tile-pad", "expected an integer >= 0, got -1"]),
    (["--outscale", "0"], ["argument --outscale", "expected a number > 0, got 0"]),
    (["--outscale", "nan"], ["argument --outscale", "expected a finite number"]),
    (["--scale", "0"], ["argument --scale", "expected an integer >= 1, got 0"]),
    (["--num-feat", "x"], ["argument --num-feat", "expected an integer, got 'x'"]),
    (["--device", "gpu"], ["argument --device", "expected auto, cpu, cuda, cuda:N or mps, got 'gpu'"]),
    (["--suffix", "../x"], ["argument --suffix", "would write outside -o"]),
    (["--arch", "rrdbnett"], ["--arch: unknown generator 'rrdbnett'; known: msrresnet, rrdbnet"]),
])
def test_upscale_flag_values(capsys, files, extra, needles):
    assert_fails(capsys, "sr_gan.commands.upscale", ["-i", files["hr"], "-o", files["out"], "--model", files["model"], *extra],
          *needles, guard=_guard(files))


def test_upscale_paths_of_the_wrong_kind_and_inputs_that_match_nothing(capsys, files):
    base = ["--model", files["model"]]
    assert_fails(capsys, "sr_gan.commands.upscale", ["-i", files["hr"], "-o", files["file"], *base], "argument -o/--output",
          "notes.txt' is a file, expected a folder", guard=_guard(files) + [files["file"]])
    assert_fails(capsys, "sr_gan.commands.upscale", ["-i", files["empty"], "-o", files["out"], *base], f"-i {files['empty']}",
          "no images in this folder", guard=_guard(files))
    assert_fails(capsys, "sr_gan.commands.upscale", ["-i", files["root"] / "*.jpg", "-o", files["out"], *base],
          "no image matches it as a glob", guard=_guard(files))
    assert_fails(capsys, "sr_gan.commands.upscale", ["-i", files["file"], "-o", files["out"], *base], "notes.txt",
          "not an image file", guard=_guard(files))
    assert_fails(capsys, "sr_gan.commands.upscale", ["-i", files["hr"], "-o", files["out"], "--model", files["root"] / "no.pth"],
          "argument --model", "no.pth' does not exist", guard=_guard(files))


# ----------------------------------------------------------------------------- scripts/test_sr.py

@pytest.mark.parametrize("extra, needles", [
    (["--scale", "0"], ["argument --scale", "expected an integer >= 1, got 0"]),
    (["--tile", "-1"], ["argument --tile", "expected an integer >= 0"]),
    (["--tile-pad", "-3"], ["argument --tile-pad", "expected an integer >= 0"]),
    (["--metrics", "psnr,sssim"], ["--metrics[1].type: unknown metric 'sssim' (did you mean 'ssim'?)"]),
    (["--metrics", "psnr", "--metric-arg", "psnr.crop=2"], ["--metrics[0].crop: unknown option"]),
    (["--metrics", "psnr", "--metric-arg", "lpips.net=vgg"], ["--metric-arg lpips.net", "not among the metrics"]),
    (["--metric-arg", "lpips.net=vgq", "--metrics", "lpips"], ["--metrics[0].net: 'vgq' is not one of alex, vgg"]),
    (["--lpips-backbone", "absent.pth"], ["argument --lpips-backbone", "'absent.pth' does not exist"]),
    (["--device", "tpu"], ["argument --device"]),
])
def test_test_sr_flag_values(capsys, files, extra, needles):
    assert_fails(capsys, "sr_gan.commands.test_sr", ["--model", files["model"], "--hr", files["hr"], "--out", files["out"], *extra],
          *needles, guard=_guard(files))


def test_test_sr_paths_of_the_wrong_kind_and_inputs_that_match_nothing(capsys, files):
    model = ["--model", files["model"]]
    assert_fails(capsys, "sr_gan.commands.test_sr", [*model, "--hr", files["hr"], "--csv", files["out"]], "argument --csv",
          "is a folder, expected a file name", guard=_guard(files))
    assert_fails(capsys, "sr_gan.commands.test_sr", [*model, "--hr", files["hr"], "--out", files["file"]], "argument --out",
          "is a file, expected a folder", guard=_guard(files) + [files["file"]])
    assert_fails(capsys, "sr_gan.commands.test_sr", [*model, "--hr", files["empty"]], "argument --hr", "no images in",
          guard=_guard(files))
    assert_fails(capsys, "sr_gan.commands.test_sr", ["--sr", files["root"] / "absent", "--hr", files["hr"]], "argument --sr",
          "absent' does not exist", guard=_guard(files))
    assert_fails(capsys, "sr_gan.commands.test_sr", ["--sr", files["hr"]], "--hr is required", guard=_guard(files))


# ----------------------------------------------------------------------------- scripts/export.py

def test_export_flags(capsys, files):
    model = ["--model", files["model"]]
    assert_fails(capsys, "sr_gan.commands.export", [*model, "--format", "safetensors", "-o", files["out"]], "argument -o/--output",
          "is a folder, expected a file name", guard=_guard(files))
    assert_fails(capsys, "sr_gan.commands.export", [*model, "--format", "onnx", "--opset", "3", "-o", files["root"] / "g.onnx"],
          "argument --opset", "expected an integer >= 7, got 3", guard=_guard(files))
    assert_fails(capsys, "sr_gan.commands.export", [*model, "--format", "pt"], "argument --format", "invalid choice: 'pt'",
          guard=_guard(files))
    assert_fails(capsys, "sr_gan.commands.export", [*model, "--format", "safetensors", "-o", files["model"]], "argument -o",
          "is the input checkpoint", guard=_guard(files))
    taken = files["root"] / "gen.safetensors"           # the default output name is a folder
    taken.mkdir()
    assert_fails(capsys, "sr_gan.commands.export", [*model, "--format", "safetensors"], "argument -o",
          "gen.safetensors' is a folder; pass -o FILE", guard=_guard(files) + [taken])


# ----------------------------------------------------------------------------- scripts/interpolate.py

@pytest.mark.parametrize("extra, needles", [
    (["--alphas", "0,2"], ["argument --alphas", "'0,2': expected comma-separated numbers in [0, 1]"]),
    (["--alphas", "a"], ["argument --alphas", "in [0, 1]"]),
    (["--scale", "0"], ["argument --scale", "expected an integer >= 1"]),
    (["--hr", "absent_folder"], ["argument --hr", "folder 'absent_folder' does not exist"]),
    (["--ablation", "notes.txt"], ["argument --ablation"]),
    (["--hr", "empty"], ["argument --hr", "no images in"]),
])
def test_interpolate_flags(capsys, files, extra, needles):
    extra = [str(files["file"]) if e == "notes.txt" else str(files["empty"]) if e == "empty" else e for e in extra]
    assert_fails(capsys, "sr_gan.commands.interpolate", ["--psnr", files["model"], "--gan", files["model"], "--out", files["out"],
                                             *extra], *needles, guard=_guard(files))


def test_interpolate_output_of_the_wrong_kind(capsys, files):
    assert_fails(capsys, "sr_gan.commands.interpolate", ["--psnr", files["model"], "--gan", files["model"], "--out", files["file"]],
          "argument --out", "is a file, expected a folder", guard=_guard(files) + [files["file"]])


# ----------------------------------------------------------------------------- scripts/ablate.py

def test_ablate_flags_and_options(capsys, files):
    sweep = files["root"] / "sweep"
    assert_fails(capsys, "sr_gan.commands.ablate", ["-opt", files["yml"], "--jobs", "0", "--out", sweep], "argument --jobs",
          "expected an integer >= 1, got 0", guard=_guard(files))
    assert_fails(capsys, "sr_gan.commands.ablate", ["-opt", files["yml"], "--out", files["file"]], "argument --out",
          "is a file", guard=_guard(files) + [files["file"]])
    assert_fails(capsys, "sr_gan.commands.ablate", ["-opt", files["yml"], "--seeds", "1,x", "--out", sweep], "--seeds '1,x'",
          guard=_guard(files))
    val_only = write_options(files["root"] / "val_only.yml", {**tiny_options(files["hr"], str(files["exp"])),
                                                               "datasets": {"val": {"hr": files["hr"]}}})
    assert_fails(capsys, "sr_gan.commands.ablate", ["-opt", val_only, "--out", sweep], val_only, "datasets.train: missing",
          guard=_guard(files))
    assert not sweep.exists()


# ----------------------------------------------------------------------------- datasets/prepare.py

@pytest.mark.parametrize("argv, needles", [
    (["lr", "--hr", "{hr}", "--out", "{new}", "--scale", "0"], ["argument --scale", "expected an integer >= 1, got 0"]),
    (["lr", "--hr", "{empty}", "--out", "{new}"], ["argument --hr", "no images in"]),
    (["lr", "--hr", "{hr}", "--out", "{file}"], ["argument --out", "is a file, expected a folder"]),
    (["extract", "--input", "{hr}", "--output", "{new}", "--crop", "0"], ["argument --crop", "expected an integer >= 1"]),
    (["extract", "--input", "{hr}", "--output", "{new}", "--step", "0"], ["argument --step", "expected an integer >= 1"]),
    (["extract", "--input", "{hr}", "--output", "{new}", "--thresh-size", "-1"], ["argument --thresh-size"]),
    (["extract", "--input", "{hr}", "--output", "{new}", "--workers", "0"], ["argument --workers"]),
    (["lmdb", "--input", "{hr}", "--output", "{new}.lmdb", "--compress", "10"],
     ["argument --compress", "expected an integer between 0 and 9, got 10"]),
    (["lmdb", "--input", "{empty}", "--output", "{new}.lmdb"], ["argument --input", "no images in"]),
    (["check", "DIV3K"], ["argument name", "unknown dataset 'DIV3K'; known: DIV2K"]),
    (["demo", "--out", "{file}"], ["argument --out", "is a file"]),
])
def test_prepare_flags(capsys, files, argv, needles):
    new = files["root"] / "prepared"
    argv = [a.format(hr=files["hr"], empty=files["empty"], file=files["file"], new=new) for a in argv]
    assert_fails(capsys, "sr_gan.commands.prepare", argv, *needles, guard=_guard(files) + [files["file"]])
    assert not new.exists() and not os.path.exists(f"{new}.lmdb")


# ----------------------------------------------------------------------------- scripts/convert_options.py

BASICSR_FILE = "name: ESRGAN_x4\nscale: 4\nnetwork_g:\n  type: RRDBNet\n  num_feat: 64\n"


def test_convert_options_flags(capsys, files):
    src = files["root"] / "train_ESRGAN_x4.yml"
    src.write_text(BASICSR_FILE)
    guard = _guard(files) + [src]
    assert_fails(capsys, "sr_gan.commands.convert_options", [files["root"] / "absent.yml"], "argument source",
          "absent.yml' does not exist", guard=guard)
    assert_fails(capsys, "sr_gan.commands.convert_options", [files["empty"]], "argument source",
          "is a folder, expected a file", guard=guard)
    assert_fails(capsys, "sr_gan.commands.convert_options", [src, "-o", files["out"]], "argument -o/--output",
          "is a folder, expected a file name", guard=guard)
    assert_fails(capsys, "sr_gan.commands.convert_options", [src, "-o", src], "argument -o",
          "is the source file; refusing to overwrite it", guard=guard)
    assert_fails(capsys, "sr_gan.commands.convert_options", [src, "--set", "scale"], "argument --set",
          "override 'scale': expected key.sub=value", guard=guard)


def test_convert_options_reads_the_source_with_the_strict_yaml_reader(capsys, files):
    dup = files["root"] / "dup_basicsr.yml"
    dup.write_text(BASICSR_FILE + "scale: 2\n")                  # plain yaml.safe_load would keep scale 2
    out = files["root"] / "converted.yml"
    assert_fails(capsys, "sr_gan.commands.convert_options", [dup, "-o", out], str(dup),
          "key 'scale' appears twice, at line 2 and line 6", guard=_guard(files) + [dup])
    assert not out.exists()


# ----------------------------------------------------------------------------- bench/*, sr_gan.weights

@pytest.mark.parametrize("relpath, argv, needles", [
    ("bench/degrade.py", ["--batch", "0"], ["argument --batch", "expected an integer >= 1, got 0"]),
    ("bench/degrade.py", ["--workers", "0", "-2"], ["argument --workers", "expected an integer >= 0, got -2"]),
    ("bench/degrade.py", ["--device", "gpu"], ["argument --device", "expected auto, cpu, cuda, cuda:N or mps"]),
    ("bench/jpeg_vs_libjpeg.py", ["--qualities", "0"],
     ["argument --qualities", "expected an integer between 1 and 100, got 0"]),
    ("bench/jpeg_vs_libjpeg.py", ["--qualities", "50", "101"], ["argument --qualities", "got 101"]),
    ("bench/upscale.py", ["--sizes", "1,0"], ["argument --sizes", "'1,0': expected a number > 0, got 0"]),
    ("bench/upscale.py", ["--sizes", "1,,4"], ["argument --sizes", "expected comma-separated values"]),
    ("bench/upscale.py", ["--tile", "-1"], ["argument --tile"]),
    ("bench/train_step.py", ["--hr", "30"], ["argument --hr", "30 is not a multiple of 4"]),
    ("bench/train_step.py", ["--batch", "0"], ["argument --batch", "expected an integer >= 1"]),
    ("bench/data.py", ["--batches", "0"], ["argument --batches"]),
    ("bench/data.py", ["--mode", "restart", "--workers", "-1"], ["argument --workers", "expected an integer >= 0"]),
])
def test_benchmark_flags(capsys, files, relpath, argv, needles):
    assert_fails(capsys, relpath, argv, *needles, guard=_guard(files))


@pytest.mark.skipif(torch.cuda.is_available(), reason="the case needs a machine without CUDA")
def test_degrade_benchmark_refuses_a_missing_device_before_any_work(capsys, files):
    assert_fails(capsys, "bench/degrade.py", ["--device", "cuda", "--skip-basicsr"], "--device cuda",
          "CUDA is not available on this machine", guard=_guard(files))


@pytest.mark.skipif(importlib.util.find_spec("basicsr") is not None, reason="BasicSR is importable here")
def test_degrade_benchmark_without_basicsr_says_how_to_get_it_or_skip_it(capsys, files):
    assert_fails(capsys, "bench/degrade.py", ["--iters", "1", "--workers", "0"], "BasicSR 1.4.2 is not importable",
          "--skip-basicsr", guard=_guard(files))


def test_weights_command_flags(capsys, files):
    from sr_gan import weights
    for argv, needles in ((["install", str(files["file"])], ["argument DIR", "is a file, expected a folder"]),
                          (["fetch", "vgg91"], ["unknown weight file 'vgg91'"]),
                          (["instal"], ["argument command", "invalid choice: 'instal'"])):
        capsys.readouterr()
        code = weights.main(argv)
        assert_one_line_error(subprocess.CompletedProcess(argv, code, "", capsys.readouterr().err), *needles)


# ----------------------------------------------------------------------------- one error path

def test_run_cli_prints_user_errors_and_keeps_the_traceback_of_bugs(capsys):
    def usage():
        raise UsageError("argument --x: bad")
    assert cli.run_cli(usage) == 2 and capsys.readouterr().err == "error: argument --x: bad\n"

    def registry():
        ARCHS.get("rrdbnett")
    assert cli.run_cli(registry) == 2
    assert capsys.readouterr().err.startswith("error: unknown network type 'rrdbnett' (did you mean 'rrdbnet'?)")

    def bug():
        raise ZeroDivisionError("a real bug")
    with pytest.raises(ZeroDivisionError):        # no catch-all: a bug shows its traceback
        cli.run_cli(bug)
    with pytest.raises(SystemExit) as info:       # --help still prints usage and exits 0
        cli.ArgumentParser(prog="x").parse_args(["--help"])
    assert info.value.code == 0
    assert issubclass(UsageError, SRGanError)


def test_real_processes_exit_2_with_one_line(files, tmp_path):
    """What a user sees at the shell, for one mistake per kind of entry point (started together)."""
    dup = tmp_path / "dup.yml"
    dup.write_text(open(files["yml"]).read() + "seed: 3\n")
    cases = {
        "train_sr.py": (["-opt", dup], [str(dup), "key 'seed' appears twice"]),
        "scripts/upscale.py": (["-i", files["hr"], "-o", files["out"], "--model", files["model"], "--tile", "-8"],
                               ["argument --tile", "(see upscale.py --help)"]),
        "datasets/prepare.py": (["lr", "--hr", files["hr"], "--out", tmp_path / "lr", "--scale", "0"],
                                ["argument --scale", "(see prepare.py lr --help)"]),
        "sr_gan.weights": (["install", files["file"]], ["argument DIR", "(see python -m sr_gan.weights install --help)"]),
        "bench/upscale.py": (["--sizes", "0"], ["argument --sizes", "(see upscale.py --help)"]),
    }
    before = {k: v for k, v in os.environ.items()}
    procs = {name: start(name, argv) for name, (argv, _) in cases.items()}
    for name, proc in procs.items():
        assert_one_line_error(finish(proc), *cases[name][1])
    assert dict(os.environ) == before and not (tmp_path / "lr").exists()
