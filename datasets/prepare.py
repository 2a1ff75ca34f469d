#!/usr/bin/env python
"""Dataset preparation CLI: a tiny demo set, standard layouts, checks, sub-image extraction, LR making.

Runs sr_gan.commands.prepare of this checkout (the `sr-prepare` entry point when installed); see there
for usage. scripts/_checkout.py loads this checkout's sr_gan (the import path is left alone).
"""
import runpy
import sys
from pathlib import Path

runpy.run_path(str(Path(__file__).resolve().parent.parent / "scripts" / "_checkout.py"))
from sr_gan.commands.prepare import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
