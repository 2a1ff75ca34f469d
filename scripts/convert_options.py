#!/usr/bin/env python
"""Convert a BasicSR / Real-ESRGAN training option file into an sr_gan one.

Runs sr_gan.commands.convert_options of this checkout (the `sr-convert` entry point when installed); see
there for usage.
"""
import sys

import _checkout  # noqa: F401  (this checkout's sr_gan, without touching sys.path)
from sr_gan.commands.convert_options import main

if __name__ == "__main__":
    sys.exit(main())
