"""A new loss is one file: `imports:` brings a user module's registrations into an option file, and a
loss written into a temporary folder trains from YAML through train_sr.py with no repository file touched."""
from __future__ import annotations

import math
import os
import re
import subprocess

import pytest
import yaml

from reliability_utils import REPO, run_cli, tiny_options, write_options, write_photos
from sr_gan import options
from sr_gan.errors import OptionError
from sr_gan.registry import LOSSES

# A loss that asks for the LR batch: SR, box-downscaled by the scale, should give the LR image back.
PLUGIN = '''
import torch.nn.functional as F
from torch import nn

from sr_gan.registry import LOSSES


@LOSSES.register("{name}", kind="generator")
class LRConsistency(nn.Module):
    """mean |avgpool_s(SR) - LR|."""

    def __init__(self, scale: int = 4, power: float = 1.0):
        super().__init__()
        self.scale, self.power = scale, power

    def forward(self, sr, target, lr):
        return (F.avg_pool2d(sr, self.scale) - lr).abs().pow(self.power).mean()
'''

BASE = {"name": "t", "scale": 4, "network_g": {"type": "msrresnet", "num_feat": 8, "num_block": 1}}


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def _yml(folder, data, name="opt.yml"):
    return _write(folder / name, yaml.safe_dump(data, sort_keys=False))


def test_file_relative_to_the_option_file_is_imported_and_stored_absolute(tmp_path, monkeypatch):
    _write(tmp_path / "conf" / "plugins" / "lrc.py", PLUGIN.format(name="test_plugin_lrc_a"))
    yml = _yml(tmp_path / "conf", dict(BASE, imports=["plugins/lrc.py"],
                                       train={"losses": [{"type": "test_plugin_lrc_a", "power": 2.0}]}))
    monkeypatch.chdir(tmp_path)                        # not the option file's folder
    opt = options.load(yml)
    assert opt["imports"] == [str(tmp_path / "conf" / "plugins" / "lrc.py")]
    assert opt["train"]["losses"] == [{"type": "test_plugin_lrc_a", "power": 2.0, "weight": 1.0,
                                       "name": "test_plugin_lrc_a", "target": "hr"}]
    assert LOSSES.kind("test_plugin_lrc_a") == "generator"
    assert options.load(yml)["imports"] == opt["imports"]          # loading again does not re-register
    with pytest.raises(OptionError, match=r"train\.losses\[0\]\.powr: unknown option \(did you mean 'power'\?\)"):
        options.load(_yml(tmp_path / "conf", dict(BASE, imports=["plugins/lrc.py"],
                                                 train={"losses": [{"type": "test_plugin_lrc_a", "powr": 2}]}), "b.yml"))


def test_module_name_on_sys_path(tmp_path, monkeypatch):
    _write(tmp_path / "site" / "my_sr_plugins" / "__init__.py", "")
    _write(tmp_path / "site" / "my_sr_plugins" / "losses.py", PLUGIN.format(name="test_plugin_lrc_b"))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    opt = options.validate(dict(BASE, imports=["my_sr_plugins.losses"], train={"losses": [{"type": "test_plugin_lrc_b"}]}))
    assert opt["imports"] == ["my_sr_plugins.losses"] and opt["train"]["losses"][0]["type"] == "test_plugin_lrc_b"


@pytest.mark.parametrize("entry, text, needle", [
    ("nope.py", None, "imports[0]: file 'nope.py' not found (relative to the option file or the current directory)"),
    ("no_such_sr_module.losses", None, "imports[0]: no module named 'no_such_sr_module.losses'"),
    ("broken.py", "import math\nraise RuntimeError('plugin bug\\nsecond line')\n",
     "imports[0]: importing {dir}/broken.py failed: RuntimeError: plugin bug"),
    ("syntax.py", "def f(:\n", "imports[0]: importing {dir}/syntax.py failed: SyntaxError"),
    ("dup.py", PLUGIN.format(name="l1"), "imports[0]: importing {dir}/dup.py failed: ValueError: loss 'l1' is registered twice"),
])
def test_bad_imports_are_one_line(tmp_path, entry, text, needle):
    if text is not None:
        _write(tmp_path / entry, text)
    yml = _yml(tmp_path, dict(BASE, imports=[entry]))
    with pytest.raises(OptionError) as e:
        options.load(yml)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"{yml}: ") and needle.format(dir=tmp_path) in msg, msg
    assert LOSSES.get("l1").__module__ == "sr_gan.losses.pixel"            # the built-in is untouched


def _git_state():
    out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=REPO,
                         capture_output=True, text=True)
    return out.stdout if out.returncode == 0 else None


def test_new_loss_in_a_temporary_module_trains_from_yaml(tmp_path):
    before = _git_state()
    _write(tmp_path / "my_losses.py", PLUGIN.format(name="lr_consistency"))
    hr = os.path.dirname(write_photos(tmp_path / "hr", count=2, size=32)[0])
    opt = tiny_options(hr, str(tmp_path / "exp"), name="plugin", train__total_iter=2,
                       train__losses=[{"type": "l1", "weight": 1.0}, {"type": "lr_consistency", "weight": 0.5}],
                       logger__print_freq=1, save__freq=2)
    opt["imports"] = ["my_losses.py"]                                   # relative to the option file
    yml = write_options(tmp_path / "plugin.yml", opt)
    proc = run_cli(["-opt", yml])
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = open(tmp_path / "exp" / "plugin" / "train.log").read()
    values = [float(v) for v in re.findall(r"iter \d/2 .*?l_g_lr_consistency=(\S+)", log)]
    assert len(values) == 2 and all(math.isfinite(v) and v > 0 for v in values), log[-2000:]
    saved = yaml.safe_load(open(tmp_path / "exp" / "plugin" / "options.yml"))
    assert saved["imports"] == [str(tmp_path / "my_losses.py")]
    # the saved options.yml works from its own folder: resume to a third iteration
    proc = run_cli(["-opt", str(tmp_path / "exp" / "plugin" / "options.yml"), "train.total_iter=3", "--auto-resume"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "resumed from" in open(tmp_path / "exp" / "plugin" / "train.log").read()
    if before is not None:
        assert _git_state() == before                                  # no repository file touched

