"""Grid expansion: `--grid key=v1,v2` flags x seeds -> named, validated runs.

Every run is an ordinary experiment (its own resolved options.yml under <out>/runs/<name>/), so a
single run can be re-trained or resumed with train_sr.py alone; the sweep adds nothing it needs.
All grid points are validated before anything starts, so a mistyped key costs one line, not a
half-finished sweep.
"""
from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from sr_gan import options as options_mod
from sr_gan.errors import OptionError
from sr_gan.utils.yaml_io import DuplicateKeyError, load_text

_UNSAFE = re.compile(r"[^A-Za-z0-9._=+-]")


@dataclass
class GridAxis:
    key: str                  # full option key, e.g. train.gan.weight or train.losses.perceptual.weight
    values: list              # typed values (0.001, True, 'l1', None)
    texts: list[str]          # values as the user wrote them, for names


@dataclass
class Run:
    name: str
    point: dict[str, Any]     # full key -> typed value (this run's grid cell)
    point_texts: dict[str, str]
    seed: int
    overrides: list[str] = field(default_factory=list)   # everything passed to options.load
    opt: dict | None = None   # resolved options

    @property
    def cell(self) -> str:
        """The grid cell without the seed: runs that differ only by seed share it."""
        return "__".join(f"{k}={v}" for k, v in self.point_texts.items()) or "base"


def parse_value(text: str) -> Any:
    """'1e-3' -> 0.001, '5' -> 5, 'true' -> True, 'null' -> None, 'l1' -> 'l1' (YAML, plus the
    exponent floats that YAML 1.1 leaves as strings)."""
    text = text.strip()
    try:
        value = load_text(text, f"--grid value '{text}'") if text else None
    except DuplicateKeyError:
        raise
    except OptionError:
        return text
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def format_value(value: Any) -> str:
    """A value as override text that options.load reads back as the same type."""
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return {True: ".inf", False: "-.inf"}[value > 0] if math.isinf(value) else ".nan"
        text = repr(value)
        if "e" in text:
            mantissa, exp = text.split("e")
            if "." not in mantissa:
                mantissa += ".0"
            if exp[0] not in "+-":
                exp = "+" + exp
            text = f"{mantissa}e{exp}"
        return text
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return yaml.safe_dump(value, default_flow_style=True).strip()
    return str(value)


def parse_grid(spec: str) -> GridAxis:
    """'train.gan.weight=0,1e-3' -> GridAxis (values split on commas outside brackets)."""
    if "=" not in spec:
        raise OptionError(f"--grid '{spec}': expected key=value1,value2,...")
    key, _, raw = spec.partition("=")
    key = key.strip()
    if not key or not re.fullmatch(r"[A-Za-z0-9_.\-]+", key):
        raise OptionError(f"--grid '{spec}': '{key}' is not an option key (e.g. train.gan.weight)")
    texts, depth, cur = [], 0, ""
    for ch in raw:
        depth += ch in "[{"
        depth -= ch in "]}"
        if ch == "," and depth == 0:
            texts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    texts.append(cur.strip())
    if any(t == "" for t in texts):
        raise OptionError(f"--grid '{spec}': empty value in the list")
    if len(set(texts)) != len(texts):
        raise OptionError(f"--grid '{spec}': a value is listed twice")
    return GridAxis(key, [parse_value(t) for t in texts], texts)


def parse_seeds(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise OptionError(f"--seeds '{text}': expected comma-separated integers, e.g. 0,1,2") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise OptionError(f"--seeds '{text}': expected distinct integers")
    return seeds


def short_keys(keys: list[str]) -> dict[str, str]:
    """Readable labels: the key less its first section (train.gan.weight -> gan.weight), or the
    full key wherever the short form would be ambiguous."""
    short = {k: k.split(".", 1)[1] if "." in k else k for k in keys}
    counts: dict[str, int] = {}
    for s in short.values():
        counts[s] = counts.get(s, 0) + 1
    return {k: (s if counts[s] == 1 else k) for k, s in short.items()}


def safe(text: str) -> str:
    """Filesystem-safe: letters, digits and . _ = + - only (others become '-')."""
    text = _UNSAFE.sub("-", text).strip(".")
    return text or "x"


def expand(opt_path: str, axes: list[GridAxis], seeds: list[int] | None, overrides: list[str],
           experiments_root: str, prefix: str | None = None) -> list[Run]:
    """The Cartesian product of `axes` x seeds, each validated with options.load (raises on the first
    bad point, naming it). Overrides apply first, grid values after, then name / root / seed."""
    keys = [a.key for a in axes]
    if len(set(keys)) != len(keys):
        raise OptionError(f"--grid: key given twice ({', '.join(k for k in keys if keys.count(k) > 1)})")
    for fixed in ("name", "seed", "path.experiments_root"):
        if fixed in keys:
            raise OptionError(f"--grid {fixed}: set by the sweep itself; use --seeds / --out instead")
    base = options_mod.load(opt_path, overrides)
    prefix = prefix or base["name"]
    seeds = seeds if seeds is not None else [base["seed"]]
    labels = short_keys(keys)
    runs: list[Run] = []
    names: set[str] = set()
    for combo in itertools.product(*[list(zip(a.values, a.texts)) for a in axes]):
        point = {k: v for k, (v, _) in zip(keys, combo)}
        texts = {labels[k]: safe(t) for k, (_, t) in zip(keys, combo)}
        for seed in seeds:
            parts = [f"{lbl}={t}" for lbl, t in texts.items()] + [f"seed{seed}"]
            name = safe(f"{prefix}__" + "__".join(parts))
            if name in names:
                raise OptionError(f"--grid: two grid points map to the same run name '{name}'")
            names.add(name)
            over = list(overrides) + [f"{k}={format_value(v)}" for k, v in point.items()] + \
                [f"name={name}", f"path.experiments_root={experiments_root}", f"seed={seed}"]
            try:
                opt = options_mod.load(opt_path, over)
            except OptionError as e:
                raise OptionError(f"grid point {name}: {e}") from None
            for k, v in point.items():   # the grid value must survive parsing with its type
                got = options_mod.lookup(opt, k)
                if isinstance(v, (dict, list)):
                    continue
                if got != v and not (isinstance(v, int) and isinstance(got, float) and float(v) == got):
                    raise OptionError(f"grid point {name}: {k}={v!r} was read back as {got!r}")
            runs.append(Run(name, point, texts, seed, over, opt))
    return runs

