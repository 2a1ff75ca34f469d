"""Test-time upscaling: load any generator checkpoint, then run it whole or in tiles at a chosen precision.

Every way weights reach us (our training checkpoints, an experiment's ``latest`` marker, BasicSR /
Real-ESRGAN ``params_ema``, KAIR plain dicts, old ESRGAN names, our safetensors exports) goes through
``state_dict.canonical_state_dict`` + ``load_into``, so a misfit is one readable line. Architectures we
do not implement are handed to spandrel, but only after *we* read the file weights-only: spandrel's own
``load_from_file`` would ``torch.jit.load`` a ``.pt`` file, which is code, not data.

Tiling cuts the LR image into ``tile`` px squares, runs each with ``tile_pad`` px of real neighbouring
context and keeps only the centre of the output, so with ``tile_pad`` >= the network's receptive-field
radius the result equals whole-image inference while memory stays bounded by the tile size.
"""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sr_gan.archs import input_multiple
from sr_gan.errors import CheckpointError, OptionError
from sr_gan.registry import ARCHS
from sr_gan.utils.checkpoint import resolve_checkpoint
from sr_gan.utils.image_io import ImageInfo
from sr_gan.utils.state_dict import canonical_state_dict, infer_generator_options, load_into, load_state_dict_file

PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
SAFETENSORS_ARCH_KEY = "sr_gan_network_g"     # metadata written by scripts/export.py
SAFETENSORS_SCALE_KEY = "sr_gan_scale"
SAFETENSORS_IMPORTS_KEY = "sr_gan_imports"    # the plugin modules a plugin network needs (JSON list)
FALLBACK_TILE = 512                           # first tile size tried after an out-of-memory error
MIN_TILE = 16


@dataclass
class LoadedGenerator:
    net: nn.Module
    scale: int
    info: str
    options: dict = field(default_factory=dict)   # {'type': ..., kwargs} for our archs, {} for spandrel
    imports: list = field(default_factory=list)   # plugin modules (`imports:`) the network's type comes from


class SpandrelGenerator(nn.Module):
    """A spandrel ImageModelDescriptor as a plain module: NCHW [0,1] -> NCHW [0,1], with ``.scale``."""

    def __init__(self, descriptor):
        super().__init__()
        self.descriptor = descriptor
        self.model = descriptor.model            # registered, so .to()/.eval()/.state_dict() reach it
        self.scale = int(descriptor.scale)
        self.in_channels = int(descriptor.input_channels)
        self.architecture = descriptor.architecture.name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.descriptor(x)                # pads to its size requirements, clamps to [0, 1]


# ----------------------------------------------------------------------------------------------- loading
def _safetensors_options(path: str) -> tuple[dict | None, list]:
    """(architecture options, plugin imports) from an export's metadata."""
    from safetensors import safe_open
    try:
        with safe_open(path, framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as exc:  # safetensors raises its own error types
        raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from None
    if SAFETENSORS_ARCH_KEY not in meta:
        return None, []
    try:
        opts = json.loads(meta[SAFETENSORS_ARCH_KEY])
        opts.setdefault("scale", int(meta.get(SAFETENSORS_SCALE_KEY, 4)))
        imports = json.loads(meta.get(SAFETENSORS_IMPORTS_KEY, "[]"))
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"{path}: metadata '{SAFETENSORS_ARCH_KEY}' is not valid JSON ({exc})") from None
    return opts, imports


def _import_plugins(imports, path: str) -> list:
    """The plugin modules a checkpoint's options name (absolute paths in saved options), so a network
    registered by a plugin can be rebuilt; a missing one is a one-line error naming the checkpoint."""
    from sr_gan.plugins import import_plugins
    return import_plugins(imports or [], src=path)


def _build(options: dict, scale: int | None, where: str) -> nn.Module:
    options = dict(options)
    if scale is not None:
        options.setdefault("scale", scale)
    try:
        return ARCHS.build(options)
    except (KeyError, TypeError) as exc:
        raise CheckpointError(f"{where}: cannot build generator {options}: {str(exc).splitlines()[0]}") from None


def _load_spandrel(raw: dict, path: str) -> SpandrelGenerator:
    try:
        import spandrel
        from spandrel.__helpers.canonicalize import canonicalize_state_dict
    except ImportError:
        raise CheckpointError(f"{path}: not an rrdbnet/msrresnet checkpoint; other architectures need "
                              f"spandrel (pip install spandrel)") from None
    tensors = canonicalize_state_dict(raw)
    try:
        descriptor = spandrel.ModelLoader().load_from_state_dict(tensors)
    except Exception as exc:  # UnsupportedModelError, or a detector failing on odd shapes
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]
        raise CheckpointError(f"{path}: architecture not recognised (neither rrdbnet/msrresnet nor one "
                              f"spandrel detects: {reason})") from None
    if not isinstance(descriptor, spandrel.ImageModelDescriptor):
        raise CheckpointError(f"{path}: spandrel model {descriptor.architecture.name} is not a "
                              f"single-image model (purpose {descriptor.purpose})")
    return SpandrelGenerator(descriptor)


def load_model(path: str, arch: dict | None = None, device="cpu", what: str = "--model") -> LoadedGenerator:
    """Like :func:`load_generator`, also returning the architecture options (for export)."""
    path = resolve_checkpoint(path, what=what)
    imports: list = []
    if path.endswith(".safetensors"):
        raw, source = load_state_dict_file(path), "safetensors export"
        options, imports = _safetensors_options(path)
    else:
        raw = load_state_dict_file(path)
        options, source = None, "state dict"
        if isinstance(raw.get("nets"), dict) and isinstance(raw.get("opt"), dict):
            opt = raw["opt"]
            if not isinstance(opt.get("network_g"), dict):
                raise CheckpointError(f"{path}: training checkpoint options lack 'network_g'")
            imports = opt.get("imports") or []
            options = {**opt["network_g"], "scale": opt["network_g"].get("scale", opt.get("scale"))}
            which = "g_ema" if "g_ema" in raw["nets"] else "g"
            source = f"training checkpoint iter {raw.get('iter', '?')} ({which})"
    sd = canonical_state_dict(raw)
    if options is None and arch:
        options, source = dict(arch), source + ", architecture from flags"
    if options is None:
        try:
            options = infer_generator_options(sd)
        except CheckpointError:
            net = _load_spandrel(raw, path).to(device).eval()
            return LoadedGenerator(net, net.scale, f"{path}: spandrel {net.architecture} x{net.scale}", {})
        source += ", architecture inferred from shapes"
    imports = _import_plugins(imports, path)
    net = _build(options, options.get("scale"), path)
    load_into(net, sd, what=path)
    scale = int(getattr(net, "scale", options.get("scale")))
    summary = ", ".join(f"{k}={v}" for k, v in options.items() if k not in ("type", "scale"))
    info = f"{path}: {options['type']} x{scale} ({summary}) from {source}"
    return LoadedGenerator(net.to(device).eval(), scale, info, {**options, "scale": scale}, imports)


def load_generator(path: str, arch: dict | None = None, device="cpu", what: str = "--model") -> tuple[nn.Module, int, str]:
    """(eval-mode network on ``device``, scale, one-line description) for any supported checkpoint."""
    loaded = load_model(path, arch, device, what)
    return loaded.net, loaded.scale, loaded.info


def arch_from_flags(arch: str | None, scale: int | None, num_feat: int | None, num_block: int | None,
                    num_grow_ch: int | None = None) -> dict | None:
    """The ``arch`` dict for bare state dicts from the CLI flags (None when --arch is not given)."""
    if not arch:
        return None
    if arch not in ARCHS.names("generator"):
        raise OptionError(f"--arch: unknown generator '{arch}'; known: {', '.join(ARCHS.names('generator'))}")
    out = {"type": arch}
    for key, value in (("scale", scale), ("num_feat", num_feat), ("num_block", num_block),
                       ("num_grow_ch", num_grow_ch)):
        if value is not None:
            if key not in ARCHS.signature(arch).parameters:
                raise OptionError(f"--{key.replace('_', '-')}: not an option of {arch}")
            out[key] = value
    return out


# ------------------------------------------------------------------------------------------- inference
def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, (torch.cuda.OutOfMemoryError, MemoryError)) or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower())


def _device_of(net: nn.Module) -> torch.device:
    p = next(iter(net.parameters()), None)
    return p.device if p is not None else torch.device("cpu")


def _run(net: nn.Module, x: torch.Tensor, precision: str, channels_last: bool) -> torch.Tensor:
    """One forward pass on ``x`` (already on the net's device), float32 output."""
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.no_grad(), torch.autocast(x.device.type, dtype=PRECISIONS[precision], enabled=precision != "fp32"):
        out = net(x)
    return out.float()


def _forward(net, x, precision, channels_last) -> torch.Tensor:
    out = _run(net, x, precision, channels_last)
    if precision == "fp16" and not torch.isfinite(out).all():
        warnings.warn("fp16 output contains NaN/Inf (overflow); recomputing this part in fp32")
        out = _run(net, x, "fp32", channels_last)
    return out


def _tiled(net, x, scale, tile, tile_pad, precision, channels_last, device) -> torch.Tensor:
    """Tile-by-tile inference; the result is assembled on ``x``'s device (GPU memory stays tile-bound)."""
    n, c, h, w = x.shape
    out = None
    for top in range(0, h, tile):
        for left in range(0, w, tile):
            bottom, right = min(top + tile, h), min(left + tile, w)
            in_top, in_left = max(top - tile_pad, 0), max(left - tile_pad, 0)
            in_bottom, in_right = min(bottom + tile_pad, h), min(right + tile_pad, w)
            patch = x[:, :, in_top:in_bottom, in_left:in_right].to(device)
            res = _forward(net, patch, precision, channels_last)
            if out is None:
                out = torch.empty((n, res.shape[1], h * scale, w * scale), dtype=torch.float32, device=x.device)
            oy, ox = (top - in_top) * scale, (left - in_left) * scale
            out[:, :, top * scale:bottom * scale, left * scale:right * scale] = \
                res[:, :, oy:oy + (bottom - top) * scale, ox:ox + (right - left) * scale].to(x.device)
    return out


def _pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad bottom/right at the image border (reflect; replicate when the image is too small to reflect)."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if not (ph or pw):
        return x
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


def upscale_tensor(net: nn.Module, x: torch.Tensor, scale: int, tile: int = 0, tile_pad: int = 10,
                   precision: str = "fp32", device=None, channels_last: bool = False) -> torch.Tensor:
    """NCHW [0,1] LR -> NCHW [0,1] SR (float32, on ``x``'s device), whole or tiled.

    ``tile=0`` runs the whole image and, when that runs out of memory, retries with tiles of 512,
    256, ... px (a warning says so). fp16 output with NaN/Inf is recomputed in fp32.
    """
    if precision not in PRECISIONS:
        raise OptionError(f"--precision: expected one of {', '.join(PRECISIONS)}, got '{precision}'")
    if x.ndim != 4:
        raise ValueError(f"expected an NCHW tensor, got shape {tuple(x.shape)}")
    device = torch.device(device) if device is not None else _device_of(net)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    h, w = x.shape[-2:]
    multiple = input_multiple(net, scale)        # the generator's declaration (sr_gan.archs)
    x = _pad_to_multiple(x.float(), multiple)
    round_up = lambda v: -(-v // multiple) * multiple  # noqa: E731
    tile, tile_pad = round_up(int(tile)), round_up(int(tile_pad))
    while True:
        try:
            if tile <= 0:
                out = _forward(net, x.to(device), precision, channels_last).to(x.device)
            else:
                out = _tiled(net, x, scale, tile, tile_pad, precision, channels_last, device)
            break
        except Exception as exc:  # noqa: BLE001 -- only out-of-memory errors are retried
            if not _is_oom(exc):
                raise
            if device.type == "cuda":
                torch.cuda.empty_cache()
            next_tile = round_up(FALLBACK_TILE if tile <= 0 else tile // 2)
            if tile > 0 and next_tile >= tile or next_tile < MIN_TILE:
                raise
            warnings.warn(f"out of memory at {'whole image' if tile <= 0 else f'tile {tile}'} "
                          f"({w}x{h} input); retrying with tile {next_tile}")
            tile = next_tile
    return out[:, :, : h * scale, : w * scale].clamp(0, 1)  # not in place: may be an inference tensor


def _resize(img: np.ndarray, width: int, height: int) -> np.ndarray:
    shrink = width < img.shape[1] or height < img.shape[0]
    out = cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LANCZOS4)
    out = out.reshape(height, width, -1)
    return np.clip(out, 0.0, 1.0)


def upscale_image(net: nn.Module, img: np.ndarray, info: ImageInfo, scale: int, outscale: float | None = None,
                  **kw) -> np.ndarray:
    """HWC float [0,1] image (gray HW1, RGB or RGBA) -> upscaled image with the same channels.

    Gray goes through the network as 3 equal channels and comes back as their mean; RGBA's alpha is
    resized separately (bicubic, clipped) and reattached. ``outscale`` resizes the network output
    to round(h*outscale) x round(w*outscale) (Lanczos enlarging, area shrinking).
    """
    img = img[:, :, None] if img.ndim == 2 else img
    h, w, channels = img.shape
    rgb = np.repeat(img, 3, axis=2) if channels == 1 else img[:, :, :3]
    if getattr(net, "in_channels", 3) == 1:
        rgb = img[:, :, :1] if channels == 1 else rgb.mean(axis=2, keepdims=True)
    x = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1), dtype=np.float32))[None]
    sr = upscale_tensor(net, x, scale, **kw)[0].cpu().numpy().transpose(1, 2, 0)
    out_h, out_w = h * scale, w * scale
    if outscale is not None and (round(h * outscale), round(w * outscale)) != (out_h, out_w):
        out_h, out_w = round(h * outscale), round(w * outscale)
        sr = _resize(sr, out_w, out_h)
    if channels == 1:
        sr = sr.mean(axis=2, keepdims=True)
    elif sr.shape[2] == 1:
        sr = np.repeat(sr, 3, axis=2)
    if channels == 4:
        alpha = cv2.resize(img[:, :, 3], (out_w, out_h), interpolation=cv2.INTER_CUBIC)
        sr = np.concatenate([sr, np.clip(alpha, 0.0, 1.0).reshape(out_h, out_w, 1)], axis=2)
    return np.ascontiguousarray(sr, dtype=np.float32)
