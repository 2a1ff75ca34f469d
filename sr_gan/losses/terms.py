"""`train.losses`: the generator's weighted sum of loss terms, built and evaluated in one place.

A generator loss is any module registered with ``@LOSSES.register('<type>', kind='generator')``;
its constructor arguments are its YAML keys. ``forward(sr, target, ...)`` returns an *unweighted*
scalar, or a dict {part: scalar} (e.g. perceptual + style). Further inputs are asked for by naming
them as forward parameters (``lr``: the LR batch; ``sr_ema``: the EMA generator's output on that
batch, no grad), and the model computes only what some term asks for. A term's error messages
start with its argument name ("layers: ..."); this module prefixes the option key ("train.losses[1].").

Keys every entry takes, handled here rather than by the class: ``weight`` (a term with weight 0 is
not built), ``name`` (log name, default the type), ``target`` (``hr``, or ``hr_usm``: HR after
Real-ESRGAN's unsharp masking). Logged values, all weighted: ``l_g_<name>`` (the term; for a term with
parts, their sum) and ``l_g_<name>_<part>`` for each part.

Terms are evaluated in fp32 outside `train.amp`'s autocast, except a term whose instance has
``autocast = True`` (the perceptual loss: its VGG is a network worth running at the training
precision); such a term is called inside the model's autocast region and returns fp32 values itself.
"""
from __future__ import annotations

import contextlib
import inspect

import torch
from torch import Tensor

from sr_gan.errors import SRGanError
from sr_gan.registry import LOSSES

INPUTS = ("lr", "sr_ema")          # what a term may ask for beyond (sr, target)
TARGETS = ("hr", "hr_usm")
TERM_KEYS = ("type", "weight", "name", "target")
RESERVED_NAMES = ("gan", "fm")     # l_g_gan, l_g_fm: the srgan model's own generator terms


def forward_inputs(cls) -> tuple[str, ...]:
    """Names of the extra inputs `cls.forward(sr, target, ...)` asks for."""
    params = [p for p in inspect.signature(cls.forward).parameters.values()
              if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)][1:]   # drop self
    return tuple(p.name for p in params[2:])


def check_term(cls, key: str, ema: bool) -> str | None:
    """A one-line problem with a generator loss class's forward() (None when it can be used)."""
    params = [p for p in inspect.signature(cls.forward).parameters.values()][1:]
    if len([p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]) < 2:
        return f"{key}: {cls.__name__}.forward must take (sr, target, ...)"
    for name in forward_inputs(cls):
        if name not in INPUTS:
            return f"{key}: {cls.__name__}.forward asks for '{name}'; a term may ask for {', '.join(INPUTS)}"
    if "sr_ema" in forward_inputs(cls) and not ema:
        return f"{key}: this term needs the EMA generator's output (sr_ema); set train.ema_decay > 0"
    return None


class LossTerm:
    def __init__(self, index: int, cfg: dict, device: torch.device):
        self.name, self.weight, self.target = cfg["name"], float(cfg["weight"]), cfg["target"]
        args = {k: v for k, v in cfg.items() if k not in TERM_KEYS}
        try:
            self.module = LOSSES.build({"type": cfg["type"], **args}).to(device)
        except SRGanError as e:       # the class names its argument; add where it sits in the file
            e.args = (f"train.losses[{index}].{e}",)
            raise
        self.inputs = forward_inputs(type(self.module))
        self.autocast = bool(getattr(self.module, "autocast", False))


class LossTerms:
    """The terms of `train.losses` with weight > 0, in file order."""

    def __init__(self, cfgs: list[dict], device: torch.device):
        self.terms = [LossTerm(i, c, device) for i, c in enumerate(cfgs or []) if c["weight"] > 0]

    def __bool__(self) -> bool:
        return bool(self.terms)

    def targets(self) -> set[str]:
        return {t.target for t in self.terms}

    def inputs(self) -> set[str]:
        return {n for t in self.terms for n in t.inputs}

    def modules(self) -> list[torch.nn.Module]:
        return [t.module for t in self.terms]

    def __call__(self, sr: Tensor, available: dict[str, Tensor], autocast=contextlib.nullcontext) -> dict[str, Tensor]:
        """Weighted values by log name; the generator's loss is the sum of the `l_g_<name>` entries
        (``total``). ``available`` holds the targets and inputs the terms ask for; ``autocast`` makes
        the model's autocast context (entered only for terms that opt in)."""
        out = {}
        for t in self.terms:
            with autocast() if t.autocast else contextlib.nullcontext():
                value = t.module(sr, available[t.target], **{n: available[n] for n in t.inputs})
            if isinstance(value, dict):
                parts = {f"l_g_{t.name}_{p}": t.weight * v for p, v in value.items()}
                out[f"l_g_{t.name}"] = sum(parts.values())
                out.update(parts)
            else:
                out[f"l_g_{t.name}"] = t.weight * value
        return out

    def total(self, values: dict[str, Tensor]) -> Tensor | int:
        return sum(values[f"l_g_{t.name}"] for t in self.terms)

