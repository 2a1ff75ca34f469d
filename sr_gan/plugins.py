"""`imports:` user modules imported before an option file is validated.

A plugin registers losses, networks or datasets with the ordinary decorators
(``@LOSSES.register('my_loss', kind='generator')``), so an option file can use them without any edit
to this repository. An entry is a ``.py`` file (relative to the option file that names it, or to the
current directory) or an importable module name. Files are stored with absolute paths in the resolved
options, so a saved ``options.yml`` (resume, ablation runs) imports the same file from anywhere.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys

from .errors import OptionError


def _is_file(entry: str) -> bool:
    return entry.endswith(".py") or "/" in entry or os.sep in entry


def anchor(entry, base_dir: str):
    """A file entry made absolute when it exists relative to `base_dir` (the option file's folder)."""
    if isinstance(entry, str) and _is_file(entry) and not os.path.isabs(entry):
        cand = os.path.join(base_dir, os.path.expanduser(entry))
        if os.path.isfile(cand):
            return os.path.abspath(cand)
    return entry


def _one_line(e: BaseException) -> str:
    text = (str(e).strip().splitlines() or [""])[0][:200]
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _import_file(path: str):
    real = os.path.realpath(path)
    stem = "".join(c if c.isalnum() else "_" for c in os.path.splitext(os.path.basename(real))[0])
    name = f"sr_gan_plugin_{stem}_{hashlib.sha1(real.encode()).hexdigest()[:10]}"
    if name in sys.modules:          # loaded once per process: re-running it would register twice
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, real)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def import_plugins(entries, src: str = "") -> list[str]:
    """Import every entry; returns the entries with file paths made absolute. One-line OptionError
    for a missing file or module, or one whose import fails."""
    where = f"{src}: " if src else ""
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise OptionError(f"{where}imports: expected a list of .py files or module names, got {type(entries).__name__}")
    if not entries:
        return []
    from .registry import ARCHS, DATASETS, DEGRADATIONS, LOSSES, METRICS, MODELS
    for registry in (ARCHS, LOSSES, DATASETS, MODELS, METRICS, DEGRADATIONS):
        registry.names()             # built-ins first, so a plugin that reuses a built-in name fails here
    base_dir = os.path.dirname(src) if src else "."
    out = []
    for i, entry in enumerate(entries):
        key = f"{where}imports[{i}]"
        if not isinstance(entry, str) or not entry.strip():
            raise OptionError(f"{key}: expected a .py file or a module name, got {entry!r}")
        if _is_file(entry):
            path = anchor(entry, base_dir)
            if not os.path.isfile(path):
                path = os.path.expanduser(entry)
            if not os.path.isfile(path):
                raise OptionError(f"{key}: file '{entry}' not found (relative to the option file or the current directory)")
            path = os.path.abspath(path)
            try:
                _import_file(path)
            except Exception as e:
                raise OptionError(f"{key}: importing {path} failed: {_one_line(e)}") from None
            out.append(path)
            continue
        try:
            found = importlib.util.find_spec(entry) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise OptionError(f"{key}: no module named '{entry}' (a module on sys.path or a .py file)")
        try:
            importlib.import_module(entry)
        except Exception as e:
            raise OptionError(f"{key}: importing {entry} failed: {_one_line(e)}") from None
        out.append(entry)
    return out
