"""ESRGAN network interpolation (Wang et al. 2018, sec. 3.4): theta = (1 - alpha) theta_PSNR +
alpha theta_GAN, parameter by parameter. Sweeping alpha walks from the PSNR model to the GAN model
along the perception-distortion trade-off without retraining, and usually with fewer artefacts
than the GAN model alone."""
from __future__ import annotations


import torch

from sr_gan.errors import CheckpointError
from sr_gan.utils.checkpoint import atomic_write_bytes, resolve_checkpoint
from sr_gan.utils.state_dict import canonical_state_dict, infer_generator_options, load_state_dict_file


def load_ema_generator(path: str, what: str = "checkpoint") -> tuple[dict, dict]:
    """(generator state dict, preferring the EMA weights; the file's raw dict) of any checkpoint;
    `what` names the argument in errors (--psnr, --gan)."""
    raw = load_state_dict_file(resolve_checkpoint(path, what=what))
    return canonical_state_dict(raw, prefer_ema=True), raw


def _names(keys: list[str], limit: int = 4) -> str:
    return ", ".join(keys[:limit]) + (f", ... ({len(keys) - limit} more)" if len(keys) > limit else "")


def check_compatible(psnr: dict, gan: dict) -> None:
    only_p = [k for k in psnr if k not in gan]
    only_g = [k for k in gan if k not in psnr]
    if only_p or only_g:
        parts = ([f"only in --psnr: {_names(only_p)}"] if only_p else []) + \
                ([f"only in --gan: {_names(only_g)}"] if only_g else [])
        raise CheckpointError(f"--psnr and --gan generators have different keys ({'; '.join(parts)})")
    shapes = [k for k in psnr if tuple(psnr[k].shape) != tuple(gan[k].shape)]
    if shapes:
        raise CheckpointError("--psnr and --gan generators differ in shape: " + _names(
            [f"{k} {list(psnr[k].shape)} vs {list(gan[k].shape)}" for k in shapes]))


def interpolate(psnr: dict, gan: dict, alpha: float) -> dict:
    """Floating tensors: torch.lerp (exact at alpha 0 and 1); others (counters) from the nearer end."""
    check_compatible(psnr, gan)
    out = {}
    for k, p in psnr.items():
        g = gan[k]
        if p.is_floating_point():
            if alpha == 0.0:
                out[k] = p.clone()
            elif alpha == 1.0:
                out[k] = g.clone()
            else:
                out[k] = torch.lerp(p.float(), g.float(), float(alpha)).to(p.dtype)
        else:
            out[k] = (p if alpha < 0.5 else g).clone()
    return out


def generator_options(raw_gan: dict, raw_psnr: dict, sd: dict) -> dict:
    """The options stored with an interpolated checkpoint: the GAN run's, else the PSNR run's,
    else the minimum load_generator needs (network_g + scale, inferred from the shapes)."""
    for raw in (raw_gan, raw_psnr):
        if isinstance(raw.get("opt"), dict) and isinstance(raw["opt"].get("network_g"), dict):
            return raw["opt"]
    net = infer_generator_options(sd)
    return {"network_g": {k: v for k, v in net.items() if k != "scale"}, "scale": net["scale"]}


def save_interpolated(sd: dict, opt: dict, iteration: int, path: str) -> str:
    """Our training-checkpoint layout, so load_generator / test_sr.py / upscale.py read it."""
    import io
    buf = io.BytesIO()
    torch.save({"iter": int(iteration), "nets": {"g": sd, "g_ema": sd}, "opt": opt}, buf)
    atomic_write_bytes(path, buf.getvalue())
    return path
