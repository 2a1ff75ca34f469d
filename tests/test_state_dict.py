"""Checkpoint reading, unwrapping, renaming, fit checking and option inference."""
import os
import pickle
import re

import pytest
import torch

from sr_gan.errors import CheckpointError
from sr_gan.registry import ARCHS
from sr_gan.utils.state_dict import (canonical_state_dict, infer_generator_options, load_into,
                                     load_state_dict_file)

from conftest import optional_package


def rrdb(scale=4, **kw):
    cfg = {"num_feat": 8, "num_block": 2, "num_grow_ch": 4, "scale": scale, **kw}
    return ARCHS.build({"type": "rrdbnet", **cfg})


def to_old_esrgan(sd, num_block, stages):
    """Rename BasicSR keys to the original ESRGAN release layout (one flat `model` Sequential)."""
    old = {}
    for k, v in sd.items():
        if m := re.match(r"body\.(\d+)\.rdb(\d)\.conv(\d)\.(\w+)$", k):
            old[f"model.1.sub.{m[1]}.RDB{m[2]}.conv{m[3]}.0.{m[4]}"] = v
            continue
        name, kind = k.rsplit(".", 1)
        index = {"conv_first": 0, "conv_hr": 3 * stages + 2, "conv_last": 3 * stages + 4}.get(name)
        if name == "conv_body":
            old[f"model.1.sub.{num_block}.{kind}"] = v
            continue
        if name.startswith("conv_up"):
            index = 3 * int(name[len("conv_up"):])
        old[f"model.{index}.{kind}"] = v
    return old


@pytest.mark.parametrize("scale,stages", [(4, 2), (8, 3), (3, 1)])
def test_old_esrgan_layout_gives_identical_outputs(scale, stages):
    torch.manual_seed(0)
    src = rrdb(scale).eval()
    old = to_old_esrgan(src.state_dict(), num_block=2, stages=stages)
    if scale == 4:  # the published x4 file's indices: hr conv at model.8, last conv at model.10
        assert {"model.0.weight", "model.1.sub.2.weight", "model.1.sub.1.RDB3.conv5.0.bias",
                "model.3.weight", "model.6.weight", "model.8.weight", "model.10.weight"} <= set(old)
    if scale == 8:
        assert {"model.9.weight", "model.11.weight", "model.13.weight"} <= set(old)
    dst = rrdb(scale).eval()
    load_into(dst, canonical_state_dict(old))
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(dst(x), src(x))


def test_prefixes_and_containers_are_unwrapped():
    sd = rrdb().state_dict()
    wrapped = {"state_dict": {f"module._orig_mod.{k}": v for k, v in sd.items()}, "epoch": 3}
    out = canonical_state_dict(wrapped)
    assert out.keys() == sd.keys()
    assert canonical_state_dict({"model": {f"netG.{k}": v for k, v in sd.items()}}).keys() == sd.keys()
    other = {k: torch.zeros_like(v) for k, v in sd.items()}
    ours = {"nets": {"g": other, "g_ema": sd, "d": {"x": torch.ones(1)}}, "iter": 10}
    assert torch.equal(canonical_state_dict(ours)["conv_first.weight"], sd["conv_first.weight"])
    assert torch.equal(canonical_state_dict(ours, prefer_ema=False)["conv_first.weight"], other["conv_first.weight"])
    with pytest.raises(CheckpointError, match="no tensors"):
        canonical_state_dict({"params": {"lr": 0.1}})


def test_bsrgan_names_are_mapped():
    sd = rrdb().state_dict()
    renames = [(r"^body\.(\d+)\.rdb", r"RRDB_trunk.\1.RDB"), (r"^conv_body\.", "trunk_conv."),
               (r"^conv_up", "upconv"), (r"^conv_hr\.", "HRconv.")]
    renamed = {}
    for k, v in sd.items():
        for pattern, repl in renames:
            k = re.sub(pattern, repl, k)
        renamed[k] = v
    assert "trunk_conv.weight" in renamed and "RRDB_trunk.0.RDB1.conv1.weight" in renamed
    assert canonical_state_dict(renamed).keys() == sd.keys()


def test_malicious_pickle_is_refused_and_not_executed(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    zipped, raw = tmp_path / "evil.pth", tmp_path / "evil_raw.pt"
    torch.save({"params": Evil()}, zipped)
    with open(raw, "wb") as f:
        pickle.dump({"params": Evil()}, f, protocol=2)
    expected = {zipped: "cannot load checkpoint: it holds Python objects that weights-only loading refuses "
                        f"(GLOBAL {os.system.__module__}.system); nothing in it was run",
                raw: "not a PyTorch checkpoint (a Python pickle written by pickle.dump, not torch.save; not unpickled)"}
    for path, reason in expected.items():
        with pytest.raises(CheckpointError) as err:
            load_state_dict_file(path)
        assert str(err.value) == f"{path}: {reason}"
    assert not marker.exists()


def test_bad_files_name_the_path(tmp_path):
    with pytest.raises(CheckpointError, match="missing.pth: no such checkpoint file"):
        load_state_dict_file(tmp_path / "missing.pth")
    good = tmp_path / "good.pth"
    torch.save({"params": rrdb().state_dict(), "iter": 5}, good)
    data = good.read_bytes()
    (tmp_path / "trunc.pth").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.pth").write_text("not a checkpoint")
    (tmp_path / "bad.safetensors").write_bytes(b"\x00" * 20)
    for name in ("trunc.pth", "text.pth", "bad.safetensors"):
        with pytest.raises(CheckpointError) as err:
            load_state_dict_file(tmp_path / name)
        assert str(err.value).startswith(str(tmp_path / name)) and "\n" not in str(err.value)
    # our own full checkpoints (dicts of tensors and numbers) load fine
    loaded = load_state_dict_file(good)
    assert loaded["iter"] == 5 and canonical_state_dict(loaded).keys() == rrdb().state_dict().keys()


def test_safetensors_round_trip(tmp_path):
    from safetensors.torch import save_file
    sd = rrdb().state_dict()
    path = tmp_path / "g.safetensors"
    save_file(sd, str(path))
    loaded = load_state_dict_file(path)
    assert loaded.keys() == sd.keys() and all(torch.equal(loaded[k], sd[k]) for k in sd)


@pytest.mark.parametrize("arch,cfg", [
    ("rrdbnet", {"num_feat": 8, "num_block": 3, "num_grow_ch": 4, "scale": 4}),
    ("rrdbnet", {"num_feat": 12, "num_block": 2, "num_grow_ch": 6, "scale": 2}),
    ("rrdbnet", {"num_feat": 8, "num_block": 1, "num_grow_ch": 4, "scale": 8}),
    ("rrdbnet", {"num_feat": 8, "num_block": 1, "num_grow_ch": 4, "scale": 3}),
    ("msrresnet", {"num_feat": 8, "num_block": 3, "scale": 4}),
    ("msrresnet", {"num_feat": 16, "num_block": 2, "scale": 3}),
    ("msrresnet", {"num_feat": 8, "num_block": 1, "scale": 2}),
])
def test_infer_generator_options(arch, cfg):
    net = ARCHS.build({"type": arch, **cfg})
    inferred = infer_generator_options({"params_ema": net.state_dict()})
    assert inferred == {"type": arch, "num_in_ch": 3, "num_out_ch": 3, **cfg}
    load_into(ARCHS.build(inferred), net.state_dict())  # and it rebuilds a net that fits


def test_infer_rejects_foreign_layout():
    disc = ARCHS.build({"type": "patchgan", "num_feat": 8})
    with pytest.raises(CheckpointError, match="neither rrdbnet nor msrresnet"):
        infer_generator_options(disc.state_dict())


def test_load_into_mismatch_is_one_descriptive_line():
    sd = rrdb(scale=4).state_dict()  # conv_first [8,3,3,3], no conv_up3
    target = rrdb(scale=8)
    target_x2 = rrdb(scale=2)
    with pytest.raises(CheckpointError) as err:
        load_into(target, sd)
    assert str(err.value) == ("network_g: checkpoint does not fit rrdbnet: 2 missing (conv_up3.weight, conv_up3.bias), "
                              "0 unexpected, 0 shape mismatch")
    with pytest.raises(CheckpointError) as err:
        load_into(target_x2, {**sd, "extra.weight": torch.ones(1)}, what="network_g_ema")
    assert str(err.value) == ("network_g_ema: checkpoint does not fit rrdbnet: 0 missing, 1 unexpected (extra.weight), "
                              "1 shape mismatch (conv_first.weight: checkpoint [8,3,3,3] vs model [8,12,3,3])")
    # non-strict tolerates missing keys but never a wrong shape
    load_into(target, sd, strict=False)
    assert torch.equal(target.conv_first.weight, sd["conv_first.weight"])
    with pytest.raises(CheckpointError, match="1 shape mismatch"):
        load_into(target_x2, sd, strict=False)


@pytest.mark.parametrize("scale,stages", [(4, 2), (8, 3), (2, 2)])
def test_layouts_agree_with_spandrel_reference(scale, stages):
    """Independent check of the key layouts: spandrel's ESRGAN loader gives bit-identical outputs."""
    spandrel = optional_package("spandrel")
    torch.manual_seed(0)
    net = rrdb(scale, num_grow_ch=32, num_block=1).eval()  # spandrel assumes 32 growth channels
    sd = net.state_dict() if scale == 2 else to_old_esrgan(net.state_dict(), num_block=1, stages=stages)
    desc = spandrel.ModelLoader().load_from_state_dict(sd)
    assert desc.scale == scale
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(desc.model(x), net(x))
