"""Option files: YAML + `base:` inheritance + `key.sub=value` overrides + strict validation.

The schema (sr_gan/option_schema.py) is the single source of truth: `validate` checks a loaded file against it and
`python -m sr_gan.options` prints it as the README's option reference. Sections that pick a class by
`type:` (networks, losses, datasets) take their keys from that class's constructor signature, so a
new network's options are checked and documented without editing this file. Entries of a list
section (`train.losses`) are addressed by name in overrides: `train.losses.perceptual.weight=0.5`.
"""
from __future__ import annotations

import collections.abc
import copy
import difflib
import functools
import inspect
import os
import re
import types
import typing
from typing import Any

import yaml

from .errors import OptionError
from .option_schema import SCHEMA, Args, Field, ListOf, MapOf, Typed
from .utils.yaml_io import DuplicateKeyError, load_file as load_yaml_file, load_text as load_yaml_text

# ----------------------------------------------------------------------------- loading

def _fail(src: str, key: str, msg: str) -> OptionError:
    where = f"{src}: " if src else ""
    return OptionError(f"{where}{key}: {msg}" if key else f"{where}{msg}")


def read_yaml(path: str) -> dict:
    """A YAML file holding a mapping (option files, benchmark lists, BasicSR files); one-line OptionErrors."""
    if not os.path.isfile(path):
        raise OptionError(f"{path}: option file not found" if not os.path.isdir(path)
                          else f"{path}: is a folder, not an option file")
    data = load_yaml_file(path)
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
    data = read_yaml(path)
    if isinstance(data.get("imports"), list):   # plugin files are relative to the file that names them
        from .plugins import anchor
        data["imports"] = [anchor(e, os.path.dirname(path)) for e in data["imports"]]
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
        value = load_yaml_text(raw, f"override '{text}'") if raw.strip() else None
    except DuplicateKeyError:
        raise
    except OptionError:        # not YAML: the text itself (a path with a colon, say)
        value = raw
    return key.strip().split("."), value


def _entry_index(items: list, part: str, where: str) -> int:
    """The list entry `part` addresses: its `name` (default: its type) or its index."""
    if part.isdigit():
        if int(part) >= len(items):
            raise OptionError(f"{where}: index {part} out of range ({where} has {len(items)} entries)")
        return int(part)
    names = [(e.get("name") or e.get("type")) if isinstance(e, dict) else None for e in items]
    hits = [i for i, n in enumerate(names) if n == part]
    if len(hits) > 1:
        raise OptionError(f"{where}: '{part}' names entries {' and '.join(map(str, hits))}; give them distinct `name:`s")
    if not hits:
        known = ", ".join(str(n) for n in names if n is not None) or "none"
        raise OptionError(f"{where}: no entry named '{part}' (names: {known}; or an index 0..{len(items) - 1})")
    return hits[0]


def apply_override(opt: dict, keys: list[str], value: Any) -> None:
    """Set opt[k1][k2]... = value; a list section's entries are addressed by name or index."""
    node: Any = opt
    spec: Any = SCHEMA
    for i, k in enumerate(keys):
        last = i == len(keys) - 1
        where = ".".join(keys[:i]) or k
        if isinstance(node, list):
            j = _entry_index(node, k, where)
            if last:
                node[j] = value
                return
            if not isinstance(node[j], dict):
                node[j] = {}
            node, spec = node[j], None
            continue
        if last:
            node[k] = value
            return
        sub = spec.get(k) if isinstance(spec, dict) else None
        if k not in node and isinstance(sub, ListOf):
            node[k] = copy.deepcopy(sub.default)       # address the default list's entries
        if not isinstance(node.get(k), (dict, list)):
            node[k] = {}
        node, spec = node[k], sub


def lookup(opt: dict, key: str) -> Any:
    """The value at a dotted key (list entries by name or index), None when absent."""
    node: Any = opt
    for part in key.split("."):
        if isinstance(node, list):
            try:
                node = node[_entry_index(node, part, key)]
            except OptionError:
                return None
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return None
    return node


def load(path: str, overrides: list[str] = (), check_paths: bool = True) -> dict:
    """Load, merge bases, apply overrides, validate, fill defaults. Raises OptionError (one line)."""
    opt = _load_with_bases(path)
    for text in overrides:
        keys, value = parse_override(text)
        try:
            apply_override(opt, keys, value)
        except OptionError as e:
            raise OptionError(f"override '{text}': {e}") from None
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


def _field_type_name(fl: Field) -> str:
    """'list', 'list of float', 'list of 2 float', 'dict of float' (for messages and the reference)."""
    name = "any" if fl.type is object else _type_name(fl.type)
    if fl.type in (list, dict) and (fl.item is not None or fl.length is not None):
        count = f"{fl.length} " if fl.length is not None else ""
        what = _field_type_name(fl.item) if fl.item is not None else "any"
        name = f"{name} of {count}{what}"
    return name


def _coerce(value: Any, fl: Field, src: str, key: str) -> Any:
    if value is None:
        if fl.accepts_null():
            return None
        raise _fail(src, key, f"must not be empty (expected {_field_type_name(fl)})")
    t = fl.type
    if t is object:
        return value
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
        shown = _flow(value) if isinstance(value, (list, dict)) else repr(value)
        raise _fail(src, key, f"expected {_field_type_name(fl)}, got {type(value).__name__} {shown}")
    if t is float:
        value = float(value)
    if isinstance(value, list):
        value = _coerce_items(value, fl, src, key)
    elif isinstance(value, dict) and fl.item is not None:
        value = {k: _coerce(v, fl.item, src, f"{key}.{k}") for k, v in value.items()}
    ch = _choices(fl)
    if ch is not None:
        items = value if isinstance(value, list) else [value]
        for it in items:
            if it not in ch:
                close = difflib.get_close_matches(str(it), [str(c) for c in ch], n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise _fail(src, key, f"'{it}' is not one of {', '.join(map(str, ch))}{hint}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value != value:
            raise _fail(src, key, "must be a number, got .nan")
        if fl.min is not None and value < fl.min:
            raise _fail(src, key, f"must be >= {fl.min:g}, got {value}")
        if fl.max is not None and (value >= fl.max if fl.max_open else value > fl.max):
            raise _fail(src, key, f"must be {'<' if fl.max_open else '<='} {fl.max:g}, got {value}")
    return value


def _coerce_items(value: list, fl: Field, src: str, key: str) -> list:
    """A list's length, each element's type and range, and their order."""
    if fl.length is not None and len(value) != fl.length:
        raise _fail(src, key, f"expected a list of {fl.length} values, got {len(value)}: {_flow(value)}")
    if fl.item is not None:
        value = [_coerce(v, fl.item, src, f"{key}[{i}]") for i, v in enumerate(value)]
    if fl.increasing:
        for i in range(1, len(value)):
            if not value[i] > value[i - 1]:
                raise _fail(src, key, f"must be strictly increasing, got {_flow(value)} "
                                      f"({key}[{i}] = {value[i]} after {value[i - 1]})")
    return value


def _unknown(src: str, key: str, name: str, known) -> OptionError:
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    full = f"{key}.{name}" if key else name
    return _fail(src, full, f"unknown option{hint}")


@functools.lru_cache(maxsize=None)
def _hints(obj) -> dict:
    """A registry entry's resolved constructor annotations (files use `from __future__ import annotations`,
    so inspect.signature holds strings). One that does not resolve (a plugin's forward reference) is Any."""
    target = obj.__init__ if inspect.isclass(obj) else obj
    try:
        return typing.get_type_hints(target)
    except Exception:  # noqa: BLE001 - any failure to evaluate: resolve parameter by parameter below
        out, env = {}, getattr(target, "__globals__", {})
        for name, ann in getattr(target, "__annotations__", {}).items():
            try:
                out[name] = eval(ann, env) if isinstance(ann, str) else ann   # what get_type_hints does
            except Exception:  # noqa: BLE001
                out[name] = Any
        return out


def _field_from_annotation(ann: Any) -> Field:
    """int/float/str/bool, Literal[...] (choices), list[T] / Sequence[T], tuple[T, T] (exactly 2),
    tuple[T, ...], dict[str, T], and `X | None` (may be null); anything else is unchecked (object)."""
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        fl = _field_from_annotation(rest[0]) if len(rest) == 1 else Field(object)
        fl.nullable = fl.nullable or type(None) in args
        return fl
    if origin is typing.Literal:
        return Field(type(args[0]), choices=list(args))
    if ann in (int, float, str, bool):
        return Field(ann)
    sub = lambda a: None if a is Any else _field_from_annotation(a)   # noqa: E731
    if ann in (list, tuple) or origin in (list, collections.abc.Sequence):
        return Field(list, item=sub(args[0]) if args else None)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return Field(list, item=sub(args[0]))
        return Field(list, item=sub(args[0]) if len(set(args)) == 1 else None, length=len(args))
    if ann is dict or origin in (dict, collections.abc.Mapping):
        return Field(dict, item=sub(args[1]) if len(args) == 2 else None)
    return Field(object)


def _field_from_param(p: inspect.Parameter, ann: Any = inspect.Parameter.empty) -> Field:
    """The Field a constructor argument declares through its annotation and default."""
    fl = Field(object) if ann is inspect.Parameter.empty else _field_from_annotation(ann)
    fl.required = p.default is inspect.Parameter.empty
    default = None if fl.required else p.default
    fl.default = list(default) if isinstance(default, tuple) else default
    if fl.nullable is None:
        fl.nullable = fl.type is object or fl.default is None
    return fl


def _flow(value: Any) -> str:
    """A value as one line of YAML flow style, for "write: ..." hints."""
    return yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=2 ** 31).strip()


def _params(spec: Typed, tname: str) -> dict[str, inspect.Parameter]:
    return {n: p for n, p in spec.registry.signature(tname).parameters.items()
            if n not in spec.injected and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def _bad_keys(src: str, key: str, node: dict, spec: Typed, tname: str, names: list[str]) -> OptionError:
    """The error for keys `tname` does not take. Keys that belong to other types of this section (gp_weight
    on a vanilla GAN, an old file's fixed GAN keys) get a line saying which types take them and the
    section without them; any other key is an unknown option."""
    params = _params(spec, tname)
    owners = {k: [t for t in names if t != tname and k in _params(spec, t)]
              for k in node if k != "type" and k not in params and k not in spec.extra}
    for k, takers in owners.items():
        if not takers:
            return _unknown(src, key, k, list(params) + list(spec.extra))
    k, takers = next(iter(owners.items()))
    kept = {"type": tname, **{k2: v for k2, v in node.items() if k2 != "type" and k2 not in owners}}
    what = f"{spec.kind} {spec.registry.concept}" if spec.kind else spec.registry.concept
    return _fail(src, f"{key}.{k}", f"not an argument of {what} type '{tname}' (taken by {', '.join(takers)}); "
                                    f"write: {key.rsplit('.', 1)[-1]}: {_flow(kept)}")


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
    params = _params(spec, tname)
    out = {"type": tname}
    for k, v in node.items():
        if k == "type":
            continue
        if k in spec.extra:
            out[k] = _coerce(v, spec.extra[k], src, f"{key}.{k}")
        elif k in params:
            fl = _field_from_param(params[k], _hints(spec.registry.get(tname)).get(k, inspect.Parameter.empty))
            out[k] = _coerce(v, fl, src, f"{key}.{k}")
        else:
            raise _bad_keys(src, key, node, spec, tname, names)
    for k, fl in spec.extra.items():
        out.setdefault(k, copy.deepcopy(fl.default))
    for n, p in params.items():
        if p.default is inspect.Parameter.empty and n not in out:
            raise _fail(src, f"{key}.{n}", f"missing (required by {tname})")
    return out


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _validate_list(node: Any, spec: ListOf, src: str, key: str) -> list:
    """Entries are validated like any typed section and get a unique `name` (default: the type); where
    the spec allows it, a bare name is short for {type: name} and stays a name. Empty (null) = the default."""
    if node is None:
        node = copy.deepcopy(spec.default)
    if not isinstance(node, list):
        raise _fail(src, key, f"expected a list of sections with a 'type:', got {type(node).__name__}")
    out, seen = [], {}
    for i, item in enumerate(node):
        where = f"{key}[{i}]"
        if isinstance(item, str) and spec.bare_names:
            _validate_typed({"type": item}, spec.item, src, where)
            entry, name = item, item
        elif isinstance(item, dict) and "type" in item:
            entry = _validate_typed(item, spec.item, src, where)
            name = entry.get("name") or entry["type"]
            if not _NAME.fullmatch(str(name)):
                raise _fail(src, f"{where}.name", f"'{name}' is not a usable name (letters, digits, _; not starting with a digit)")
            entry["name"] = name
        else:
            what = "a name or a mapping with a 'type:'" if spec.bare_names else "a mapping with a 'type:'"
            raise _fail(src, where, f"expected {what}, got {_flow(item)}")
        if name in seen:
            raise _fail(src, f"{where}.name" if isinstance(entry, dict) else where,
                        f"'{name}' is also the name of {key}[{seen[name]}]; give one of them another `name:`")
        seen[name] = i
        out.append(entry)
    return out


def validate_metrics(specs: Any, src: str = "", key: str = "val.metrics") -> list:
    """A metric list (as `val.metrics`) checked against the metric classes: for test_sr.py and benchmark files."""
    return _validate_list(copy.deepcopy(SCHEMA["val"]["metrics"].default) if specs is None else specs,
                          SCHEMA["val"]["metrics"], src, key)


def _args_params(spec: Args) -> dict[str, inspect.Parameter]:
    return {n: p for n, p in inspect.signature(spec.cls()).parameters.items()
            if n not in spec.injected and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def _validate_args(node: Any, spec: Args, src: str, key: str) -> dict | None:
    """The class's arguments, typed from its signature, every default filled in (what ran); null = off."""
    if node is None:
        return None
    if not isinstance(node, dict):
        raise _fail(src, key, f"expected a mapping of options (or null = off), got {type(node).__name__}")
    params, hints = _args_params(spec), _hints(spec.cls())
    out = {}
    for k, v in node.items():
        if k not in params:
            raise _unknown(src, key, k, params)
        fl = _field_from_param(params[k], hints.get(k, inspect.Parameter.empty))
        fl.nullable = True
        out[k] = v if fl.type is object else _coerce(v, fl, src, f"{key}.{k}")
    for n, p in params.items():
        if n not in out:
            if p.default is inspect.Parameter.empty:
                raise _fail(src, f"{key}.{n}", "missing (required)")
            out[n] = list(p.default) if isinstance(p.default, tuple) else copy.deepcopy(p.default)
    return out


def _validate_node(node: Any, spec: Any, src: str, key: str) -> Any:
    if isinstance(spec, Typed):
        return _validate_typed(node, spec, src, key)
    if isinstance(spec, Args):
        return _validate_args(node, spec, src, key)
    if isinstance(spec, ListOf):
        return _validate_list(node, spec, src, key)
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
                absent = k not in node and getattr(sub, "default", None) is not None
                out[k] = _validate_node(copy.deepcopy(sub.default) if absent else node[k] if k in node else None,
                                        sub, src, full)
        return out
    raise TypeError(f"bad schema node at {key}")


def _old_losses(src: str, train: dict) -> OptionError | None:
    """train.pixel / train.perceptual (before train.losses): the list that replaces them, from the file's values."""
    old = [k for k in ("pixel", "perceptual") if k in train]
    if not old:
        return None
    terms = []
    for k in old:
        sec = train[k]
        if not isinstance(sec, dict) or sec.get("weight", 1.0) == 0:
            continue                              # null or weight 0 was "off"
        args = {a: v for a, v in sec.items() if a not in ("type", "weight")}
        weight = sec.get("weight", 1.0)
        if k == "perceptual" and args.get("style_weight"):
            args["style_weight"] = args["style_weight"] / weight   # weight now scales the style part too
        terms.append({"type": sec.get("type") or ("l1" if k == "pixel" else "perceptual"), "weight": weight, **args})
    keys = " and ".join(f"train.{k}" for k in old)
    return _fail(src, "", f"{keys}: replaced by train.losses; write: losses: {_flow(terms)}")


def _check_name(name: str, src: str) -> None:
    """`name` becomes the folder experiments/<name>/: one plain folder name, never a path."""
    if not name.strip() or name in (".", "..") or any(c in name for c in ("/", "\\", "\0")):
        raise _fail(src, "name", f"{name!r} is not a usable experiment name: it names the folder "
                                 f"<experiments_root>/<name>/ (not empty, not '.' or '..', no '/' or '\\')")


def _check_networks(out: dict, src: str) -> None:
    """No dataset section is empty; the training crop is a whole number of LR pixels (the scales a
    generator supports and its input multiple are its contract: sr_gan.archs.check_contracts)."""
    scale = out["scale"]
    for name, ds in out["datasets"].items():
        if ds is None:
            raise _fail(src, f"datasets.{name}", "empty (expected a dataset section, e.g. {hr: FOLDER})")
    crop = (out["datasets"].get("train") or {}).get("crop")
    if crop is not None and crop % scale:
        raise _fail(src, "datasets.train.crop", f"{crop} is not a multiple of scale {scale} "
                                                f"(the LR patch is crop / scale pixels)")


def _check_model(out: dict, src: str) -> None:
    """Rules that join several sections (checked before anything is built or written)."""
    from .archs import check_contracts
    from .losses.terms import RESERVED_NAMES, check_term
    from .registry import LOSSES
    _check_name(out["name"], src)
    problem = check_contracts(out)      # what the networks declare (sr_gan.archs): an unsupported scale comes
    if problem:                         # before the crop that would have to fit it
        raise _fail(src, "", problem)
    _check_networks(out, src)
    t = out["train"]
    for i, term in enumerate(t["losses"]):
        problem = check_term(LOSSES.get(term["type"]), f"train.losses[{i}]", ema=t["ema_decay"] > 0)
        if problem:
            raise _fail(src, "", problem)
        if term["name"] in RESERVED_NAMES:
            raise _fail(src, f"train.losses[{i}].name", f"'{term['name']}' is reserved (l_g_{term['name']} is the "
                                                        f"srgan model's own term); choose another `name:`")
    active = any(term["weight"] > 0 for term in t["losses"])
    if out["model"] == "sr" and not active:
        raise _fail(src, "train.losses", "the sr model needs a term with weight > 0 "
                                         "(absent, train.losses defaults to [{type: l1, weight: 1.0}])")
    if out["model"] == "srgan":
        if not out.get("network_d"):
            raise _fail(src, "network_d", "missing (required by model: srgan)")
        if t["gan"] is None:
            raise _fail(src, "train.gan", "the srgan model needs a GAN objective (it defines D's loss); set "
                                          "train.gan.weight: 0 for no adversarial term in G, or use model: sr")
        if not active and t["gan"]["weight"] == 0 and t["feature_matching"]["weight"] == 0:
            raise _fail(src, "train.losses", "nothing trains the generator (no term with weight > 0, "
                                             "train.gan.weight 0, no feature matching)")


def validate(opt: dict, src: str = "") -> dict:
    opt = dict(opt)
    opt.pop("_source", None)
    from .plugins import import_plugins
    opt["imports"] = import_plugins(opt.get("imports"), src)   # their registrations count below
    if isinstance(opt.get("train"), dict):
        problem = _old_losses(src, opt["train"])
        if problem:
            raise problem
    out = _validate_node(opt, SCHEMA, src, "")
    _check_model(out, src)
    from .input_stage import check_options        # degradation / batch_augment against the data sections
    problem = check_options(out)
    if problem:
        raise _fail(src, "", problem)
    if out["val"]["crop_border"] is None:
        out["val"]["crop_border"] = out["scale"]
    return out


def check_training(opt: dict, src: str = "") -> None:
    """What training needs beyond valid options: a generator and a `train` dataset (validation sets are
    optional). Checked by train.run and scripts/ablate.py before anything is built or written."""
    if opt["network_g"] is None:
        raise _fail(src, "network_g", "missing (required: the generator, e.g. network_g: {type: rrdbnet})")
    if "train" not in opt["datasets"]:
        others = f" (found only validation sets: {', '.join(opt['datasets'])})" if opt["datasets"] else ""
        raise _fail(src, "datasets.train", f"missing: training needs a dataset named 'train'{others}")
    exp = os.path.join(opt["path"]["experiments_root"], opt["name"])
    existing = exp
    while existing and not os.path.exists(existing):       # the nearest part of the path that exists
        existing = os.path.dirname(existing)
    if existing and not os.path.isdir(existing):
        key = "name" if existing == exp else "path.experiments_root"
        raise _fail(src, key, f"'{existing}' is a file, so the experiment folder '{exp}' cannot be made")


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


def _type_cell(fl: Field) -> str:
    """The reference's type column: element types, lengths and ranges as validation applies them."""
    if fl.type in (list, dict) and (fl.item is not None or fl.length is not None):
        count = f"{fl.length} " if fl.length is not None else ""
        inner = _type_cell(fl.item) if fl.item is not None else "any"
        return f"{_type_name(fl.type)} of {count}{inner}" + (", increasing" if fl.increasing else "")
    name = _type_name(fl.type)
    if fl.min is not None and fl.max is not None:
        return f"{name} in [{fl.min:g}, {fl.max:g}{')' if fl.max_open else ']'}"
    if fl.min is not None:
        return f"{name} >= {fl.min:g}"
    if fl.max is not None:
        return f"{name} {'<' if fl.max_open else '<='} {fl.max:g}"
    return name


def _doc_lines(spec: Any, key: str, out: list[str]) -> None:
    """Rows of the reference. A registry type's arguments get a row of their own, `key` (type), so a
    new network or loss adds rows and changes none (tests/test_readme.py relies on it)."""
    if isinstance(spec, Field):
        req = " **required**" if spec.required else ""
        ch = _choices(spec)
        ch_s = f" ({', '.join(map(str, ch))})" if ch and spec.type is not list else ""
        out.append(f"| `{key}` | {_type_cell(spec)} | `{spec.default!r}`{req} | {_esc(spec.doc + ch_s)} |")
    elif isinstance(spec, Typed):
        out.append(f"| `{key}.type` | str | `{spec.default_type!r}` | {_esc(spec.doc)}; one of the `{key}` (type) rows |")
        for k, fl in spec.extra.items():
            _doc_lines(fl, f"{key}.{k}", out)
        for t in spec.registry.names(spec.kind):
            ps = [f"{n}={p.default!r}" if p.default is not inspect.Parameter.empty else n
                  for n, p in spec.registry.signature(t).parameters.items() if n not in spec.injected]
            more = spec.describe(t) if spec.describe else ""
            out.append(f"| `{key}` ({t}) | | | {_esc(', '.join(ps) + more)} |")
    elif isinstance(spec, Args):
        out.append(f"| `{key}` | mapping | `{spec.default!r}` | {_esc(spec.doc)} |")
        for n, p in _args_params(spec).items():
            fl = _field_from_param(p)
            default = list(p.default) if isinstance(p.default, tuple) else fl.default
            out.append(f"| `{key}.{n}` | {_type_name(fl.type)} | `{default!r}` | {_esc(spec.docs.get(n, ''))} |")
    elif isinstance(spec, ListOf):
        out.append(f"| `{key}` | list | `{_flow(spec.default)}` | {_esc(spec.doc)} |")
        _doc_lines(spec.item, f"{key}[]", out)
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
