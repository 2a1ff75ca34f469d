"""ESRGAN network interpolation: exact at the ends, the convex combination in between, readable by
load_generator, and a one-line error naming keys when the two generators do not match."""
import pytest
import torch

from sr_gan.ablation import interpolation
from sr_gan.archs.msrresnet import MSRResNet
from sr_gan.commands import interpolate as interp_cli
from sr_gan.errors import CheckpointError
from sr_gan.inference import load_generator

NET = {"type": "msrresnet", "num_feat": 8, "num_block": 1}


def _checkpoint(path, seed, ema_shift, num_block=1):
    """Our training-checkpoint layout; g_ema differs from g so the test sees which one is used."""
    torch.manual_seed(seed)
    g = MSRResNet(num_feat=8, num_block=num_block, scale=4).state_dict()
    ema = {k: v + ema_shift for k, v in g.items()}
    torch.save({"iter": 10 * seed, "nets": {"g": g, "g_ema": ema},
                "opt": {"name": f"s{seed}", "scale": 4, "network_g": {**NET, "num_block": num_block}}}, path)
    return ema


def test_alpha_ends_are_exact_and_middle_is_the_convex_combination(tmp_path):
    psnr = _checkpoint(tmp_path / "psnr.pth", 1, 0.25)
    gan = _checkpoint(tmp_path / "gan.pth", 2, -0.5)
    out = tmp_path / "interp"
    assert interp_cli.main(["--psnr", str(tmp_path / "psnr.pth"), "--gan", str(tmp_path / "gan.pth"),
                            "--alphas", "0,0.25,1", "--out", str(out)]) == 0
    for alpha, want in ((0.0, psnr), (1.0, gan)):
        got = torch.load(out / f"interp_alpha={alpha:g}.pth", weights_only=True)
        assert got["iter"] == 20 and got["opt"]["name"] == "s2"
        for net in ("g", "g_ema"):
            assert got["nets"][net].keys() == want.keys()
            assert all(torch.equal(got["nets"][net][k], want[k]) for k in want)
    mid = torch.load(out / "interp_alpha=0.25.pth", weights_only=True)["nets"]["g_ema"]
    for k in psnr:
        assert torch.allclose(mid[k], 0.75 * psnr[k] + 0.25 * gan[k], atol=1e-6), k
    net, scale, _ = load_generator(str(out / "interp_alpha=0.25.pth"))
    assert scale == 4 and torch.equal(net.state_dict()["conv_first.weight"], mid["conv_first.weight"])


def test_non_float_tensors_come_from_the_nearer_end():
    p = {"w": torch.zeros(2), "n": torch.tensor(3)}
    g = {"w": torch.ones(2), "n": torch.tensor(9)}
    assert interpolation.interpolate(p, g, 0.4)["n"] == 3 and interpolation.interpolate(p, g, 0.6)["n"] == 9
    assert torch.equal(interpolation.interpolate(p, g, 0.4)["w"], torch.full((2,), 0.4))


def test_mismatched_keys_fail_in_one_line_naming_them(tmp_path, capsys):
    _checkpoint(tmp_path / "a.pth", 1, 0.0, num_block=1)
    _checkpoint(tmp_path / "b.pth", 2, 0.0, num_block=2)
    rc = interp_cli.main(["--psnr", str(tmp_path / "a.pth"), "--gan", str(tmp_path / "b.pth"), "--out",
                          str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1
    assert "only in --gan: body.1.conv1.weight" in err and "only in --psnr" not in err
    with pytest.raises(CheckpointError, match="differ in shape: w \\[2\\] vs \\[3\\]"):
        interpolation.interpolate({"w": torch.zeros(2)}, {"w": torch.zeros(3)}, 0.5)


def test_evaluated_curve_is_added_to_an_ablation(tmp_path, tiny_sr_data, capsys):
    """--ablation: the interpolated models are scored on the sweep's validation set and appear in
    its results.csv / results.md as their own rows."""
    from sr_gan.ablation import report
    _checkpoint(tmp_path / "psnr.pth", 1, 0.0)
    _checkpoint(tmp_path / "gan.pth", 2, 0.0)
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    opt = {"val": {"y_channel": True}, "scale": 4, "seed": 0,
           "datasets": {"val": {"type": "paired", "hr": f"{tiny_sr_data}/val/HR"}}}
    report.write_json(sweep / report.MANIFEST, {"options": "x.yml", "prefix": "x", "grid": [], "seeds": [0],
                                                "val_sets": {"val": {"hr": f"{tiny_sr_data}/val/HR", "lr": None}},
                                                "opt": opt, "runs": []})
    assert interp_cli.main(["--psnr", str(tmp_path / "psnr.pth"), "--gan", str(tmp_path / "gan.pth"),
                            "--alphas", "0,1", "--out", str(tmp_path / "o"), "--ablation", str(sweep)]) == 0
    rows = list(__import__("csv").DictReader(open(sweep / "results.csv")))
    assert [(r["kind"], r["alpha"]) for r in rows] == [("interpolation", "0.0"), ("interpolation", "1.0")]
    assert rows[0]["psnr"] != rows[1]["psnr"] and float(rows[0]["psnr"]) > 5
    assert "interp_alpha=0" in (sweep / "results.md").read_text()
    assert (sweep / "perception_distortion.png").is_file() and (sweep / "report.html").is_file()
