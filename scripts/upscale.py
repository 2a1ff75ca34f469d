#!/usr/bin/env python
"""Upscale images with any supported generator checkpoint.

Runs sr_gan.commands.upscale of this checkout (the `sr-upscale` entry point when installed); see there for usage.
"""
import sys

import _checkout  # noqa: F401  (this checkout's sr_gan, without touching sys.path)
from sr_gan.commands.upscale import main

if __name__ == "__main__":
    sys.exit(main())
