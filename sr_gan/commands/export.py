"""Export a generator (the EMA weights of a training checkpoint) to safetensors or ONNX.

    python scripts/export.py --model CKPT --format safetensors|onnx [-o OUT] [--opset 17]

safetensors: the state dict plus the architecture options as JSON metadata, so
``sr_gan.inference.load_generator(OUT)`` rebuilds the network from the file alone.
ONNX: dynamic batch/height/width; checked against PyTorch with onnxruntime when it is installed.
"""
from __future__ import annotations

import argparse
import os
import sys

from sr_gan.cli import run_cli
from sr_gan.errors import SRGanError


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Export a super-resolution generator.")
    p.add_argument("--model", required=True, help="checkpoint (any format load_generator reads)")
    p.add_argument("--format", required=True, choices=("safetensors", "onnx"))
    p.add_argument("-o", "--output", default=None, help="default: the checkpoint file (an experiment folder's latest) with the new extension")
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--arch", default=None, help="generator type for a bare state dict")
    p.add_argument("--scale", type=int, default=None)
    p.add_argument("--num-feat", type=int, default=None)
    p.add_argument("--num-block", type=int, default=None)
    p.add_argument("--num-grow-ch", type=int, default=None)
    return p.parse_args(argv)


def run(args) -> int:
    from sr_gan.export import export_onnx, export_safetensors, verify_onnx
    from sr_gan.inference import arch_from_flags, load_model
    from sr_gan.utils.checkpoint import resolve_checkpoint

    arch = arch_from_flags(args.arch, args.scale, args.num_feat, args.num_block, args.num_grow_ch)
    source = resolve_checkpoint(args.model, what="--model")      # a folder or `latest` -> its checkpoint file
    loaded = load_model(source, arch, "cpu")
    out = args.output or f"{os.path.splitext(source)[0]}.{args.format}"
    if os.path.abspath(out) == os.path.abspath(source):
        raise SRGanError(f"{out}: refusing to overwrite the input checkpoint; pass -o")
    print(f"model: {loaded.info}")
    if args.format == "safetensors":
        export_safetensors(loaded, out)
        print(f"wrote {out}")
        return 0
    export_onnx(loaded.net, out, opset=args.opset)
    print(f"wrote {out} (opset {args.opset}, dynamic batch/height/width)")
    diff = verify_onnx(loaded.net, out)
    if diff is None:
        print("onnxruntime not installed: output not verified (pip install onnxruntime)")
        return 0
    print(f"onnxruntime vs PyTorch max abs difference: {diff:.3g}")
    return 0 if diff <= 1e-4 else 1


def main(argv=None) -> int:
    args = parse_args(argv)
    return run_cli(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
