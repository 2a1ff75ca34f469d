"""Options do what they say, seen by their effects, not by reading the options back: validation's border
crop and colour space (scores recomputed here with the formulas written out), checkpoint frequency and
retention on disk, how often losses are logged and validation runs, gradient clipping in the update;
and every bounded option of the schema accepts its bound and refuses the value just past it.

(Loss weights and `target: hr_usm`: tests/test_loss_terms.py; train.gan weight, gp/r1 weights,
d_update ratio/init_iters, conditional D: tests/test_gan_step.py; ema_decay: tests/test_ema.py.)
"""
from __future__ import annotations

import copy
import io
import math
import os
import re
import sys

import numpy as np
import pytest
import torch

from sr_gan import options
from sr_gan.scoring import bicubic_baseline, super_resolve
from sr_gan.errors import OptionError
from sr_gan.option_schema import SCHEMA, Field, ListOf, MapOf, Typed
from sr_gan.registry import ARCHS, MODELS
from sr_gan.train import build_val_sets, run
from sr_gan.utils import checkpoint as ckpt
from sr_gan.utils.image_io import tensor_to_img

from conftest import tiny_options


# ------------------------------------------------------------------------------ validation scoring
def _psnr(sr: np.ndarray, hr: np.ndarray, crop: int, y: bool) -> float:
    """PSNR, peak 255: on MATLAB's Y = 16 + 65.481 R + 128.553 G + 24.966 B (RGB in [0, 1]), or on R, G, B x 255."""
    def prep(img):
        img = img.astype(np.float64)
        out = 16.0 + img[..., 0] * 65.481 + img[..., 1] * 128.553 + img[..., 2] * 24.966 if y else img * 255.0
        return out[crop:out.shape[0] - crop, crop:out.shape[1] - crop]
    mse = np.mean((prep(sr) - prep(hr)) ** 2)
    return 10 * math.log10(255.0 ** 2 / mse)


def test_val_crop_border_and_y_channel_change_what_is_scored(tiny_sr_data, tmp_path):
    """One iteration, then validation as configured; the reported PSNR of the model (the saved EMA) and of
    bicubic equal the PSNR computed here with that border and colour space, and the settings all differ."""
    reported = {}
    for i, (crop, y) in enumerate([(None, True), (0, True), (4, False), (0, False)]):
        over = {"val__y_channel": y} if crop is None else {"val__y_channel": y, "val__crop_border": crop}
        opt = tiny_options(tiny_sr_data, str(tmp_path), name=f"v{i}", train__total_iter=1, val__metrics=["psnr"],
                           **over)
        result = run(opt)["val"]
        state = ckpt.load_checkpoint(os.path.join(tmp_path, f"v{i}", "checkpoints", ckpt.checkpoint_name(1)))
        net = ARCHS.build(dict(opt["network_g"]), scale=4).eval()
        net.load_state_dict(state["nets"]["g_ema"])
        item = build_val_sets(opt)["val"][0]
        hr, lr = tensor_to_img(item["hr"]), tensor_to_img(item["lr"])
        # the images validation scores (the 8-bit SR of the saved EMA, MATLAB bicubic of the same LR rounded
        # to 8 bits); how they are made is tested elsewhere, what is checked here is how they are scored
        sr, bicubic = super_resolve(net, lr, 4), bicubic_baseline(lr, 4)
        border = 4 if crop is None else crop             # default: the scale
        # (abs 1e-5: the metric works in float32 like BasicSR's, this reference in float64; the four settings
        # differ by far more)
        assert result["model"]["psnr"] == pytest.approx(_psnr(sr, hr, border, y), abs=1e-5), (crop, y)
        assert result["bicubic"]["psnr"] == pytest.approx(_psnr(bicubic, hr, border, y), abs=1e-5), (crop, y)
        reported[(crop, y)] = result["bicubic"]["psnr"]
    values = sorted(reported.values())
    assert min(b - a for a, b in zip(values, values[1:])) > 1e-3, reported


# ------------------------------------------------------------------------------ the loop's frequencies
@pytest.mark.parametrize("total, freq, keep, kept", [(4, 1, 1, [4]), (5, 2, 2, [5, 4]), (7, 3, 4, [7, 6, 3])])
def test_save_freq_and_keep_decide_the_checkpoints_on_disk(tiny_sr_data, tmp_path, total, freq, keep, kept):
    run(tiny_options(tiny_sr_data, str(tmp_path), name="s", train__total_iter=total, save__freq=freq, save__keep=keep,
                     val__metrics=["psnr"]))
    folder = str(tmp_path / "s" / "checkpoints")
    assert ckpt.list_checkpoints(folder) == [os.path.join(folder, ckpt.checkpoint_name(t)) for t in kept]
    assert (tmp_path / "s" / "checkpoints" / "latest").read_text().strip() == ckpt.checkpoint_name(total)


def test_print_freq_and_val_freq_decide_when_the_log_speaks(tiny_sr_data, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stderr", io.StringIO())       # not a terminal: progress goes to the log lines
    run(tiny_options(tiny_sr_data, str(tmp_path), name="f", train__total_iter=7, logger__print_freq=3, val__freq=2,
                     val__metrics=["psnr"]))
    log = (tmp_path / "f" / "train.log").read_text()
    assert [int(n) for n in re.findall(r"iter (\d+)/7 \(", log)] == [3, 6, 7]          # and always the last
    assert [int(n) for n in re.findall(r"validation at iteration (\d+)", log)] == [2, 4, 6, 7]


# ------------------------------------------------------------------------------ gradient clipping
def test_grad_clip_scales_the_update_as_configured():
    """Adam with a large eps (update ~ linear in the gradient): one step with train.grad_clip equals the
    step replayed here on the gradient rescaled to that norm, and differs from the unclipped one."""
    raw = {"name": "clip", "scale": 4, "model": "sr", "datasets": {"train": {"type": "paired", "hr": "unused", "crop": 16}},
           "network_g": {"type": "msrresnet", "num_feat": 4, "num_block": 1},
           "train": {"ema_decay": 0.0, "grad_clip": 0.01, "optim_g": {"lr": 1e-2, "eps": 1.0},
                     "losses": [{"type": "mse", "weight": 1.0}]}}
    torch.manual_seed(0)
    m = MODELS.get("sr")(options.validate(raw), torch.device("cpu"))
    g = torch.Generator().manual_seed(4)
    lr, hr = torch.rand(2, 3, 4, 4, generator=g), torch.rand(2, 3, 16, 16, generator=g)
    g0 = copy.deepcopy(m.net_g)
    m.feed_data({"lr": lr, "hr": hr})
    m.optimize_parameters(1)

    def replay(clip):
        net = copy.deepcopy(g0)
        grads = torch.autograd.grad((net(lr) - hr).pow(2).mean(), list(net.parameters()))
        norm = torch.sqrt(sum(gr.pow(2).sum() for gr in grads))
        factor = min(1.0, clip / (norm.item() + 1e-6)) if clip else 1.0
        opt = torch.optim.Adam(net.parameters(), lr=1e-2, betas=(0.9, 0.99), eps=1.0)
        for p, gr in zip(net.parameters(), grads):
            p.grad = gr * factor
        opt.step()
        return norm.item(), torch.cat([(p - q).detach().flatten() for p, q in zip(net.parameters(), g0.parameters())])

    norm, want = replay(0.01)
    assert norm > 0.03                                      # the clip really binds
    got = torch.cat([(p - q).detach().flatten() for p, q in zip(m.net_g.parameters(), g0.parameters())])
    torch.testing.assert_close(got, want, rtol=1e-3, atol=1e-3 * want.abs().max().item())
    _, unclipped = replay(0.0)
    assert (unclipped - got).abs().max() > 10 * want.abs().max() * 1e-3


# ------------------------------------------------------------------------------ bounds of the schema
def _bounded_fields() -> list[tuple[list, Field]]:
    """(key path, Field) for every schema Field with a min or a max, list entries at index 0, map entries at 'train'."""
    found = []

    def walk(spec, path):
        if isinstance(spec, Field):
            if spec.min is not None or spec.max is not None:
                found.append((path, spec))
        elif isinstance(spec, dict):
            for k, sub in spec.items():
                walk(sub, path + [k])
        elif isinstance(spec, Typed):
            for k, fl in spec.extra.items():
                walk(fl, path + [k])
        elif isinstance(spec, ListOf):
            walk(spec.item, path + [0])
        elif isinstance(spec, MapOf):
            walk(spec.value, path + ["train"])
    walk(SCHEMA, [])
    return found


BOUNDED = _bounded_fields()


def _key(path: list) -> str:
    return ".".join(str(p) for p in path).replace(".0.", "[0].")


def _base() -> dict:
    """Valid srgan options in which each bounded key can sit at its bound (two active loss terms, so the
    first may have weight 0)."""
    return {"name": "b", "scale": 4, "model": "srgan",
            "datasets": {"train": {"type": "paired", "hr": "unused", "crop": 16}},
            "network_g": {"type": "msrresnet"}, "network_d": {"type": "patchgan"},
            "train": {"losses": [{"type": "l1", "weight": 1.0}, {"type": "mse", "weight": 1.0}],
                      "gan": {"type": "vanilla"}}}


def _set(raw: dict, path: list, value) -> dict:
    node = raw
    for p in path[:-1]:
        node = node[p] if isinstance(p, int) else node.setdefault(p, {})
    node[path[-1]] = value
    return raw


def test_the_schema_has_bounded_options():
    keys = {_key(p) for p, _ in BOUNDED}
    assert {"scale", "train.ema_decay", "train.optim_g.lr", "train.losses[0].weight", "train.gan.weight",
            "datasets.train.batch", "val.crop_border", "save.keep", "logger.print_freq"} <= keys, sorted(keys)


@pytest.mark.parametrize("path, field", BOUNDED, ids=[_key(p) for p, _ in BOUNDED])
def test_bound_accepted_and_just_past_refused(path, field):
    key = _key(path)
    for bound, past, word in ((field.min, -math.inf, ">="), (field.max, math.inf, "<=")):
        if bound is None:
            continue
        at = int(bound) if field.type is int else float(bound)
        beyond = at + (1 if past > 0 else -1) if field.type is int else math.nextafter(at, past)
        base = _base()
        if key == "scale":      # x1 needs a generator that has it
            base["network_g"] = {"type": "rrdbnet", "num_feat": 8, "num_block": 1, "num_grow_ch": 8}
        opt = options.validate(_set(base, path, at))
        node = opt
        for p in path:
            node = node[p]
        assert node == at
        with pytest.raises(OptionError) as err:
            options.validate(_set(copy.deepcopy(base), path, beyond))
        assert str(err.value) == f"{key}: must be {word} {bound:g}, got {beyond}"
