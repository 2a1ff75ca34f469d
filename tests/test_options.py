"""Option files: inheritance, overrides, defaults, and the one-line errors."""
import os
import subprocess
import sys

import pytest
import yaml

from sr_gan import options
from sr_gan.errors import OptionError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write(tmp_path, name, data):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data) if isinstance(data, dict) else data)
    return str(p)


BASE = {"name": "t", "scale": 4, "network_g": {"type": "msrresnet", "num_feat": 16, "num_block": 2},
        "train": {"total_iter": 10, "optim_g": {"lr": 2.0e-4}}}


def test_defaults_filled_and_types(tmp_path):
    opt = options.load(write(tmp_path, "a.yml", BASE))
    assert opt["model"] == "sr" and opt["train"]["optim_g"]["type"] == "adam"
    assert opt["train"]["optim_g"]["lr"] == pytest.approx(2e-4)
    assert opt["val"]["crop_border"] == 4                       # default crop border = scale
    assert opt["train"]["pixel"] == {"type": "l1", "weight": 1.0} or opt["train"]["pixel"] is None


def test_yaml11_exponent_string_is_a_float(tmp_path):
    data = dict(BASE, train={"total_iter": 10, "optim_g": {"lr": "1e-4"}})
    opt = options.load(write(tmp_path, "a.yml", data))
    assert opt["train"]["optim_g"]["lr"] == pytest.approx(1e-4)


def test_base_inheritance_and_overrides(tmp_path):
    write(tmp_path, "base.yml", BASE)
    child = write(tmp_path, "child.yml", {"base": "base.yml", "name": "child",
                                          "network_g": {"type": "msrresnet", "num_block": 3}})
    opt = options.load(child, ["train.total_iter=77", "train.optim_g.betas=[0.5, 0.9]", "seed=3"])
    assert opt["name"] == "child"
    assert opt["network_g"] == {"type": "msrresnet", "num_feat": 16, "num_block": 3}   # merged, same type
    assert opt["train"]["total_iter"] == 77 and opt["seed"] == 3
    assert opt["train"]["optim_g"]["betas"] == [0.5, 0.9]
    assert opt["train"]["optim_g"]["lr"] == pytest.approx(2e-4)                     # inherited


def test_changing_type_replaces_the_section(tmp_path):
    write(tmp_path, "base.yml", BASE)
    child = write(tmp_path, "c.yml", {"base": "base.yml", "network_g": {"type": "rrdbnet", "num_block": 1}})
    assert options.load(child)["network_g"] == {"type": "rrdbnet", "num_block": 1}


@pytest.mark.parametrize("data, needle", [
    (dict(BASE, trian={}), "trian: unknown option (did you mean 'train'?)"),
    (dict(BASE, train={"total_iter": "many"}), "train.total_iter: expected int, got str 'many'"),
    (dict(BASE, train={"total_iter": 5, "optim_g": {"lr": -1.0}}), "train.optim_g.lr: must be >= 0"),
    ({k: v for k, v in BASE.items() if k != "scale"}, "scale: missing (required)"),
    (dict(BASE, network_g={"type": "rrdbnett"}), "network_g.type: unknown network 'rrdbnett' (did you mean 'rrdbnet'?)"),
    (dict(BASE, network_g={"type": "rrdbnet", "num_feats": 3}), "network_g.num_feats: unknown option (did you mean 'num_feat'?)"),
    (dict(BASE, model="srgan"), "network_d: missing (required by model: srgan)"),
    (dict(BASE, train={"total_iter": 5, "amp": "fp8"}), "train.amp: 'fp8' is not one of none, bf16, fp16"),
])
def test_errors_name_file_and_key(tmp_path, data, needle):
    path = write(tmp_path, "bad.yml", data)
    with pytest.raises(OptionError) as e:
        options.load(path)
    msg = str(e.value)
    assert needle in msg and msg.startswith(path) and "\n" not in msg


def test_invalid_yaml_syntax(tmp_path):
    path = write(tmp_path, "bad.yml", "name: x\nscale: [4\n")
    with pytest.raises(OptionError, match=r"invalid YAML at line \d+"):
        options.load(path)


def test_missing_dataset_folder(tmp_path):
    data = dict(BASE, datasets={"train": {"type": "paired", "hr": str(tmp_path / "nope"), "crop": 32}})
    with pytest.raises(OptionError, match=r"datasets\.train\.hr: folder '.*nope' does not exist"):
        options.load(write(tmp_path, "a.yml", data))


def test_every_shipped_option_file_validates():
    for f in sorted(os.listdir(os.path.join(ROOT, "options"))):
        if f.endswith(".yml"):
            opt = options.load(os.path.join(ROOT, "options", f), check_paths=False)
            assert opt["name"] and opt["scale"] in (2, 3, 4, 8)


def test_rrdb_psnr_without_div2k_is_one_line(tmp_path):
    r = subprocess.run([sys.executable, os.path.join(ROOT, "train_sr.py"), "-opt",
                        os.path.join(ROOT, "options", "rrdb_psnr.yml")], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "datasets.train.hr" in lines[0] and "DIV2K_train_HR_sub" in lines[0]
    assert "Traceback" not in r.stderr


def test_option_reference_lists_every_key():
    doc = options.options_doc()
    for key in ("train.gan.relativistic", "datasets.<name>.batch", "val.crop_border", "network_g.type"):
        assert f"`{key}`" in doc
