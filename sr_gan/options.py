"""Option files: YAML + `base:` inheritance + `key.sub=value` overrides + strict validation.

The schema below is the single source of truth: `validate` checks a loaded file against it and
`python -m sr_gan.options` prints it as the README's option reference. Sections that pick a class by
`type:` (networks, losses, datasets) take their keys from that class's constructor signature, so a
new network's options are checked and documented without editing this file.
"""
from __future__ import annotations

import copy
import difflib
import inspect
import os
import typing
from dataclasses import dataclass, field
from typing import Any, Callable

import yaml

from .errors import OptionError
from .registry import ARCHS, DATASETS, LOSSES, METRICS, MODELS, Registry

_MISSING = object()


@dataclass
class Field:
    type: Any                      # int | float | str | bool | list | dict | tuple of those
    default: Any = None
    doc: str = ""
    required: bool = False
    choices: Any = None            # list or callable returning a list
    min: float | None = None
    max: float | None = None
    nullable: bool = True


@dataclass
class Typed:
    """A section whose `type:` names a registry entry; other keys are that class's arguments."""
    registry: Registry
    kind: str | None = None
    default_type: str | None = None
    extra: dict = field(default_factory=dict)      # keys handled by the model, not the class
    injected: tuple = ()                           # arguments the code fills in, not the YAML
    doc: str = ""


@dataclass
class MapOf:
    """A mapping of user-chosen names to sections (e.g. datasets: {train: ..., val_set5: ...})."""
    value: Any
    doc: str = ""


F = Field
OPTIM = {
    "type": F(str, "adam", "adam | adamw", choices=["adam", "adamw"]),
    "lr": F(float, 1e-4, "learning rate", min=0.0, nullable=False),
    "betas": F(list, [0.9, 0.99], "Adam betas"),
    "weight_decay": F(float, 0.0, "decoupled for adamw, L2 for adam", min=0.0),
    "eps": F(float, 1e-8, "Adam epsilon", min=0.0),
}
LOADER_KEYS = {
    "batch": F(int, 16, "batch size per process (effective batch = batch x processes)", min=1),
    "workers": F(int, 2, "DataLoader worker processes", min=0),
}
DATASET = Typed(DATASETS, default_type="paired", extra=LOADER_KEYS, injected=("scale", "phase", "seed"),
                doc="dataset; `type` plus the dataset class's arguments")

SCHEMA: dict = {
    "name": F(str, doc="experiment name: experiments/<name>/", required=True, nullable=False),
    "base": F(str, None, "option file this one inherits (path relative to this file)"),
    "model": F(str, "sr", "sr (pixel loss) | srgan (pixel + perceptual + GAN)", choices=lambda: MODELS.names()),
    "scale": F(int, doc="upscaling factor", required=True, min=1, max=16, nullable=False),
    "device": F(str, "auto", "auto | cpu | cuda (auto picks CUDA when present)", choices=["auto", "cpu", "cuda"]),
    "seed": F(int, 0, "seed for weights, data order and augmentation"),
    "num_threads": F(int, None, "CPU threads for torch (default: torch's choice)", min=1),
    "datasets": MapOf(DATASET, "named datasets: `train` for training, every other name is a validation set"),
    "network_g": Typed(ARCHS, kind="generator", injected=("scale",), doc="generator"),
    "network_d": Typed(ARCHS, kind="discriminator", injected=("input_size",),
                       extra={"conditional": F(bool, False, "judge D(x | bicubic-upsampled LR), channels concatenated")},
                       doc="discriminator (srgan model)"),
    "path": {
        "experiments_root": F(str, "experiments", "where experiment folders are made"),
        "pretrain_network_g": F(str, None, "generator weights to start from (ours, BasicSR, KAIR or original ESRGAN)"),
        "strict_load_g": F(bool, True, "require every key to match"),
        "pretrain_network_d": F(str, None, "discriminator weights to start from"),
        "strict_load_d": F(bool, True, "require every key to match"),
    },
    "train": {
        "total_iter": F(int, 100000, "iterations (generator updates) in all", min=1),
        "optim_g": OPTIM,
        "optim_d": OPTIM,
        "scheduler": {
            "type": F(str, "multistep", "multistep | cosine | constant", choices=["multistep", "cosine", "constant"]),
            "milestones": F(list, [], "multistep: iterations where lr is multiplied by gamma"),
            "gamma": F(float, 0.5, "multistep factor", min=0.0),
            "warmup_iter": F(int, 0, "linear warm-up iterations", min=0),
            "eta_min": F(float, 1e-7, "cosine: final lr", min=0.0),
        },
        "ema_decay": F(float, 0.999, "EMA of the generator used for validation and export; 0 = off", min=0.0, max=1.0),
        "pixel": Typed(LOSSES, kind="pixel", default_type="l1",
                       extra={"weight": F(float, 1.0, "weight of the pixel loss", min=0.0)}, doc="pixel loss; null = off"),
        "perceptual": Typed(LOSSES, kind="perceptual", default_type="perceptual",
                            extra={"weight": F(float, 1.0, "weight of the perceptual term", min=0.0)},
                            doc="VGG19 perceptual loss (srgan); null = off"),
        "gan": {
            "type": F(str, "vanilla", "vanilla | lsgan | wgan | wgan_gp | hinge | softplus",
                      choices=lambda: LOSSES.names("gan")),
            "weight": F(float, 5e-3, "weight of the generator's GAN term", min=0.0),
            "relativistic": F(bool, False, "relativistic-average D and G (ESRGAN)"),
            "real_label": F(float, 1.0, "target for real (D)"),
            "fake_label": F(float, 0.0, "target for fake (D)"),
            "gen_label": F(float, 1.0, "target for fake (G)"),
            "gp_weight": F(float, 10.0, "wgan_gp: gradient penalty weight", min=0.0),
            "r1_weight": F(float, 0.0, "R1 penalty on real images (gamma)", min=0.0),
        },
        "feature_matching": {
            "weight": F(float, 0.0, "L1 between D's features on HR and SR; 0 = off", min=0.0),
            "layers": F(list, None, "indices of D's feature list (default: all)"),
        },
        "d_update": {
            "ratio": F(float, 1.0, "D updates per G update (>=1), or e.g. 0.5 = one D update every 2 G updates", min=0.0),
            "init_iters": F(int, 0, "train D alone for this many iterations first", min=0),
        },
        "amp": F(str, "none", "none | bf16 | fp16 mixed precision (losses in fp32)", choices=["none", "bf16", "fp16"]),
        "channels_last": F(bool, False, "channels_last memory format for G and D"),
        "compile": F(bool, False, "torch.compile G and D (falls back with a warning)"),
        "sync_bn": F(bool, False, "multi-GPU: SyncBatchNorm in D (BN statistics over the global batch); CUDA only"),
        "grad_clip": F(float, 0.0, "clip gradient norm of G and D; 0 = off", min=0.0),
        "max_nonfinite": F(int, 5, "stop after this many consecutive NaN/Inf steps", min=1),
        "auto_resume": F(bool, False, "resume from the newest loadable checkpoint of this experiment"),
    },
    "val": {
        "freq": F(int, 0, "validate every N iterations (0 = only at the end)", min=0),
        "metrics": F(list, ["psnr", "ssim"], "psnr, ssim, lpips, niqe", choices=lambda: METRICS.names()),
        "crop_border": F(int, None, "pixels removed at each border (default: scale)", min=0),
        "y_channel": F(bool, True, "PSNR/SSIM on MATLAB's Y channel (paper convention); false = RGB"),
        "save_images": F(bool, True, "save SR images to experiments/<name>/visualization"),
    },
    "logger": {
        "print_freq": F(int, 100, "log losses every N iterations", min=1),
        "use_tb": F(bool, True, "write TensorBoard events"),
    },
    "save": {
        "freq": F(int, 5000, "checkpoint every N iterations (one is always written at the end)", min=1),
        "keep": F(int, 3, "keep the newest K checkpoints", min=1),
    },
}


# ----------------------------------------------------------------------------- loading

def _fail(src: str, key: str, msg: str) -> OptionError:
    where = f"{src}: " if src else ""
    return OptionError(f"{where}{key}: {msg}" if key else f"{where}{msg}")


def _read_yaml(path: str) -> dict:
    if not os.path.isfile(path):
        raise OptionError(f"{path}: option file not found")
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise OptionError(f"{path}: invalid YAML{line}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise OptionError(f"{path}: expected a mapping of options at the top level, got {type(data).__name__}")
    return data


def deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict) and "type" not in v:
            out[k] = deep_merge(out[k], v)
        elif isinstance(v, dict) and isinstance(out.get(k), dict) and v.get("type") == out[k].get("type"):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _load_with_bases(path: str, seen: tuple = ()) -> dict:
    real = os.path.realpath(path)
    if real in seen:
        raise OptionError(f"{path}: base: inheritance loop ({' -> '.join(seen + (real,))})")
    data = _read_yaml(path)
    base = data.pop("base", None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise _fail(path, "base", "expected a path to another option file")
    cand = os.path.join(os.path.dirname(path), base)
    if not os.path.isfile(cand) and os.path.isfile(base):
        cand = base
    return deep_merge(_load_with_bases(cand, seen + (real,)), data)


def parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise OptionError(f"override '{text}': expected key.sub=value")
    key, _, raw = text.partition("=")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return key.strip().split("."), value


def apply_override(opt: dict, keys: list[str], value: Any) -> None:
    node = opt
    for k in keys[:-1]:
        if not isinstance(node.get(k), dict):
            node[k] = {}
        node = node[k]
    node[keys[-1]] = value


def load(path: str, overrides: list[str] = (), check_paths: bool = True) -> dict:
    """Load, merge bases, apply overrides, validate, fill defaults. Raises OptionError (one line)."""
    opt = _load_with_bases(path)
    for text in overrides:
        keys, value = parse_override(text)
        apply_override(opt, keys, value)
    opt = validate(opt, src=path)
    if check_paths:
        check_dataset_paths(opt, src=path)
    opt["_source"] = path
    return opt


# ----------------------------------------------------------------------------- validation

def _choices(fl: Field) -> list | None:
    return fl.choices() if callable(fl.choices) else fl.choices


def _type_name(t) -> str:
    return " or ".join(x.__name__ for x in t) if isinstance(t, tuple) else getattr(t, "__name__", str(t))


def _coerce(value: Any, fl: Field, src: str, key: str) -> Any:
    if value is None:
        if fl.nullable or fl.default is None and not fl.required:
            return None
        raise _fail(src, key, f"must not be empty (expected {_type_name(fl.type)})")
    t = fl.type
    if t is float and isinstance(value, str):   # YAML 1.1 reads "1e-4" as a string
        try:
            value = float(value)
        except ValueError:
            pass
    ok = (isinstance(value, bool) if t is bool else
          isinstance(value, (int, float)) and not isinstance(value, bool) if t is float else
          isinstance(value, int) and not isinstance(value, bool) if t is int else
          isinstance(value, t))
    if not ok:
        raise _fail(src, key, f"expected {_type_name(t)}, got {type(value).__name__} {value!r}")
    if t is float:
        value = float(value)
    ch = _choices(fl)
    if ch is not None:
        items = value if isinstance(value, list) else [value]
        for it in items:
            if it not in ch:
                close = difflib.get_close_matches(str(it), [str(c) for c in ch], n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise _fail(src, key, f"'{it}' is not one of {', '.join(map(str, ch))}{hint}")
    if fl.min is not None and isinstance(value, (int, float)) and value < fl.min:
        raise _fail(src, key, f"must be >= {fl.min:g}, got {value}")
    if fl.max is not None and isinstance(value, (int, float)) and value > fl.max:
        raise _fail(src, key, f"must be <= {fl.max:g}, got {value}")
    return value


def _unknown(src: str, key: str, name: str, known) -> OptionError:
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    full = f"{key}.{name}" if key else name
    return _fail(src, full, f"unknown option{hint}")


def _field_from_param(p: inspect.Parameter) -> Field:
    ann = p.annotation
    if isinstance(ann, str):
        ann = {"int": int, "float": float, "str": str, "bool": bool}.get(ann.split("|")[0].strip(), Any)
    origin = typing.get_origin(ann)
    args = [a for a in typing.get_args(ann) if a is not type(None)]
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)) and args:
        ann = args[0]
        origin = typing.get_origin(ann)
    base = {list: list, dict: dict, tuple: list}.get(origin, ann)
    if base not in (int, float, str, bool, list, dict):
        base = object
    default = None if p.default is inspect.Parameter.empty else p.default
    if isinstance(default, tuple):
        default = list(default)
    return Field(base, default, required=p.default is inspect.Parameter.empty)


def _validate_typed(node: Any, spec: Typed, src: str, key: str) -> dict | None:
    if node is None:
        return None
    if not isinstance(node, dict):
        raise _fail(src, key, f"expected a mapping with a 'type:', got {type(node).__name__}")
    node = dict(node)
    tname = node.get("type", spec.default_type)
    if tname is None:
        raise _fail(src, f"{key}.type", "missing (required)")
    names = spec.registry.names(spec.kind)
    if tname not in names:
        close = difflib.get_close_matches(str(tname), names, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise _fail(src, f"{key}.type", f"unknown {spec.registry.concept} '{tname}'{hint}; known: {', '.join(names)}")
    params = {n: p for n, p in spec.registry.signature(tname).parameters.items()
              if n not in spec.injected and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    out = {"type": tname}
    for k, v in node.items():
        if k == "type":
            continue
        if k in spec.extra:
            out[k] = _coerce(v, spec.extra[k], src, f"{key}.{k}")
        elif k in params:
            fl = _field_from_param(params[k])
            fl.nullable = True
            out[k] = v if fl.type is object else _coerce(v, fl, src, f"{key}.{k}")
        else:
            raise _unknown(src, key, k, list(params) + list(spec.extra))
    for k, fl in spec.extra.items():
        out.setdefault(k, copy.deepcopy(fl.default))
    for n, p in params.items():
        if p.default is inspect.Parameter.empty and n not in out:
            raise _fail(src, f"{key}.{n}", f"missing (required by {tname})")
    return out


def _validate_node(node: Any, spec: Any, src: str, key: str) -> Any:
    if isinstance(spec, Typed):
        return _validate_typed(node, spec, src, key)
    if isinstance(spec, MapOf):
        if node is None:
            return {}
        if not isinstance(node, dict):
            raise _fail(src, key, "expected a mapping of names to sections")
        return {k: _validate_node(v, spec.value, src, f"{key}.{k}") for k, v in node.items()}
    if isinstance(spec, dict):
        if node is None:
            node = {}
        if not isinstance(node, dict):
            raise _fail(src, key, f"expected a mapping, got {type(node).__name__}")
        for k in node:
            if k not in spec:
                raise _unknown(src, key, k, spec)
        out = {}
        for k, sub in spec.items():
            full = f"{key}.{k}" if key else k
            if isinstance(sub, Field):
                if k not in node:
                    if sub.required:
                        raise _fail(src, full, "missing (required)")
                    out[k] = copy.deepcopy(sub.default)
                else:
                    out[k] = _coerce(node[k], sub, src, full)
            else:
                out[k] = _validate_node(node.get(k), sub, src, full)
        return out
    raise TypeError(f"bad schema node at {key}")


def validate(opt: dict, src: str = "") -> dict:
    opt = dict(opt)
    opt.pop("_source", None)
    out = _validate_node(opt, SCHEMA, src, "")
    if out["model"] == "srgan" and not out.get("network_d"):
        raise _fail(src, "network_d", "missing (required by model: srgan)")
    if out["val"]["crop_border"] is None:
        out["val"]["crop_border"] = out["scale"]
    return out


def check_dataset_paths(opt: dict, src: str = "") -> None:
    for name, ds in opt["datasets"].items():
        for k in ("hr", "lr"):
            p = ds.get(k)
            if p and not os.path.isdir(p):
                raise _fail(src, f"datasets.{name}.{k}", f"folder '{p}' does not exist (see `python datasets/prepare.py layout`)")


def save(opt: dict, path: str) -> None:
    """Write the fully resolved options (what actually ran) next to the experiment's results."""
    clean = {k: v for k, v in opt.items() if not k.startswith("_")}
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        yaml.safe_dump(clean, f, sort_keys=False)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- docs

def _esc(text: str) -> str:
    return str(text).replace("|", "\\|")


def _doc_lines(spec: Any, key: str, out: list[str]) -> None:
    if isinstance(spec, Field):
        req = " **required**" if spec.required else ""
        ch = _choices(spec)
        ch_s = f" ({', '.join(map(str, ch))})" if ch and spec.type is not list else ""
        out.append(f"| `{key}` | {_type_name(spec.type)} | `{spec.default!r}`{req} | {_esc(spec.doc + ch_s)} |")
    elif isinstance(spec, Typed):
        kinds = spec.registry.names(spec.kind)
        out.append(f"| `{key}.type` | str | `{spec.default_type!r}` | {_esc(spec.doc)}: {', '.join(kinds)} |")
        for k, fl in spec.extra.items():
            _doc_lines(fl, f"{key}.{k}", out)
        for t in kinds:
            ps = [f"{n}={p.default!r}" if p.default is not inspect.Parameter.empty else n
                  for n, p in spec.registry.signature(t).parameters.items() if n not in spec.injected]
            out.append(f"| `{key}` ({t}) | | | {_esc(', '.join(ps))} |")
    elif isinstance(spec, MapOf):
        _doc_lines(spec.value, f"{key}.<name>", out)
    else:
        for k, sub in spec.items():
            _doc_lines(sub, f"{key}.{k}" if key else k, out)


def options_doc() -> str:
    lines = ["| key | type | default | meaning |", "|---|---|---|---|"]
    _doc_lines(SCHEMA, "", lines)
    return "\n".join(lines)


if __name__ == "__main__":
    print(options_doc())
