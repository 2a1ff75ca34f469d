#!/usr/bin/env python
"""Preview what a degradation pipeline makes of your HR images before training on it.

Runs sr_gan.commands.degrade of this checkout (the `sr-degrade` entry point when installed); see there for usage.
"""
import sys

import _checkout  # noqa: F401  (this checkout's sr_gan, without touching sys.path)
from sr_gan.commands.degrade import main

if __name__ == "__main__":
    sys.exit(main())
