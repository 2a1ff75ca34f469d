"""scripts/export.py: safetensors round trip (file alone rebuilds the net) and ONNX checked by onnxruntime."""
from __future__ import annotations

import json

import pytest
import torch

from sr_gan.inference import SAFETENSORS_ARCH_KEY, load_generator

from conftest import optional_package

TINY = {"type": "rrdbnet", "num_feat": 8, "num_block": 1, "num_grow_ch": 8}


def _export(capsys, *args) -> tuple[int, str]:
    from sr_gan.commands import export as module
    capsys.readouterr()
    code = module.main([str(a) for a in args])
    return code, capsys.readouterr().out


@pytest.fixture()
def checkpoint(tmp_path):
    """A training checkpoint whose g and g_ema differ, so exporting the wrong one is caught."""
    from sr_gan.registry import ARCHS
    torch.manual_seed(0)
    g, g_ema = ARCHS.build(dict(TINY), scale=4), ARCHS.build(dict(TINY), scale=4)
    path = tmp_path / "iter_00000005.pth"
    torch.save({"iter": 5, "nets": {"g": g.state_dict(), "g_ema": g_ema.state_dict()},
                "opt": {"scale": 4, "network_g": dict(TINY)}}, path)
    return path, g_ema.eval()


def test_safetensors_round_trip(tmp_path, capsys, checkpoint):
    from safetensors import safe_open
    path, g_ema = checkpoint
    out = tmp_path / "gen.safetensors"
    code, _ = _export(capsys, "--model", path, "--format", "safetensors", "-o", out)
    assert code == 0
    with safe_open(str(out), framework="pt") as f:
        assert json.loads(f.metadata()[SAFETENSORS_ARCH_KEY]) == TINY
    net, scale, info = load_generator(str(out))
    x = torch.rand(1, 3, 10, 9)
    assert scale == 4 and "safetensors export" in info
    with torch.no_grad():
        assert torch.equal(net(x), g_ema(x))


def test_onnx_matches_pytorch(tmp_path, capsys, checkpoint):
    optional_package("onnx")
    ort = optional_package("onnxruntime")
    import numpy as np
    path, g_ema = checkpoint
    out = tmp_path / "gen.onnx"
    code, printed = _export(capsys, "--model", path, "--format", "onnx", "-o", out, "--opset", 17)
    assert code == 0 and "max abs difference" in printed
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    for h, w in ((12, 16), (7, 9)):  # dynamic height/width, neither the traced 32x32
        x = torch.rand(1, 3, h, w)
        got = session.run(None, {"lr": x.numpy()})[0]
        with torch.no_grad():
            expected = g_ema(x).numpy()
        assert got.shape == (1, 3, 4 * h, 4 * w)
        assert np.abs(got - expected).max() <= 1e-4
