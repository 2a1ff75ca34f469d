"""The one path every network-weight loader goes through: read safely, unwrap, rename, check fit.

Published super-resolution weights come in many containers and key spellings (BasicSR's
``params_ema``, DataParallel's ``module.``, the original ESRGAN ``model.N`` layout, ...). Turning
them all into this package's names here means the trainer, the inference script and the exporter
never special-case a checkpoint, and a checkpoint that does not fit fails with one readable line.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Union

import torch
from torch import nn

from sr_gan.errors import CheckpointError
from sr_gan.utils.checkpoint import first_line

_PREFIXES = ("module.", "netG.", "_orig_mod.")


def load_state_dict_file(path: Union[str, Path]) -> dict:
    """Read a .pth/.pt (weights-only unpickling: never runs code) or .safetensors file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if path.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file
            return load_file(str(path), device="cpu")
        except Exception as exc:  # safetensors raises its own SafetensorError / OSError
            raise CheckpointError(f"{path}: not a readable safetensors file: {first_line(exc)}") from None
    from sr_gan.utils.checkpoint import read_weights_only
    obj = read_weights_only(str(path))
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: expected a dict of tensors, got {type(obj).__name__}")
    return obj


def _unwrap(obj: Any, prefer_ema: bool) -> Any:
    """Descend through the checkpoint containers used in the wild until a flat tensor dict remains."""
    for _ in range(8):  # containers nest at most a few levels; bounded so a cycle cannot hang
        if not isinstance(obj, dict):
            break
        if isinstance(obj.get("nets"), dict):  # our own full checkpoints
            nets = obj["nets"]
            order = ("g_ema", "g") if prefer_ema else ("g", "g_ema")
            key = next((k for k in order if k in nets), None)
            if key is None:
                raise CheckpointError(f"checkpoint 'nets' has no generator (keys: {', '.join(map(str, nets))})")
            obj = nets[key]
            continue
        order = ("params_ema", "params") if prefer_ema else ("params", "params_ema")
        key = next((k for k in order if isinstance(obj.get(k), dict)), None)
        if key is None:
            key = next((k for k in ("state_dict", "model", "generator") if isinstance(obj.get(k), dict)), None)
        if key is None:
            break
        obj = obj[key]
    return obj


def _strip_prefixes(key: str) -> str:
    changed = True
    while changed:
        changed = False
        for prefix in _PREFIXES:
            if key.startswith(prefix):
                key, changed = key[len(prefix):], True
    return key


_OLD_RDB = re.compile(r"^model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)\.0\.(weight|bias)$")
_OLD_TOP = re.compile(r"^model\.(\d+)\.(weight|bias)$")
_OLD_TRUNK = re.compile(r"^model\.1\.sub\.(\d+)\.(weight|bias)$")


def _from_old_esrgan(sd: dict) -> dict:
    """Rename the original ESRGAN release layout (one flat ``model`` Sequential) to BasicSR names.

    Old layout: model.0 conv_first; model.1 = ShortcutBlock(sub=[RRDB x nb, conv]) so
    ``model.1.sub.{nb}`` is conv_body; then per upsampling stage [Upsample, conv, LReLU] at
    indices 2-4, 5-7, 8-10 (convs at 3, 6, 9); then conv_hr, LReLU, conv_last. With n stages the
    hr conv is model.{3n+2} and the last conv model.{3n+4} (x4: 8 and 10; x8: 11 and 13).
    """
    out = {}
    top = {}
    for key, value in sd.items():
        if m := _OLD_RDB.match(key):
            out[f"body.{m[1]}.rdb{m[2]}.conv{m[3]}.{m[4]}"] = value
        elif m := _OLD_TRUNK.match(key):
            out[f"conv_body.{m[2]}"] = value
        elif m := _OLD_TOP.match(key):
            top.setdefault(int(m[1]), {})[m[2]] = value
        else:
            raise CheckpointError(f"old ESRGAN checkpoint has an unexpected key '{key}'")
    convs = sorted(i for i in top if i >= 2)
    stages = (len(convs) - 2)
    expected = [3 * (k + 1) for k in range(stages)] + [3 * stages + 2, 3 * stages + 4]
    if 0 not in top or convs != expected:
        raise CheckpointError(f"old ESRGAN checkpoint: conv indices {[0, 1] + convs} do not match "
                              f"[conv_first, trunk, (upsample, conv, lrelu) x n, conv_hr, lrelu, conv_last]")
    names = {0: "conv_first", **{3 * (k + 1): f"conv_up{k + 1}" for k in range(stages)},
             3 * stages + 2: "conv_hr", 3 * stages + 4: "conv_last"}
    for index, params in top.items():
        for kind, value in params.items():
            out[f"{names[index]}.{kind}"] = value
    return out


_BSRGAN_RENAMES = ((re.compile(r"^RRDB_trunk\.(\d+)\.RDB(\d)\."), r"body.\1.rdb\2."),
                   (re.compile(r"^trunk_conv\."), "conv_body."),
                   (re.compile(r"^upconv(\d)\."), r"conv_up\1."),
                   (re.compile(r"^HRconv\."), "conv_hr."))


def canonical_state_dict(obj: Any, prefer_ema: bool = True) -> dict[str, torch.Tensor]:
    """Any supported checkpoint object -> flat ``{name: tensor}`` using this package's names."""
    sd = _unwrap(obj, prefer_ema)
    if not isinstance(sd, dict):
        raise CheckpointError(f"checkpoint holds a {type(sd).__name__}, not a state dict")
    sd = {_strip_prefixes(str(k)): v for k, v in sd.items() if isinstance(v, torch.Tensor)}
    if not sd:
        raise CheckpointError("checkpoint contains no tensors (not a network state dict)")
    if "model.0.weight" in sd and any(k.startswith("model.1.sub.") for k in sd):
        sd = _from_old_esrgan(sd)
    elif any(k.startswith("RRDB_trunk.") for k in sd):  # BSRGAN / RealSR spelling of RRDBNet
        for pattern, repl in _BSRGAN_RENAMES:
            sd = {pattern.sub(repl, k): v for k, v in sd.items()}
    return sd


def _registered_name(net: nn.Module) -> str:
    from sr_gan.registry import ARCHS
    for name in ARCHS.names():
        if ARCHS.get(name) is type(net):
            return name
    return type(net).__name__


def _first(items: list[str], n: int = 3) -> str:
    return ", ".join(items[:n]) + (", ..." if len(items) > n else "")


def load_into(net: nn.Module, state_dict: dict, strict: bool = True, what: str = "network_g") -> nn.Module:
    """Load ``state_dict`` into ``net``; a misfit raises CheckpointError with a one-line summary."""
    own = net.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    mismatched = [k for k in own if k in state_dict and tuple(state_dict[k].shape) != tuple(own[k].shape)]
    if mismatched or (strict and (missing or unexpected)):
        def shape(t) -> str:
            return "[" + ",".join(map(str, t.shape)) + "]"
        parts = [f"{len(missing)} missing" + (f" ({_first(missing)})" if missing else ""),
                 f"{len(unexpected)} unexpected" + (f" ({_first(unexpected)})" if unexpected else ""),
                 f"{len(mismatched)} shape mismatch" + (" (" + _first(
                     [f"{k}: checkpoint {shape(state_dict[k])} vs model {shape(own[k])}" for k in mismatched]) + ")"
                     if mismatched else "")]
        raise CheckpointError(f"{what}: checkpoint does not fit {_registered_name(net)}: {', '.join(parts)}")
    net.load_state_dict(state_dict, strict=strict)
    return net


def _count_indexed(sd: dict, pattern: str) -> int:
    regex = re.compile(pattern)
    return len({m[1] for k in sd if (m := regex.match(k))})


def infer_generator_options(state_dict: dict) -> dict:
    """Recover the generator's constructor options from tensor shapes alone.

    RRDBNet: the number of ``conv_up`` stages gives the scale (1 -> x3, 2 -> x4, 3 -> x8), and a
    ``conv_first`` taking 4x (16x) the output channels marks Real-ESRGAN's pixel-unshuffle x2 (x1).
    A one-stage checkpoint is read as x3: the original ESRGAN code also built x2 that way, and
    shapes cannot tell those apart; such x2 files are not supported by this RRDBNet.
    """
    sd = canonical_state_dict(state_dict)
    if not {"conv_first.weight", "conv_last.weight"} <= sd.keys():
        raise CheckpointError(f"checkpoint layout is neither rrdbnet nor msrresnet (first keys: {_first(list(sd))})")
    try:
        first, last = sd["conv_first.weight"], sd["conv_last.weight"]
        if "body.0.rdb1.conv1.weight" in sd:
            ups = _count_indexed(sd, r"^conv_up(\d+)\.weight$")
            in_ch, out_ch = first.shape[1], last.shape[0]
            scale = {1: 3, 2: 4, 3: 8}.get(ups)
            if scale is None:
                raise CheckpointError(f"rrdbnet-like checkpoint with {ups} conv_up layers; expected 1, 2 or 3")
            if scale == 4 and in_ch in (out_ch * 4, out_ch * 16):     # pixel-unshuffled input: x2 or x1
                scale, in_ch = (2, in_ch // 4) if in_ch == out_ch * 4 else (1, in_ch // 16)
            return {"type": "rrdbnet", "num_in_ch": int(in_ch), "num_out_ch": int(out_ch),
                    "num_feat": int(first.shape[0]), "num_block": _count_indexed(sd, r"^body\.(\d+)\."),
                    "num_grow_ch": int(sd["body.0.rdb1.conv1.weight"].shape[0]), "scale": scale}
        if "body.0.conv1.weight" in sd and "upconv1.weight" in sd:
            num_feat = int(first.shape[0])
            stages = _count_indexed(sd, r"^upconv(\d+)\.weight$")
            if stages == 1:
                scale = round((sd["upconv1.weight"].shape[0] / num_feat) ** 0.5)
            else:
                scale = 2 ** stages
            return {"type": "msrresnet", "num_in_ch": int(first.shape[1]), "num_out_ch": int(last.shape[0]),
                    "num_feat": num_feat, "num_block": _count_indexed(sd, r"^body\.(\d+)\."), "scale": scale}
    except KeyError as exc:
        raise CheckpointError(f"generator checkpoint lacks {exc}") from None
    raise CheckpointError(f"checkpoint layout is neither rrdbnet nor msrresnet (first keys: {_first(list(sd))})")
