"""Metrics with arguments: `val.metrics` entries such as {type: lpips, net: vgg, backbone_path: FILE},
validated from the metric class's constructor, reaching validation during training, scripts/test_sr.py's
--lpips-net / --lpips-backbone / --metric-arg, and benchmark files."""
from __future__ import annotations

import os
import typing

import numpy as np
import pytest
import torch
from torchvision.models import alexnet

from sr_gan import options
from sr_gan.errors import OptionError
from sr_gan.metrics.lpips_metric import BACKBONES, LPIPS
from sr_gan.utils.image_io import write_image



@pytest.fixture(scope="module")
def alex_files(tmp_path_factory):
    """Two different seeded random torchvision AlexNets (stand-ins for real backbones)."""
    folder = tmp_path_factory.mktemp("alex")
    paths = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        paths.append(str(folder / f"alex{seed}.pth"))
        torch.save({f"features.{k}": v for k, v in alexnet(weights=None).features.state_dict().items()}, paths[-1])
    return paths


def _load(tmp_path, metrics) -> dict:
    import yaml
    path = tmp_path / "o.yml"
    path.write_text(yaml.safe_dump({"name": "m", "scale": 4, "val": {"metrics": metrics}}))
    return options.load(str(path), check_paths=False)


def test_entries_with_arguments_are_validated_and_labelled(tmp_path):
    opt = _load(tmp_path, ["psnr", {"type": "lpips", "net": "vgg"},
                           {"type": "lpips", "name": "lpips_mine", "backbone_path": "/w/alex.pth"}])
    assert opt["val"]["metrics"] == ["psnr", {"type": "lpips", "net": "vgg", "name": "lpips"},
                                     {"type": "lpips", "name": "lpips_mine", "backbone_path": "/w/alex.pth"}]
    assert _load(tmp_path, None)["val"]["metrics"] == ["psnr", "ssim"]


@pytest.mark.parametrize("metrics, needle", [
    ([{"type": "lpips", "nett": "vgg"}], "val.metrics[0].nett: unknown option (did you mean 'net'?)"),
    (["ssim", {"type": "lpips", "net": "vgq"}], "val.metrics[1].net: 'vgq' is not one of alex, vgg"),
    (["psnr", {"type": "lpips"}, {"type": "lpips", "net": "vgg"}], "val.metrics[2].name: 'lpips' is also the name of val.metrics[1]"),
    (["psnrr"], "val.metrics[0].type: unknown metric 'psnrr' (did you mean 'psnr'?)"),
    ([{"type": "niqe", "crop_border": 2}], "val.metrics[0].crop_border: unknown option"),
    ([{"type": "lpips", "backbone_path": 3}], "val.metrics[0].backbone_path: expected str, got int 3"),
    ("psnr", "val.metrics: expected a list"),
])
def test_bad_entries_are_one_line_naming_file_and_key(tmp_path, metrics, needle):
    with pytest.raises(OptionError) as info:
        _load(tmp_path, metrics)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(f"{tmp_path / 'o.yml'}: ") and needle in msg, msg


def test_lpips_net_choices_are_the_backbones_it_can_load():
    hints = typing.get_type_hints(LPIPS.__init__)
    assert typing.get_args(hints["net"]) == tuple(BACKBONES)


def test_training_validation_uses_the_arguments(tiny_sr_data, tmp_path, alex_files):
    """Two LPIPS columns with different backbones, and a VGG one whose weights are missing (offline)."""
    from conftest import tiny_options
    from sr_gan import train
    from sr_gan.validation import build_metrics
    metrics = ["psnr", {"type": "lpips", "name": "lpips_a", "backbone_path": alex_files[0]},
               {"type": "lpips", "name": "lpips_b", "backbone_path": alex_files[1]},
               {"type": "lpips", "net": "vgg", "name": "lpips_vgg"}]
    opt = tiny_options(tiny_sr_data, str(tmp_path), train__total_iter=2, val__metrics=metrics)
    results = train.run(opt)["val"]["model"]
    assert list(results) == ["psnr", "lpips_a", "lpips_b", "lpips_vgg"]
    assert results["lpips_vgg"] == "n/a"            # as test_sr.py prints it; the reason is logged
    log = open(os.path.join(tmp_path, "tiny", "train.log"), encoding="utf-8").read()
    assert "val.metrics: lpips_vgg unavailable: vgg16 weights vgg16-397923af.pth" in log
    # each column is the metric built with its own backbone file (scored on the same pair here)
    built = build_metrics(opt["val"]["metrics"], 4, True, "cpu")
    a, b = built["lpips_a"], built["lpips_b"]
    saved = torch.load(alex_files[1], weights_only=True)
    assert torch.equal(getattr(b.model.net.slice1, "0").weight, saved["features.0.weight"])
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (48, 48, 3)).astype(np.float32)
    y = np.clip(x + rng.normal(0, 0.1, x.shape), 0, 1).astype(np.float32)
    assert a(x, y) == pytest.approx(LPIPS(backbone_path=alex_files[0], crop_border=4)(x, y), rel=1e-6)
    assert abs(a(x, y) - b(x, y)) > 1e-6


# ----------------------------------------------------------------------------- scripts/test_sr.py

def _test_sr(capsys, *args) -> tuple[int, str, str]:
    from sr_gan.commands import test_sr as module
    capsys.readouterr()
    code = module.main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def sr_hr(tmp_path):
    rng = np.random.default_rng(3)
    for i in range(2):
        hr = rng.integers(30, 220, (64, 64, 3)).astype(np.uint8)
        write_image(tmp_path / "HR" / f"im{i}.png", hr)
        write_image(tmp_path / "SR" / f"im{i}.png", np.clip(hr.astype(int) + 6, 0, 255).astype(np.uint8))
    return tmp_path / "SR", tmp_path / "HR"


def _mean_row(out: str) -> dict:
    lines = [line for line in out.splitlines() if line.startswith("| ")]
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    row = next(line for line in lines if line.startswith("| mean |"))
    return dict(zip(head, [c.strip() for c in row.strip("|").split("|")]))


def test_test_sr_lpips_flags(capsys, sr_hr, alex_files):
    sr, hr = sr_hr
    code, out, _ = _test_sr(capsys, "--sr", sr, "--hr", hr, "--metrics", "psnr,lpips", "--lpips-backbone", alex_files[1])
    assert code == 0
    with_flag = float(_mean_row(out)["lpips"])
    code, out, _ = _test_sr(capsys, "--sr", sr, "--hr", hr, "--metrics", "psnr,lpips",
                            "--metric-arg", f"lpips.backbone_path={alex_files[1]}")
    assert code == 0 and float(_mean_row(out)["lpips"]) == with_flag
    from sr_gan.utils.image_io import read_image
    expected = np.mean([LPIPS(backbone_path=alex_files[1], crop_border=4)(read_image(sr / f"im{i}.png")[0],
                                                                            read_image(hr / f"im{i}.png")[0])
                        for i in range(2)])
    assert with_flag == pytest.approx(expected, abs=1e-4)          # the table prints 4 decimals
    code, out, _ = _test_sr(capsys, "--sr", sr, "--hr", hr, "--metrics", "psnr,lpips", "--lpips-net", "vgg")
    assert code == 0 and _mean_row(out)["lpips"] == "n/a"
    assert "note: lpips: n/a -- vgg16 weights vgg16-397923af.pth" in out


@pytest.mark.parametrize("args, needle", [
    (["--metric-arg", "lpips.nett=vgg"], "error: --metrics[1].nett: unknown option (did you mean 'net'?)"),
    (["--metric-arg", "niqe.crop_border=1"], "error: --metric-arg niqe.crop_border: 'niqe' is not among the metrics (psnr, lpips)"),
    (["--metric-arg", "lpips.net=squeeze"], "error: --metrics[1].net: 'squeeze' is not one of alex, vgg"),
])
def test_test_sr_bad_metric_arguments_are_one_line(capsys, sr_hr, args, needle):
    sr, hr = sr_hr
    code, _, err = _test_sr(capsys, "--sr", sr, "--hr", hr, "--metrics", "psnr,lpips", *args)
    assert code == 2 and err.strip().splitlines() == [err.strip().splitlines()[-1]] and needle in err, err


def test_test_sr_malformed_metric_arg_is_an_argparse_error(capsys, sr_hr):
    sr, hr = sr_hr
    code, _, err = _test_sr(capsys, "--sr", sr, "--hr", hr, "--metric-arg", "lpips")
    assert code == 2 and err.startswith("error: argument --metric-arg: 'lpips': expected TYPE.KEY=VALUE")


def test_benchmark_file_takes_metric_sections(tmp_path):
    from sr_gan.evaluation import load_benchmarks
    good = tmp_path / "b.yml"
    good.write_text("metrics: [psnr, {type: lpips, net: vgg, name: lpips_vgg}]\nsets: {A: {hr: x}}\n")
    assert load_benchmarks(good)["metrics"] == ["psnr", {"type": "lpips", "net": "vgg", "name": "lpips_vgg"}]
    bad = tmp_path / "bad.yml"
    bad.write_text("metrics: [psnr, {type: lpips, nett: vgg}]\nsets: {A: {hr: x}}\n")
    with pytest.raises(OptionError, match=r"bad\.yml: metrics\[1\]\.nett: unknown option"):
        load_benchmarks(bad)
