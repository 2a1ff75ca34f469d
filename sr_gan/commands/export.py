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


def parse_args(argv=None) -> argparse.Namespace:
    """The flags, plus `source` (the checkpoint file --model resolves to) and `output` (the file to write),
    both checked here, before a model is read or anything written."""
    from sr_gan import cli
    from sr_gan.utils.checkpoint import resolve_checkpoint
    p = cli.ArgumentParser(description="Export a super-resolution generator.")
    p.add_argument("--model", required=True, type=cli.existing_path, help="checkpoint (any format load_generator reads)")
    p.add_argument("--format", required=True, choices=("safetensors", "onnx"))
    p.add_argument("-o", "--output", type=cli.output_file, default=None,
                   help="default: the checkpoint file (an experiment folder's latest) with the new extension")
    p.add_argument("--opset", type=cli.integer(min=7), default=17, help="ONNX opset (7 is the oldest torch writes)")
    p.add_argument("--arch", default=None, help="generator type for a bare state dict")
    p.add_argument("--scale", type=cli.integer(min=1), default=None)
    p.add_argument("--num-feat", type=cli.integer(min=1), default=None)
    p.add_argument("--num-block", type=cli.integer(min=1), default=None)
    p.add_argument("--num-grow-ch", type=cli.integer(min=1), default=None)
    args = p.parse_args(argv)
    args.source = resolve_checkpoint(args.model, what="--model")    # a folder or `latest` -> its checkpoint file
    if args.output is None:
        args.output = f"{os.path.splitext(args.source)[0]}.{args.format}"
        if os.path.isdir(args.output):
            p.error(f"argument -o: the default output '{args.output}' is a folder; pass -o FILE")
    if os.path.abspath(args.output) == os.path.abspath(args.source):
        p.error(f"argument -o: '{args.output}' is the input checkpoint; refusing to overwrite it")
    return args


def run(args) -> int:
    from sr_gan.export import export_onnx, export_safetensors, verify_onnx
    from sr_gan.inference import arch_from_flags, load_model

    arch = arch_from_flags(args.arch, args.scale, args.num_feat, args.num_block, args.num_grow_ch)
    loaded = load_model(args.source, arch, "cpu")
    out = args.output
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
    return run_cli(lambda: run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
