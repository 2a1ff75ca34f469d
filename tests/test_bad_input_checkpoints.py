"""A file that is not a checkpoint, given wherever a checkpoint is read (issue 14): `--resume`,
`path.pretrain_network_g`, upscale/test_sr/export/interpolate `--model`. One line names the file and says
what it is instead of torch's multi-line weights_only notice; a pickle with a payload is refused unrun.

The expected reasons are written out here from what each file is, not produced by the code under test.
"""
from __future__ import annotations

import io
import os
import pickle
import zipfile

import pytest
import torch

from bad_input_utils import assert_fails
from reliability_utils import tiny_options, write_options, write_photos
from sr_gan.errors import CheckpointError
from sr_gan.registry import ARCHS
from sr_gan.utils.checkpoint import load_checkpoint


class _Payload:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.makedirs, (self.marker,))


def _truncated() -> bytes:
    buf = io.BytesIO()
    torch.save({"params": {"w": torch.zeros(4096)}}, buf)
    return buf.getvalue()[: len(buf.getvalue()) // 2]


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("readme.txt", "a zip of text")
    return buf.getvalue()


KINDS = {   # name: (how to write it, the reason the one line must give)
    "random.pth": (lambda p, m: p.write_bytes(bytes((i * 37 + 11) % 256 for i in range(2048))),
                   "not a PyTorch checkpoint (unrecognised binary data)"),
    "notes.pth": (lambda p, m: p.write_text("model trained on 2024-01-01\nlr 1e-4\n"),
                  "not a PyTorch checkpoint (text: 'model trained on 2024-01-01')"),
    "lfs.pth": (lambda p, m: p.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 9\n"),
                "not a PyTorch checkpoint (a Git LFS pointer; fetch the file with `git lfs pull`)"),
    "archive.pth": (lambda p, m: p.write_bytes(_zip()),
                    "not a PyTorch checkpoint (a zip archive without torch's data.pkl; holds readme.txt)"),
    "empty.pth": (lambda p, m: p.write_bytes(b""), "not a PyTorch checkpoint (empty file)"),
    "plain.pkl": (lambda p, m: p.write_bytes(pickle.dumps({"params": {"w": [1.0, 2.0]}})),
                  "not a PyTorch checkpoint (a Python pickle written by pickle.dump, not torch.save; not unpickled)"),
    "cut.pth": (lambda p, m: p.write_bytes(_truncated()),
                "truncated or damaged checkpoint (a zip archive without its directory: the file was cut short)"),
    "evil.pth": (lambda p, m: torch.save({"params": _Payload(m)}, p),
                 "cannot load checkpoint: it holds Python objects that weights-only loading refuses "
                 f"(GLOBAL {os.makedirs.__module__}.makedirs); nothing in it was run"),
}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("not_ckpt")
    marker = str(root / "payload_ran")
    for name, (write, _) in KINDS.items():
        write(root / name, marker)
    hr = os.path.dirname(write_photos(root / "hr", count=2, size=48)[0])
    out = root / "out"
    out.mkdir()
    (out / "earlier.png").write_bytes(b"an earlier result")
    exp = root / "exp"
    (exp / "tiny" / "checkpoints").mkdir(parents=True)
    (exp / "tiny" / "checkpoints" / "iter_00000002.pth").write_bytes(b"stands for an earlier run")
    good = root / "good.pth"
    torch.save({"params": ARCHS.build({"type": "msrresnet", "num_feat": 8, "num_block": 1}, scale=4).state_dict()},
               good)
    yml = write_options(root / "tiny.yml", tiny_options(hr, str(exp)))
    return {"root": root, "marker": marker, "hr": hr, "out": out, "exp": exp, "good": good, "yml": yml}


ENTRY_POINTS = {   # name: (script, argv for the file, how the file is named in the line)
    "--resume": ("sr_gan.commands.train", lambda e, f: ["-opt", e["yml"], "--resume", f], "{f}: "),
    "path.pretrain_network_g": ("sr_gan.commands.train", lambda e, f: ["-opt", e["yml"], f"path.pretrain_network_g={f}"],
                                "path.pretrain_network_g: {f}: "),
    "upscale --model": ("sr_gan.commands.upscale", lambda e, f: ["-i", e["hr"], "-o", e["out"], "--model", f], "{f}: "),
    "test_sr --model": ("sr_gan.commands.test_sr", lambda e, f: ["--model", f, "--hr", e["hr"], "--metrics", "psnr",
                                                            "--out", e["out"]], "{f}: "),
    "export --model": ("sr_gan.commands.export", lambda e, f: ["--model", f, "--format", "safetensors", "-o",
                                                          e["out"] / "g.safetensors"], "{f}: "),
    "interpolate --gan": ("sr_gan.commands.interpolate", lambda e, f: ["--psnr", e["good"], "--gan", f, "--out",
                                                                  e["out"]], "{f}: "),
}


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
@pytest.mark.parametrize("kind", list(KINDS))
def test_not_a_checkpoint_is_one_line_naming_the_file(capsys, env, entry, kind):
    script, argv, prefix = ENTRY_POINTS[entry]
    path = env["root"] / kind
    line = assert_fails(capsys, script, argv(env, path), prefix.format(f=path) + KINDS[kind][1],
                 guard=[env["out"], env["exp"]])
    assert "weights_only" not in line and "Weights only load failed" not in line
    assert not os.path.exists(env["marker"])          # the pickled payload never ran


def test_the_same_reasons_from_the_library(env):
    for kind, (_, reason) in KINDS.items():
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(str(env["root"] / kind))
        assert str(info.value) == f"{env['root'] / kind}: {reason}"
    with pytest.raises(CheckpointError, match=r"good\.pth: not a sr_gan training checkpoint \(no 'iter'/'nets'\)$"):
        load_checkpoint(str(env["good"]))                       # weights, but not a training checkpoint
    with pytest.raises(CheckpointError, match=r": is a folder, not a checkpoint file$"):
        load_checkpoint(str(env["out"]))
    assert not os.path.exists(env["marker"])
