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
    p.write_text(yaml.safe_dump(data, sort_keys=False) if isinstance(data, dict) else data)
    return str(p)


BASE = {"name": "t", "scale": 4, "network_g": {"type": "msrresnet", "num_feat": 16, "num_block": 2},
        "train": {"total_iter": 10, "optim_g": {"lr": 2.0e-4}}}


def test_defaults_filled_and_types(tmp_path):
    opt = options.load(write(tmp_path, "a.yml", BASE))
    assert opt["model"] == "sr" and opt["train"]["optim_g"]["type"] == "adam"
    assert opt["train"]["optim_g"]["lr"] == pytest.approx(2e-4)
    assert opt["val"]["crop_border"] == 4                       # default crop border = scale
    # absent sections get the defaults that really apply (and that the option reference states)
    assert opt["train"]["losses"] == [{"type": "l1", "weight": 1.0, "name": "l1", "target": "hr"}]
    assert opt["train"]["gan"] == {"type": "vanilla", "weight": 0.005, "target": "hr"}
    assert opt["imports"] == []


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
    for key in ("train.losses", "train.losses[].weight", "train.losses[].name", "train.losses[].target",
                "train.gan.weight", "train.gan.target", "datasets.<name>.batch", "val.crop_border", "network_g.type"):
        assert f"`{key}`" in doc
    assert "| `train.gan` (wgan_gp) | | | gp_weight=10.0, relativistic=False, detach_mean=False |" in doc
    assert "| `train.losses[]` (l1) | | | reduction='mean' |" in doc


# ------------------------------------------------------------------ train.losses, train.gan, old files
def _err(tmp_path, data, overrides=()):
    path = write(tmp_path, "bad.yml", data)
    with pytest.raises(OptionError) as e:
        options.load(path, list(overrides))
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(path)
    return msg[len(path) + 2:]


def _train(**train):
    return dict(BASE, train=dict(BASE["train"], **train))


def test_old_pixel_and_perceptual_say_how_to_rewrite(tmp_path):
    msg = _err(tmp_path, _train(pixel={"type": "l1", "weight": 0.01},
                                perceptual={"layers": {"conv5_4": 1.0}, "weight": 1.0}))
    assert msg == ("train.pixel and train.perceptual: replaced by train.losses; write: losses: "
                   "[{type: l1, weight: 0.01}, {type: perceptual, weight: 1.0, layers: {conv5_4: 1.0}}]")
    # a resolved options.yml of an sr run: perceptual null and the pixel type defaulted
    msg = _err(tmp_path, _train(pixel={"weight": 1.0, "reduction": "sum"}, perceptual=None))
    assert msg.endswith("write: losses: [{type: l1, weight: 1.0, reduction: sum}]")
    # the term's weight now scales its style part too: style_weight is rewritten so the sum is unchanged
    msg = _err(tmp_path, _train(perceptual={"weight": 0.5, "style_weight": 2.0, "layers": {"conv3_4": 1.0}}))
    assert msg == ("train.perceptual: replaced by train.losses; write: losses: "
                   "[{type: perceptual, weight: 0.5, style_weight: 4.0, layers: {conv3_4: 1.0}}]")
    assert _err(tmp_path, _train(pixel={"type": "mse", "weight": 0})).endswith("write: losses: []")


def test_gan_keys_of_another_type_say_how_to_rewrite(tmp_path):
    msg = _err(tmp_path, dict(_train(gan={"type": "vanilla", "relativistic": True, "weight": 5e-3, "gp_weight": 10.0}),
                              model="srgan", network_d={"type": "vgg"}))
    assert msg == ("train.gan.gp_weight: not an argument of gan loss type 'vanilla' (taken by wgan_gp); "
                   "write: gan: {type: vanilla, relativistic: true, weight: 0.005}")
    # the fixed GAN section an old resolved options.yml holds, on a type without labels
    old = {"type": "hinge", "weight": 0.005, "relativistic": False, "real_label": 1.0, "fake_label": 0.0,
           "gen_label": 1.0, "gp_weight": 10.0, "r1_weight": 0.0}
    msg = _err(tmp_path, _train(gan=old))
    assert msg == ("train.gan.real_label: not an argument of gan loss type 'hinge' (taken by lsgan, vanilla); "
                   "write: gan: {type: hinge, weight: 0.005, relativistic: false, r1_weight: 0.0}")
    assert _err(tmp_path, _train(gan={"type": "vanilla", "relativistc": True})) == \
        "train.gan.relativistc: unknown option (did you mean 'relativistic'?)"


@pytest.mark.parametrize("train, needle", [
    ({"gan": {"type": "vanila"}}, "train.gan.type: unknown loss 'vanila' (did you mean 'vanilla'?); known: hinge, lsgan"),
    ({"gan": {"type": "l1"}}, "train.gan.type: unknown loss 'l1'"),                          # not a GAN type
    ({"losses": [{"type": "vanilla"}]}, "train.losses[0].type: unknown loss 'vanilla'"),    # not a generator term
    ({"losses": [{"type": "l1", "weight": -1}]}, "train.losses[0].weight: must be >= 0"),
    ({"losses": [{"type": "l1"}, {"type": "mse", "reduction": "sum", "wieght": 1}]},
     "train.losses[1].wieght: unknown option (did you mean 'weight'?)"),
    ({"losses": [{"weight": 1.0}]}, "train.losses[0]: expected a mapping with a 'type:', got {weight: 1.0}"),
    ({"losses": {"type": "l1"}}, "train.losses: expected a list of sections with a 'type:', got dict"),
    ({"losses": [{"type": "l1", "target": "lr"}]}, "train.losses[0].target: 'lr' is not one of hr, hr_usm"),
    ({"losses": [{"type": "l1"}, {"type": "perceptual"}, {"type": "l1", "reduction": "sum"}]},
     "train.losses[2].name: 'l1' is also the name of train.losses[0]; give one of them another `name:`"),
    ({"losses": [{"type": "l1", "name": "pix"}, {"type": "mse", "name": "pix"}]},
     "train.losses[1].name: 'pix' is also the name of train.losses[0]"),
    ({"losses": [{"type": "l1", "name": "gan"}]}, "train.losses[0].name: 'gan' is reserved"),
    ({"losses": [{"type": "l1", "name": "a.b"}]}, "train.losses[0].name: 'a.b' is not a usable name"),
    ({"losses": []}, "train.losses: the sr model needs a term with weight > 0"),
    ({"losses": [{"type": "l1", "weight": 0.0}]}, "train.losses: the sr model needs a term with weight > 0"),
])
def test_loss_list_errors(tmp_path, train, needle):
    assert needle in _err(tmp_path, _train(**train))


def test_srgan_gan_section_rules(tmp_path):
    srgan = dict(BASE, model="srgan", network_d={"type": "vgg"})
    assert _err(tmp_path, dict(srgan, train=dict(BASE["train"], gan=None))).startswith(
        "train.gan: the srgan model needs a GAN objective")
    msg = _err(tmp_path, dict(srgan, train=dict(BASE["train"], losses=[], gan={"weight": 0})))
    assert msg.startswith("train.losses: nothing trains the generator")
    # a pure GAN generator objective is allowed; the sr model ignores train.gan (null is fine there)
    opt = options.load(write(tmp_path, "g.yml", dict(srgan, train=dict(BASE["train"], losses=[]))))
    assert opt["train"]["losses"] == [] and opt["train"]["gan"]["weight"] == 0.005
    assert options.load(write(tmp_path, "s.yml", _train(gan=None)))["train"]["gan"] is None


def test_child_file_replaces_the_loss_list(tmp_path):
    write(tmp_path, "base.yml", _train(losses=[{"type": "l1", "weight": 0.01}, {"type": "perceptual"}]))
    child = write(tmp_path, "child.yml", {"base": "base.yml", "train": {"losses": [{"type": "mse"}]}})
    assert [t["type"] for t in options.load(child)["train"]["losses"]] == ["mse"]


def test_overrides_address_list_entries_by_name_or_index(tmp_path):
    path = write(tmp_path, "a.yml", _train(losses=[{"type": "l1", "weight": 0.01},
                                                   {"type": "perceptual", "name": "vgg", "layers": {"conv1_2": 1.0}}]))
    opt = options.load(path, ["train.losses.vgg.weight=0.5", "train.losses.l1.reduction=sum",
                              "train.losses.1.layers={conv2_2: 2.0}"])
    assert opt["train"]["losses"][1] == {"type": "perceptual", "name": "vgg", "layers": {"conv2_2": 2.0},
                                         "weight": 0.5, "target": "hr"}
    assert opt["train"]["losses"][0]["reduction"] == "sum"
    assert options.lookup(opt, "train.losses.vgg.weight") == 0.5 and options.lookup(opt, "train.losses.x") is None
    # a file without train.losses: its default list is addressed the same way
    plain = write(tmp_path, "p.yml", BASE)
    assert options.load(plain, ["train.losses.l1.weight=2"])["train"]["losses"][0]["weight"] == 2.0
    whole = options.load(plain, ["train.losses=[{type: mse, weight: 3}]"])["train"]["losses"]
    assert [(t["type"], t["weight"]) for t in whole] == [("mse", 3.0)]
    with pytest.raises(OptionError) as e:
        options.load(path, ["train.losses.perceptual.weight=1"])      # its name is vgg
    assert str(e.value) == ("override 'train.losses.perceptual.weight=1': train.losses: no entry named "
                            "'perceptual' (names: l1, vgg; or an index 0..1)")
    with pytest.raises(OptionError, match="index 5 out of range"):
        options.load(path, ["train.losses.5.weight=1"])
