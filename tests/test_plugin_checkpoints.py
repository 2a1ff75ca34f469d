"""A generator that comes from a plugin (`imports:`) is rebuilt by upscale.py, test_sr.py and export.py from
the checkpoint alone: its saved options name the plugin file (absolute), and a safetensors export carries it."""
import os
import shutil
import subprocess
import sys

import cv2

from reliability_utils import REPO, cli_env, tiny_options, write_options, write_photos

PLUGIN = '''
import torch
from torch import nn

from sr_gan.registry import ARCHS


@ARCHS.register("plugin_shuffle_net", kind="generator")
class ShuffleNet(nn.Module):
    """conv -> pixel shuffle: the smallest learnable upscaler."""

    def __init__(self, scale: int = 4, num_feat: int = 8):
        super().__init__()
        self.scale = scale
        self.body = nn.Sequential(nn.Conv2d(3, num_feat, 3, 1, 1), nn.ReLU(),
                                  nn.Conv2d(num_feat, 3 * scale * scale, 3, 1, 1), nn.PixelShuffle(scale))

    def forward(self, x):
        return self.body(x)
'''


def _script(name, *args, cwd):
    return subprocess.run([sys.executable, os.path.join(REPO, "scripts", name), *map(str, args)], capture_output=True,
                          text=True, env=cli_env(), cwd=cwd, timeout=300)


def test_plugin_generator_checkpoint_upscales_tests_and_exports(tmp_path):
    plugin = tmp_path / "plugins" / "shuffle.py"
    plugin.parent.mkdir()
    plugin.write_text(PLUGIN)
    hr = os.path.dirname(write_photos(tmp_path / "hr", count=2, size=40)[0])
    opt = tiny_options(hr, str(tmp_path / "exp"), name="plug", imports=["plugins/shuffle.py"],
                       network_g={"type": "plugin_shuffle_net", "num_feat": 4}, train__total_iter=2)
    yml = write_options(tmp_path / "plug.yml", opt)
    run = subprocess.run([sys.executable, os.path.join(REPO, "train_sr.py"), "-opt", yml], capture_output=True,
                         text=True, env=cli_env(), cwd=tmp_path, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    exp = tmp_path / "exp" / "plug"
    work = tmp_path / "elsewhere"                      # not the option file's folder: the path is absolute
    work.mkdir()
    up = _script("upscale.py", "-i", hr, "-o", tmp_path / "up", "--model", exp, cwd=work)
    assert up.returncode == 0, up.stderr
    assert "plugin_shuffle_net x4" in up.stderr and cv2.imread(str(tmp_path / "up" / "img0.png")).shape == (160, 160, 3)
    out = tmp_path / "g.safetensors"
    ex = _script("export.py", "--model", exp, "--format", "safetensors", "-o", out, cwd=work)
    assert ex.returncode == 0, ex.stderr
    test = _script("test_sr.py", "--model", out, "--hr", hr, "--scale", "4", "--metrics", "psnr", "--device", "cpu",
                   cwd=work)
    assert test.returncode == 0, test.stderr
    assert "| mean |" in test.stdout and "plugin_shuffle_net x4" in test.stderr
    # the plugin file gone: one line that names the checkpoint and the import
    shutil.move(str(plugin), str(tmp_path / "moved.py"))
    gone = _script("upscale.py", "-i", hr, "-o", tmp_path / "up2", "--model", exp, cwd=work)
    assert gone.returncode == 2
    assert gone.stderr.strip().splitlines()[-1].startswith(
        f"error: {exp / 'checkpoints' / 'iter_00000002.pth'}: imports[0]: file '{plugin}' not found")
