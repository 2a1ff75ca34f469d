"""Loading every supported checkpoint layout, tiled/precision inference, and scripts/upscale.py end to end."""
from __future__ import annotations

import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from sr_gan.errors import CheckpointError
from sr_gan.inference import load_generator, upscale_image, upscale_tensor
from sr_gan.registry import ARCHS
from sr_gan.utils.image_io import ImageInfo, read_image_raw, write_image

from conftest import optional_package

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = {"type": "rrdbnet", "num_feat": 8, "num_block": 1, "num_grow_ch": 8}


def tiny_rrdbnet(scale: int = 4, seed: int = 0, strong: bool = False) -> nn.Module:
    torch.manual_seed(seed)
    net = ARCHS.build(dict(TINY), scale=scale).eval()
    if strong:  # larger weights than the 0.1-scaled init, so far-away context visibly changes the output
        with torch.no_grad():
            for m in net.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.normal_(m.weight, std=0.5 / (m.in_channels * 9) ** 0.5)
    return net


def save_training_checkpoint(path, net: nn.Module, scale: int = 4) -> None:
    """`net` as the EMA; the raw generator differs (output shifted by 0.1), so using it instead shows."""
    raw = {k: v + 0.1 if k == "conv_last.bias" else v for k, v in net.state_dict().items()}
    torch.save({"iter": 7, "nets": {"g": raw, "g_ema": net.state_dict()},
                "opt": {"scale": scale, "network_g": dict(TINY)}}, path)


# --------------------------------------------------------------------------------------------- tiling
def test_tiled_equals_untiled_when_pad_covers_receptive_field():
    net = tiny_rrdbnet(strong=True)
    x = torch.rand(1, 3, 36, 40, generator=torch.Generator().manual_seed(1))
    whole = upscale_tensor(net, x, 4)
    assert whole.shape == (1, 3, 144, 160)
    # receptive radius of nb=1 RRDBNet in LR px: 17 convs before upsampling + 4 HR convs (< 2 px) -> 19
    tiled = upscale_tensor(net, x, 4, tile=12, tile_pad=20)
    assert (tiled - whole).abs().max().item() < 1 / 255
    no_context = upscale_tensor(net, x, 4, tile=12, tile_pad=0)
    assert (no_context - whole).abs().max().item() > 1 / 255  # the check above can fail


def test_tiled_x2_pixel_unshuffle_odd_size():
    net = tiny_rrdbnet(scale=2)
    x = torch.rand(1, 3, 23, 17)
    whole = upscale_tensor(net, x, 2)
    assert whole.shape == (1, 3, 46, 34)
    assert (upscale_tensor(net, x, 2, tile=7, tile_pad=20) - whole).abs().max().item() < 1 / 255


class _Upsampler(nn.Module):
    """1x1 conv + nearest x2: tile-invariant, so any tiling must reproduce the whole result exactly."""

    def __init__(self, oom_above: int = 0, nan_in_fp16: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)
        self.scale, self.oom_above, self.nan_in_fp16, self.calls = 2, oom_above, nan_in_fp16, []

    def forward(self, x):
        self.calls.append(tuple(x.shape[-2:]))
        if self.oom_above and x.shape[-1] * x.shape[-2] > self.oom_above:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        y = self.conv(x)
        if self.nan_in_fp16 and y.dtype == torch.float16:
            return torch.full_like(torch.nn.functional.interpolate(y, scale_factor=2), float("nan"))
        return torch.nn.functional.interpolate(y, scale_factor=2, mode="nearest")


def test_out_of_memory_retries_with_tiles():
    net = _Upsampler(oom_above=1000).eval()
    x = torch.rand(1, 3, 30, 40)  # 1200 px: too big whole, fits as 16 px tiles with 10 px context
    with pytest.warns(UserWarning, match="out of memory"):
        out = upscale_tensor(net, x, 2)
    ref = _Upsampler().eval()
    ref.load_state_dict(net.state_dict())
    assert torch.allclose(out, upscale_tensor(ref, x, 2), atol=1e-6)
    assert max(h * w for h, w in net.calls[-6:]) <= 1000  # the successful pass really was tiled


def test_fp16_nan_falls_back_to_fp32():
    net = _Upsampler(nan_in_fp16=True).eval()
    x = torch.rand(1, 3, 8, 10)
    with pytest.warns(UserWarning, match="fp16"):
        out = upscale_tensor(net, x, 2, precision="fp16")
    assert torch.isfinite(out).all()
    assert torch.allclose(out, upscale_tensor(net, x, 2, precision="fp32"))


def test_channels_last_and_bf16_run():
    net = tiny_rrdbnet()
    x = torch.rand(1, 3, 12, 10)
    ref = upscale_tensor(net, x, 4)
    assert torch.allclose(upscale_tensor(net, x, 4, channels_last=True), ref, atol=1e-5)
    assert (upscale_tensor(net, x, 4, precision="bf16") - ref).abs().max() < 0.05


# ------------------------------------------------------------------------------------- image handling
def test_upscale_image_gray_rgba_outscale():
    net = tiny_rrdbnet()
    rng = np.random.default_rng(0)
    gray = rng.random((10, 12, 1), dtype=np.float32)
    out = upscale_image(net, gray, ImageInfo("gray", 8), 4)
    rgb_out = upscale_tensor(net, torch.from_numpy(np.repeat(gray, 3, 2).transpose(2, 0, 1))[None], 4)
    assert out.shape == (40, 48, 1)
    assert np.allclose(out[:, :, 0], rgb_out[0].mean(0).numpy(), atol=1e-6)
    rgba = rng.random((10, 12, 4), dtype=np.float32)
    out = upscale_image(net, rgba, ImageInfo("rgba", 8), 4, outscale=2.5)
    assert out.shape == (25, 30, 4)
    expected_alpha = np.clip(cv2.resize(rgba[:, :, 3], (30, 25), interpolation=cv2.INTER_CUBIC), 0, 1)
    assert np.allclose(out[:, :, 3], expected_alpha, atol=1e-6)


# ------------------------------------------------------------------------------------ checkpoint layouts
def _published_layouts(sd: dict) -> dict:
    other = {k: torch.randn_like(v) for k, v in sd.items()}
    kair = {}
    for k, v in sd.items():
        if k.startswith("body."):
            k = "RRDB_trunk." + k[len("body."):].replace(".rdb", ".RDB")
        k = k.replace("conv_body.", "trunk_conv.").replace("conv_up", "upconv").replace("conv_hr.", "HRconv.")
        kair[k] = v
    old = {}
    top = {"conv_first": 0, "conv_up1": 3, "conv_up2": 6, "conv_hr": 8, "conv_last": 10}
    for k, v in sd.items():
        name, kind = k.rsplit(".", 1)
        if name.startswith("body."):
            _, i, rdb, conv = name.split(".")
            old[f"model.1.sub.{i}.RDB{rdb[-1]}.{conv}.0.{kind}"] = v
        elif name == "conv_body":
            old[f"model.1.sub.1.{kind}"] = v
        else:
            old[f"model.{top[name]}.{kind}"] = v
    return {"basicsr_params": {"params": sd}, "basicsr_params_ema": {"params_ema": sd, "params": other},
            "kair_plain": kair, "old_esrgan": old, "module_prefix": {f"module.{k}": v for k, v in sd.items()}}


@pytest.mark.parametrize("layout", ["basicsr_params", "basicsr_params_ema", "kair_plain", "old_esrgan", "module_prefix"])
def test_published_layouts_load_identically(tmp_path, layout):
    net = tiny_rrdbnet(seed=3)
    path = tmp_path / f"{layout}.pth"
    torch.save(_published_layouts(net.state_dict())[layout], path)
    loaded, scale, info = load_generator(str(path))
    x = torch.rand(1, 3, 9, 11)
    assert scale == 4 and "rrdbnet" in info
    assert torch.equal(loaded(x), net(x))


def test_training_checkpoint_latest_marker_and_arch_flags(tmp_path):
    net = tiny_rrdbnet(seed=4)
    folder = tmp_path / "experiments" / "run" / "checkpoints"
    folder.mkdir(parents=True)
    save_training_checkpoint(folder / "iter_00000007.pth", net)
    (folder / "latest").write_text("iter_00000007.pth\n")
    x = torch.rand(1, 3, 8, 8)
    for target in (folder / "latest", tmp_path / "experiments" / "run"):
        loaded, scale, info = load_generator(str(target))
        assert scale == 4 and "iter 7 (g_ema)" in info and torch.equal(loaded(x), net(x))
    bare = tmp_path / "bare.pth"
    torch.save(net.state_dict(), bare)
    loaded, _, _ = load_generator(str(bare), {"type": "rrdbnet", "scale": 4, "num_feat": 8, "num_block": 1,
                                              "num_grow_ch": 8})
    assert torch.equal(loaded(x), net(x))
    with pytest.raises(CheckpointError, match=r"shape mismatch.*conv_first.weight") as err:
        load_generator(str(bare), {"type": "rrdbnet", "scale": 4, "num_feat": 16, "num_block": 1, "num_grow_ch": 8})
    assert "\n" not in str(err.value)


def test_spandrel_architecture_through_upscale_tensor(tmp_path):
    optional_package("spandrel")
    from spandrel.architectures.Compact.__arch.SRVGG import SRVGGNetCompact  # not one of our archs
    torch.manual_seed(5)
    compact = SRVGGNetCompact(num_feat=8, num_conv=2, upscale=2).eval()
    path = tmp_path / "compact.pth"
    torch.save({"params": compact.state_dict()}, path)
    net, scale, info = load_generator(str(path))
    assert scale == 2 and "spandrel" in info
    x = torch.rand(1, 3, 20, 18)
    with torch.no_grad():
        direct = compact(x).clamp(0, 1)
    out = upscale_tensor(net, x, scale)
    assert out.shape == (1, 3, 40, 36)
    assert torch.allclose(out, direct, atol=1e-6)
    assert (upscale_tensor(net, x, scale, tile=8, tile_pad=8) - direct).abs().max() < 1 / 255


def test_unknown_architecture_is_one_line_error(tmp_path):
    path = tmp_path / "weird.pth"
    torch.save({"foo.weight": torch.zeros(3, 3)}, path)
    with pytest.raises(CheckpointError, match="not recognised") as err:
        load_generator(str(path))
    assert "\n" not in str(err.value)


# ------------------------------------------------------------------------------------ scripts/upscale.py
def _upscale_cli(*args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "upscale.py"), *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def _upscale_main(capsys, *args) -> tuple[int, str]:
    """The same CLI in-process (saves a torch import per call on a loaded 2-core machine)."""
    from sr_gan.commands import upscale as module
    capsys.readouterr()
    code = module.main([str(a) for a in args])
    return code, capsys.readouterr().err


def test_upscale_cli_modes_bits_errors_skip_and_refusal(tmp_path, capsys):
    ckpt = tmp_path / "g.pth"
    ema = tiny_rrdbnet(seed=6)
    save_training_checkpoint(ckpt, ema)
    src, out = tmp_path / "in", tmp_path / "out"
    rng = np.random.default_rng(1)
    write_image(src / "gray.png", rng.integers(0, 256, (10, 12, 1), dtype=np.uint8))
    write_image(src / "rgba.png", rng.integers(0, 256, (10, 12, 4), dtype=np.uint8))
    write_image(src / "deep.png", rng.integers(0, 65536, (10, 12, 3), dtype=np.uint16))
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    proc = _upscale_cli("-i", src, "-o", out, "--model", ckpt, "--tile", 8)
    assert proc.returncode == 1, proc.stderr
    bad = [line for line in proc.stderr.splitlines() if "broken.png" in line]
    assert len(bad) == 1 and "truncated or corrupt" in bad[0]
    expected = {"gray.png": ("gray", 8, 1), "rgba.png": ("rgba", 8, 4), "deep.png": ("rgb", 16, 3)}
    for name, (mode, bits, channels) in expected.items():
        img, info = read_image_raw(out / name)
        assert (info.mode, info.bits, img.shape) == (mode, bits, (40, 48, channels))
    deep, _ = read_image_raw(out / "deep.png")
    assert np.any(deep % 257 != 0)  # real 16-bit values, not 8-bit ones scaled up
    stamp = os.stat(out / "gray.png").st_mtime_ns
    code, err = _upscale_main(capsys, "-i", src / "gray.png", "-o", out, "--model", ckpt)
    assert code == 0 and "0 written, 1 skipped" in err
    assert os.stat(out / "gray.png").st_mtime_ns == stamp
    code, err = _upscale_main(capsys, "-i", src / "gray.png", "-o", out, "--model", ckpt, "--overwrite")
    assert code == 0 and "1 written, 0 skipped" in err
    # the pixels are the EMA generator's (8-bit rounding apart), not the raw generator's
    gray, info = read_image_raw(src / "gray.png")
    with torch.no_grad():
        want = upscale_image(ema, gray.astype(np.float32) / 255, info, 4)
    got, _ = read_image_raw(out / "gray.png")
    assert np.abs(got.astype(np.float32) / 255 - want).max() <= 0.5 / 255 + 1e-6
    before = (src / "gray.png").read_bytes()
    code, err = _upscale_main(capsys, "-i", src / "gray.png", "-o", src, "--model", ckpt, "--overwrite")
    assert code == 2
    assert err.strip().startswith("error:") and "overwrite an input" in err
    assert len(err.strip().splitlines()) == 1
    assert (src / "gray.png").read_bytes() == before
