#!/usr/bin/env python
"""Export a generator (the EMA weights of a training checkpoint) to safetensors or ONNX.

Runs sr_gan.commands.export of this checkout (the `sr-export` entry point when installed); see there for usage.
"""
import sys

import _checkout  # noqa: F401  (this checkout's sr_gan, without touching sys.path)
from sr_gan.commands.export import main

if __name__ == "__main__":
    sys.exit(main())
