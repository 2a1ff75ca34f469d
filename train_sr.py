#!/usr/bin/env python
"""Train a super-resolution model from one option file.

    python train_sr.py -opt options/demo.yml [key.sub=value ...] [--resume PATH|latest] [--auto-resume]
    torchrun --nproc_per_node=2 train_sr.py -opt options/esrgan.yml

Runs sr_gan.commands.train (the `sr-train` entry point when installed). Python puts this file's folder,
the checkout root, first on sys.path, so the import below finds this checkout's sr_gan before any
installed copy.
"""
import sys

from sr_gan.commands.train import main

if __name__ == "__main__":
    sys.exit(main())
