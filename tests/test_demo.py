"""scripts/demo.py without training: the GAN stage's option file with and without VGG19's weights (a fake
file in a temporary hub, accepted through the weight table as tests/test_weights.py does), the one-line
notice before that stage, and the grid-artefact measure against the residual's FFT."""
import importlib.util
import os
import sys

import numpy as np
import pytest
import torch

from sr_gan import options
from weights_utils import place_in_cache, use_hub

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if os.path.join(ROOT, "scripts") not in sys.path:     # as `python scripts/demo.py` has it: _checkout importable
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
_spec = importlib.util.spec_from_file_location("demo_cli", os.path.join(ROOT, "scripts", "demo.py"))
demo = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(demo)


def _load(path: str) -> dict:
    return options.load(os.path.join(ROOT, path), check_paths=False)


@pytest.fixture
def hub(tmp_path, monkeypatch):
    folder = use_hub(monkeypatch, tmp_path / "hub")
    monkeypatch.setattr(torch.hub, "download_url_to_file", lambda *a, **k: pytest.fail("tried to download"))
    return folder


def test_without_vgg19_the_no_vgg_file_and_a_one_line_notice(hub):
    path, notice = demo.gan_stage_options()
    assert path == "options/demo_esrgan_novgg.yml"
    assert notice == ("note: VGG19 ImageNet weights not available (get them with `python -m sr_gan.weights fetch "
                      "vgg19`), so the GAN stage runs options/demo_esrgan_novgg.yml: l1 1 (to hr_usm) + relativistic "
                      "vanilla GAN 0.005, unet_sn discriminator, generator lr 1e-05; no perceptual loss (a random "
                      "VGG19 paints a grid over the image)")
    opt = _load(path)
    assert [(t["type"], t["weight"], t["target"]) for t in opt["train"]["losses"]] == [("l1", 1.0, "hr_usm")]
    assert (opt["network_d"]["type"], opt["train"]["optim_g"]["lr"], opt["train"]["gan"]["weight"]) == \
        ("unet_sn", 1e-5, 5e-3)


def test_the_no_vgg_file_changes_only_losses_discriminator_and_generator_lr():
    """Data, iterations, crops, the PSNR model it starts from and validation stay the recipe's."""
    recipe, novgg = _load(demo.GAN_OPTIONS), _load(demo.GAN_OPTIONS_NO_VGG)
    for opt in (recipe, novgg):
        for key in ("name", "_source", "network_d"):
            opt.pop(key)
        opt["train"].pop("losses")
        opt["train"]["optim_g"].pop("lr")
    assert novgg == recipe


def test_with_vgg19_in_the_cache_the_pretrained_recipe(hub, monkeypatch):
    place_in_cache(monkeypatch, hub, "vgg19", b"stands in for vgg19-dcbb9e9d.pth")
    path, notice = demo.gan_stage_options()
    assert (path, notice) == ("options/demo_esrgan.yml", None)
    opt = _load(path)
    percep = [t for t in opt["train"]["losses"] if t["type"] == "perceptual"]
    assert len(percep) == 1 and percep[0]["pretrained"] is True and percep[0]["layers"] == {"conv5_4": 1.0}
    assert demo.recipe(opt) == ("l1 0.01 + pretrained VGG19 perceptual 1 + relativistic vanilla GAN 0.005, vgg "
                                "discriminator, generator lr 0.0001")


class _Stop(Exception):
    pass


@pytest.mark.parametrize("with_vgg", [False, True])
def test_the_notice_is_printed_once_before_the_gan_stage(hub, monkeypatch, capsys, with_vgg):
    if with_vgg:
        place_in_cache(monkeypatch, hub, "vgg19", b"stands in for vgg19-dcbb9e9d.pth")
    calls = []

    def fake_stage(opt_file, extra):
        calls.append((opt_file, capsys.readouterr().out))
        if len(calls) == 2:
            raise _Stop
        return {}, {}

    monkeypatch.setattr(demo, "stage", fake_stage)
    with pytest.raises(_Stop):
        demo.demo(type("Args", (), {"overrides": [], "psnr_only": False})())
    (psnr_file, _), (gan_file, printed) = calls
    assert psnr_file == "options/demo.yml"
    if with_vgg:
        assert gan_file == "options/demo_esrgan.yml" and printed == ""
    else:
        assert gan_file == "options/demo_esrgan_novgg.yml"
        lines = printed.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("note: VGG19 ImageNet weights not available")


def test_grid_energy_is_the_residuals_spectrum_at_the_grid_frequencies():
    res = np.random.default_rng(0).normal(0, 3, size=(44, 52))     # sizes not multiples of 8: cropped
    for p in (2, 4, 8):
        h, w = 44 // p * p, 52 // p * p
        spec = np.fft.fft2(res[:h, :w]) / (h * w)
        lattice = spec[::h // p, ::w // p].copy()                    # frequencies k/p, l/p cycles per pixel
        lattice[0, 0] = 0
        assert demo.grid_energy(res, p) == pytest.approx(np.sqrt((np.abs(lattice) ** 2).sum()), rel=1e-12)


def test_grid_energy_of_a_planted_grid():
    rng = np.random.default_rng(1)
    cell = rng.normal(size=(4, 4))
    cell = 2.5 * (cell - cell.mean()) / cell.std()                 # zero mean, RMS 2.5 gray levels
    grid = np.tile(cell, (16, 16))                                   # 64 x 64, period 4
    assert demo.grid_energy(grid, 4) == pytest.approx(2.5)
    assert demo.grid_energy(grid, 8) == pytest.approx(2.5)          # repeats every 8 px as well
    # period 2 sees the 2 x 2 average of the four phases of the cell
    expect = cell.reshape(2, 2, 2, 2).mean(axis=(0, 2))
    assert demo.grid_energy(grid, 2) == pytest.approx(np.sqrt(((expect - expect.mean()) ** 2).mean()))
    # a constant offset is not a grid
    assert demo.grid_energy(grid + 7.0, 4) == pytest.approx(2.5)


def test_grid_artefacts_see_a_grid_through_the_high_pass_but_not_shading():
    """A period-4 pattern on a shaded photo-like image: the measure reports the pattern's Y amplitude
    (within the high-pass's gain, >= 0.993) and nothing for the shading alone, whose raw phase means
    would be s * sqrt((p^2 - 1) / 12) for a ramp of s levels per pixel."""
    yy, xx = np.mgrid[0:128, 0:128]
    shading = 0.25 + 0.002 * xx + 0.001 * yy                        # a ramp, up to 0.63
    cell = np.random.default_rng(2).normal(size=(4, 4))
    cell = 0.01 * (cell - cell.mean()) / cell.std()                  # RMS 0.01 in [0, 1] units
    y_scale = 65.481 + 128.553 + 24.966                              # MATLAB rgb2ycbcr: Y of a gray step
    shaded = np.repeat(shading[:, :, None], 3, axis=2)
    planted = shaded + np.tile(cell, (32, 32))[:, :, None]
    raw_y = shading * y_scale
    assert demo.grid_energy(raw_y, 4) == pytest.approx(np.sqrt(0.002 ** 2 + 0.001 ** 2) * y_scale
                                                      * np.sqrt(15 / 12), rel=1e-9)
    assert demo.grid_artefacts(shaded, border=4)[4] < 0.01
    found = demo.grid_artefacts(planted, border=4, periods=(2, 4, 8))
    assert 0.99 * 0.01 * y_scale < found[4] < 1.001 * 0.01 * y_scale
    assert found[8] == pytest.approx(found[4], rel=0.01)             # a 4-px grid repeats every 8 px too
    assert set(demo.grid_artefacts(planted, border=4)) == {2, 4}     # what the demo prints


def test_side_by_side_layout_and_nearest_neighbour_zoom():
    a = np.arange(6 * 6 * 3, dtype=np.float32).reshape(6, 6, 3) / 108.0
    b = 1.0 - a
    out = demo.side_by_side([a, b], crops=((1, 2), (0, 0)), size=3, zoom=2, gap=1)
    assert out.shape == (2 * 6 + 1, 2 * 6 + 1, 3)                    # 2 rows x 2 images of 6 x 6, 1-px gaps
    assert np.array_equal(out[0:2, 0:2], np.broadcast_to(a[1, 2], (2, 2, 3)))    # each pixel a 2 x 2 block
    assert np.array_equal(out[4:6, 7 + 4:7 + 6], np.broadcast_to(b[3, 4], (2, 2, 3)))
    assert np.array_equal(out[7 + 4:7 + 6, 0:2], np.broadcast_to(a[2, 0], (2, 2, 3)))   # second row: crop (0, 0)
    assert (out[:, 6] == 1).all() and (out[6] == 1).all()            # white gaps
