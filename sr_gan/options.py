"""Option files: YAML + `base:` inheritance + `key.sub=value` overrides + strict validation.

The schema (sr_gan/option_schema.py) is the single source of truth: `validate` checks a loaded file against it and
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
from typing import Any

import yaml

from .errors import OptionError
from .option_schema import SCHEMA, Field, MapOf, Typed, TypedList

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
    if isinstance(ann, str) and ann.startswith("Literal[") and ann.endswith("]"):   # e.g. net: Literal["alex", "vgg"]
        import ast
        choices = list(ast.literal_eval(f"({ann[len('Literal['):-1]},)"))
        default = None if p.default is inspect.Parameter.empty else p.default
        return Field(type(choices[0]), default, choices=choices, required=p.default is inspect.Parameter.empty)
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


def _validate_typed_list(node: Any, spec: TypedList, src: str, key: str) -> list:
    """Bare names stay names; sections are validated like any typed section, `name` filled in."""
    if node is None:
        return copy.deepcopy(spec.default)
    if not isinstance(node, list):
        raise _fail(src, key, f"expected a list of names or {{type: ...}} sections, got {type(node).__name__}")
    out, labels = [], set()
    for i, item in enumerate(node):
        where = f"{key}[{i}]"
        if isinstance(item, str):
            _validate_typed({"type": item}, spec.item, src, where)
            label = item
        elif isinstance(item, dict):
            item = _validate_typed(item, spec.item, src, where)
            item["name"] = label = item.get("name") or item["type"]
        else:
            raise _fail(src, where, f"expected a name or a {{type: ...}} section, got {type(item).__name__} {item!r}")
        if label in labels:
            raise _fail(src, where, f"'{label}' is listed twice; give the entries different `name:`s")
        labels.add(label)
        out.append(item)
    return out


def validate_metrics(specs: Any, src: str = "", key: str = "val.metrics") -> list:
    """A metric list (as `val.metrics`) checked against the metric classes: for test_sr.py and benchmark files."""
    return _validate_typed_list(specs, SCHEMA["val"]["metrics"], src, key)


def _validate_node(node: Any, spec: Any, src: str, key: str) -> Any:
    if isinstance(spec, Typed):
        return _validate_typed(node, spec, src, key)
    if isinstance(spec, TypedList):
        return _validate_typed_list(node, spec, src, key)
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
    elif isinstance(spec, TypedList):
        out.append(f"| `{key}` | list | `{spec.default!r}` | {_esc(spec.doc)} |")
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
