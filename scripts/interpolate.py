#!/usr/bin/env python
"""ESRGAN network interpolation between a PSNR-oriented and a GAN generator.

Runs sr_gan.commands.interpolate of this checkout (the `sr-interpolate` entry point when installed); see there for usage.
"""
import sys

import _checkout  # noqa: F401  (this checkout's sr_gan, without touching sys.path)
from sr_gan.commands.interpolate import main

if __name__ == "__main__":
    sys.exit(main())
