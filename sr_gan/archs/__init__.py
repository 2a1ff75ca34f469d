"""sr_gan.archs: generators and discriminators (registry ARCHS), and what each one declares about itself.

The contract, read here and nowhere else (options validation, model building, inference and tiling):
  generator      ``supported_scales``: tuple of scales it can build (absent: any);
                 ``input_multiple(scale)``: LR height and width must be multiples of it (absent: 1),
                 e.g. RRDBNet x2 pixel-unshuffles its input by 2;
  discriminator  ``returns_features``: True when ``forward(x, return_features=True)`` returns
                 ``(logits, [feature maps])``, which feature matching needs (absent: False).
"""
from __future__ import annotations

from sr_gan.errors import OptionError


def input_multiple(net_or_cls, scale: int) -> int:
    """The multiple LR sides must have for this generator (class or built network) at `scale`."""
    declared = getattr(net_or_cls, "input_multiple", None)
    return int(declared(scale)) if declared is not None else 1


def check_scale(name: str, cls, scale: int) -> None:
    """OptionError when generator `name` cannot upscale by `scale`."""
    scales = getattr(cls, "supported_scales", None)
    if scales is not None and scale not in scales:
        raise OptionError(f"network_g.scale: {name} supports {', '.join(map(str, scales))}; got {scale}")


def check_contracts(opt: dict) -> str | None:
    """The first way the validated options break a network's declaration, as '<key>: <why>', else None."""
    from sr_gan.registry import ARCHS
    if opt.get("network_g"):
        g_name, scale = opt["network_g"]["type"], opt["scale"]
        g_cls = ARCHS.get(g_name)
        try:
            check_scale(g_name, g_cls, scale)
        except OptionError as e:
            return str(e)
        multiple = input_multiple(g_cls, scale)
        crop = (opt["datasets"].get("train") or {}).get("crop")
        if multiple > 1 and crop and crop % (scale * multiple):
            return (f"datasets.train.crop: {crop} gives LR patches of {crop / scale:g} px, but {g_name} x{scale} "
                    f"needs LR sides that are multiples of {multiple} (use a multiple of {scale * multiple})")
    d = opt.get("network_d")
    if d and opt["train"]["feature_matching"]["weight"] > 0 and not getattr(ARCHS.get(d["type"]), "returns_features", False):
        return (f"train.feature_matching.weight: needs a discriminator that returns intermediate features; "
                f"network_d.type '{d['type']}' does not declare returns_features")
    return None
