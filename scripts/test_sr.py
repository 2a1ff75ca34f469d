#!/usr/bin/env python
"""Score super-resolution results the way papers report them (Y-channel PSNR/SSIM, LPIPS, NIQE, FID/IS).

Runs sr_gan.commands.test_sr of this checkout (the `sr-test` entry point when installed); see there for usage.
"""
import sys

import _checkout  # noqa: F401  (this checkout's sr_gan, without touching sys.path)
from sr_gan.commands.test_sr import main

if __name__ == "__main__":
    sys.exit(main())
