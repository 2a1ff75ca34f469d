"""Helpers of the bad-input tests (tests/test_bad_input_*.py): a byte-exact snapshot of a folder tree, the
commands' main(argv) called in this process, and the one-line error check.

A case passes only if the command exits 2 with a single `error:` line naming the file or key, and every
file and folder that existed before (experiments, checkpoints, earlier outputs) has the same name and bytes.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import subprocess
import sys

from reliability_utils import REPO, assert_one_line_error, cli_env


def snapshot(*roots) -> dict:
    """{path: bytes of a file, or None for a folder} for everything under `roots` (absent roots: {})."""
    out: dict = {}
    for root in roots:
        root = str(root)
        for folder, dirs, files in os.walk(root):
            out[folder] = None
            for name in files:
                path = os.path.join(folder, name)
                with open(path, "rb") as f:
                    out[path] = f.read()
    return out


def assert_unchanged(before: dict, *roots) -> None:
    after = snapshot(*roots)
    added, removed = sorted(set(after) - set(before)), sorted(set(before) - set(after))
    assert not added and not removed, f"added {added}, removed {removed}"
    changed = [p for p in before if before[p] != after[p]]
    assert not changed, f"bytes changed: {changed}"


_MODULES: dict = {}


def script(name: str):
    """The module whose main(argv) a case calls in this process: a command ('sr_gan.commands.upscale',
    what scripts/upscale.py, train_sr.py and datasets/prepare.py run) or a benchmark file ('bench/upscale.py',
    loaded once by path with its folder importable, as `python <file>` sees it)."""
    if not name.endswith(".py"):
        return importlib.import_module(name)
    if name not in _MODULES:
        if REPO not in sys.path:
            sys.path.insert(0, REPO)
        folder = os.path.dirname(os.path.join(REPO, name))
        if folder not in sys.path:
            sys.path.append(folder)
        spec = importlib.util.spec_from_file_location("bad_input_" + name.replace("/", "_")[:-3],
                                                      os.path.join(REPO, name))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _MODULES[name] = module
    return _MODULES[name]


def assert_fails(capsys, name: str, argv: list, *needles: str, guard=()) -> str:
    """main(argv) of the command or benchmark `name` returns 2 with one `error:` line naming every needle; the folders in
    `guard` keep every name and byte. Returns the error line."""
    before = snapshot(*guard)
    capsys.readouterr()
    code = script(name).main([str(a) for a in argv])
    err = capsys.readouterr().err
    line = assert_one_line_error(subprocess.CompletedProcess(argv, code, "", err), *needles)
    assert_unchanged(before, *guard)
    return line


def start(relpath_or_module: str, argv: list) -> subprocess.Popen:
    """The script (or `-m module`) as a real process: its exit status and stderr are what a user sees."""
    head = ["-m", relpath_or_module] if not relpath_or_module.endswith(".py") else \
        [os.path.join(REPO, relpath_or_module)]
    return subprocess.Popen([sys.executable, *head, *map(str, argv)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, cwd=REPO, env=cli_env())


def finish(proc: subprocess.Popen, timeout: float = 120) -> subprocess.CompletedProcess:
    _, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, "", err)
