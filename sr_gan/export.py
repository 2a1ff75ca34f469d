"""Generator export: safetensors (self-describing, reloadable by load_generator) and ONNX (verified).

safetensors files cannot carry code, so they are the safe way to share weights; the architecture
options ride along as JSON metadata so the file alone rebuilds the network. ONNX uses the TorchScript
exporter (``dynamo=False``): it needs no onnxscript and handles RRDBNet's nearest upsampling with
dynamic height/width.
"""
from __future__ import annotations

import json
import os
import warnings

import numpy as np
import torch

from sr_gan.errors import CheckpointError
from sr_gan.inference import SAFETENSORS_ARCH_KEY, SAFETENSORS_IMPORTS_KEY, SAFETENSORS_SCALE_KEY, LoadedGenerator


def export_safetensors(loaded: LoadedGenerator, path: str) -> None:
    from safetensors.torch import save_file
    net = loaded.net.model if hasattr(loaded.net, "descriptor") else loaded.net  # spandrel: its own keys
    tensors = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    metadata = {"format": "pt", SAFETENSORS_SCALE_KEY: str(loaded.scale)}
    if loaded.options:
        options = {k: v for k, v in loaded.options.items() if k != "scale"}
        metadata[SAFETENSORS_ARCH_KEY] = json.dumps(options, sort_keys=True)
    if loaded.imports:
        metadata[SAFETENSORS_IMPORTS_KEY] = json.dumps(loaded.imports)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    save_file(tensors, path, metadata=metadata)


def export_onnx(net: torch.nn.Module, path: str, opset: int = 17, sample_size: int = 32) -> None:
    """Trace ``net`` on a random (1, 3, s, s) input with dynamic batch, height and width axes."""
    net = net.eval().float().cpu()
    sample = torch.rand(1, getattr(net, "in_channels", 3), sample_size, sample_size)
    axes = {0: "batch", 2: "height", 3: "width"}
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with warnings.catch_warnings():  # TorchScript-exporter deprecation and tracer warnings
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(net, (sample,), path, input_names=["lr"], output_names=["sr"],
                              dynamic_axes={"lr": axes, "sr": axes}, opset_version=opset, dynamo=False)
        except Exception as exc:  # noqa: BLE001 -- any exporter failure becomes one readable line
            raise CheckpointError(f"{path}: ONNX export failed at opset {opset}: "
                                  f"{str(exc).strip().splitlines()[0][:200]}") from None


def verify_onnx(net: torch.nn.Module, path: str, height: int = 24, width: int = 20, seed: int = 0) -> float | None:
    """Max |onnxruntime - PyTorch| on a random input of a size other than the traced one; None without ORT."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    x = torch.rand(1, getattr(net, "in_channels", 3), height, width, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        expected = net.eval().float().cpu()(x).numpy()
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    if got.shape != expected.shape:
        raise CheckpointError(f"{path}: ONNX output shape {got.shape} differs from PyTorch {expected.shape}")
    return float(np.max(np.abs(got - expected)))
