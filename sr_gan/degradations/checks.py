"""One-line validation of degradation options: each error names the key as `degradation.<key>`."""
from __future__ import annotations

import math

from ..errors import OptionError


def _fail(key: str, msg: str) -> OptionError:
    return OptionError(f"degradation.{key}: {msg}")


def number(key: str, v, lo: float | None = None, hi: float | None = None, integer: bool = False) -> float:
    """A real number (an int where integer=True) within [lo, hi]."""
    ok = isinstance(v, int) if integer else isinstance(v, (int, float))
    if isinstance(v, bool) or not ok or (not integer and not math.isfinite(v)):
        raise _fail(key, f"expected {'an integer' if integer else 'a number'}, got {v!r}")
    if lo is not None and v < lo:
        raise _fail(key, f"must be >= {lo:g}, got {v}")
    if hi is not None and v > hi:
        raise _fail(key, f"must be <= {hi:g}, got {v}")
    return v


def prob(key: str, v) -> float:
    return float(number(key, v, 0.0, 1.0))


def probs(key: str, v, n: int | None = None) -> list[float]:
    """A list of probabilities (n of them when given) that sums to 1."""
    if not isinstance(v, (list, tuple)) or not v:
        raise _fail(key, f"expected a list of probabilities, got {v!r}")
    if n is not None and len(v) != n:
        raise _fail(key, f"expected {n} probabilities, got {len(v)}")
    out = [prob(key, p) for p in v]
    if abs(sum(out) - 1) > 1e-6:
        raise _fail(key, f"probabilities must sum to 1, got {sum(out):g}")
    return out


def value_range(key: str, v, lo: float | None = None, hi: float | None = None, integer: bool = False,
                around_one: bool = False) -> list:
    """[low, high] with lo <= low <= high <= hi; around_one: low <= 1 <= high (Real-ESRGAN draws
    U(low, 1) or U(1, high) for these)."""
    if not isinstance(v, (list, tuple)) or len(v) != 2:
        raise _fail(key, f"expected [low, high], got {v!r}")
    a, b = (number(key, x, lo, hi, integer) for x in v)
    if a > b:
        raise _fail(key, f"low must be <= high, got [{a}, {b}]")
    if around_one and not a <= 1 <= b:
        raise _fail(key, f"must satisfy low <= 1 <= high, got [{a}, {b}]")
    return [a, b]


def names(key: str, v, known) -> list[str]:
    if not isinstance(v, (list, tuple)) or not v:
        raise _fail(key, f"expected a non-empty list, got {v!r}")
    for x in v:
        if x not in known:
            raise _fail(key, f"unknown kernel '{x}'; known: {', '.join(known)}")
    return list(v)


def odd_size(key: str, v, lo: int, hi: int) -> int:
    number(key, v, lo, hi, integer=True)
    if v % 2 == 0:
        raise _fail(key, f"must be odd, got {v}")
    return v


def flag(key: str, v) -> bool:
    if not isinstance(v, bool):
        raise _fail(key, f"expected true or false, got {v!r}")
    return v


def gt_size(v, scale: int) -> int | None:
    if v is None:
        return None
    number("gt_size", v, 1, integer=True)
    if v % scale:
        raise _fail("gt_size", f"must be a multiple of scale {scale}, got {v}")
    return v


def fail(key: str, msg: str) -> OptionError:
    return _fail(key, msg)
