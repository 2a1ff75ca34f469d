#!/usr/bin/env python
"""Loss-weight ablation: train a grid of option overrides x seeds, evaluate, report.

Runs sr_gan.commands.ablate of this checkout (the `sr-ablate` entry point when installed); see there for usage.
"""
import sys

import _checkout  # noqa: F401  (this checkout's sr_gan, without touching sys.path)
from sr_gan.commands.ablate import main

if __name__ == "__main__":
    sys.exit(main())
