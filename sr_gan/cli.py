"""What every command-line entry point shares: a user mistake is one `error: ...` line and exit status 2.

Two kinds of mistakes reach the user, and both look the same:
  * a flag argparse rejects (unknown flag, missing value, a value its `type=` or `choices=` refuses):
    `ArgumentParser.error` raises a UsageError, `error: argument --tile: ... (see upscale.py --help)`,
    without the usage block (`--help` shows it); parse inside `run_cli`;
  * anything found later (an option file, a dataset, a checkpoint, a registry name): an SRGanError,
    which `run_cli` prints as `error: <its one line>`.
Everything else is a bug and keeps its traceback: there is no catch-all.

The `type=` factories below do the checks every script needs (positive scales and tiles,
non-negative pads, inputs that exist, outputs of the right kind) while the flags are parsed, so a bad
flag stops the command before it reads a model or writes a file.
"""
from __future__ import annotations

import argparse
import math
import os
import re
import sys
from typing import Callable

from .errors import SRGanError, UsageError


def report(e: SRGanError) -> int:
    """Print a user-facing error as its one line; the exit status for it (2)."""
    print(f"error: {e}", file=sys.stderr)
    return 2


def run_cli(body: Callable[[], int | None]) -> int:
    """Run `body`; an SRGanError becomes `error: <one line>` on stderr and exit code 2 (no traceback)."""
    try:
        return int(body() or 0)
    except SRGanError as e:
        return report(e)


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose errors take the one error path: a UsageError (an SRGanError), so `run_cli` prints it
    as the single `error:` line and returns 2 -- also when main(argv) is called in-process -- and the
    usage block is not printed (`--help` shows it)."""

    def error(self, message: str):
        raise UsageError(f"{message} (see {self.prog} --help)")


def _typed(name: str, convert: Callable[[str], object]) -> Callable[[str], object]:
    convert.__name__ = name          # argparse names the type in messages it writes itself
    return convert


def integer(min: int | None = None, max: int | None = None) -> Callable[[str], int]:
    """An int flag within [min, max]: `type=integer(min=1)` for scales, tiles, steps, counts."""
    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got '{text}'") from None
        if (min is not None and value < min) or (max is not None and value > max):
            span = (f"between {min} and {max}" if min is not None and max is not None
                    else f">= {min}" if min is not None else f"<= {max}")
            raise argparse.ArgumentTypeError(f"expected an integer {span}, got {value}")
        return value
    return _typed("integer", convert)


def number(min: float | None = None, above: float | None = None, max: float | None = None) -> Callable[[str], float]:
    """A finite float flag: `min` inclusive, `above` exclusive (`number(above=0)`: positive)."""
    def convert(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got '{text}'") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number, got '{text}'")
        if min is not None and value < min:
            raise argparse.ArgumentTypeError(f"expected a number >= {min:g}, got {text}")
        if above is not None and value <= above:
            raise argparse.ArgumentTypeError(f"expected a number > {above:g}, got {text}")
        if max is not None and value > max:
            raise argparse.ArgumentTypeError(f"expected a number <= {max:g}, got {text}")
        return value
    return _typed("number", convert)


def number_list(item: Callable[[str], object]) -> Callable[[str], list]:
    """Comma-separated values, each checked by `item` (e.g. `number_list(number(above=0))`); not empty."""
    def convert(text: str) -> list:
        parts = [p.strip() for p in text.split(",")]
        if not text.strip() or any(p == "" for p in parts):
            raise argparse.ArgumentTypeError(f"expected comma-separated values, got '{text}'")
        try:
            return [item(p) for p in parts]
        except argparse.ArgumentTypeError as e:
            raise argparse.ArgumentTypeError(f"'{text}': {e}") from None
    return _typed("list", convert)


def existing_file(text: str) -> str:
    """An input file that must exist (a folder is an error)."""
    if os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"'{text}' is a folder, expected a file")
    if not os.path.isfile(text):
        raise argparse.ArgumentTypeError(f"'{text}' does not exist")
    return text


def existing_dir(text: str) -> str:
    """An input folder that must exist (a file is an error)."""
    if os.path.isfile(text):
        raise argparse.ArgumentTypeError(f"'{text}' is a file, expected a folder")
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"folder '{text}' does not exist")
    return text


def existing_path(text: str) -> str:
    """An input that must exist: a file or a folder (checkpoints: a file, an experiment or its `latest`)."""
    if not os.path.exists(text):
        raise argparse.ArgumentTypeError(f"'{text}' does not exist")
    return text


def _parent_ok(text: str, what: str) -> None:
    parent = os.path.dirname(os.path.abspath(text))
    while parent and not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if parent and not os.path.isdir(parent):
        raise argparse.ArgumentTypeError(f"'{text}': cannot create this {what}, '{parent}' is a file")


def output_dir(text: str) -> str:
    """A folder to write into: absent (created later) or a folder; an existing file is an error."""
    if os.path.exists(text) and not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"'{text}' is a file, expected a folder to write into")
    _parent_ok(text, "folder")
    return text


def output_file(text: str) -> str:
    """A file to write: absent or a file; an existing folder is an error."""
    if os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"'{text}' is a folder, expected a file name to write")
    _parent_ok(text, "file")
    return text


_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?|mps")


def device(text: str) -> str:
    """auto | cpu | cuda | cuda:N | mps."""
    if not _DEVICE.fullmatch(text):
        raise argparse.ArgumentTypeError(f"expected auto, cpu, cuda, cuda:N or mps, got '{text}'")
    return text
