"""Network contracts (sr_gan.archs): what a generator / discriminator declares is true of the built
network, options validation enforces it with one line before anything is on disk, and inference reads it."""
import os

import pytest
import torch
import torch.nn.functional as F

from reliability_utils import cli_main, tiny_options, write_options, write_photos
from sr_gan import options
from sr_gan.archs import input_multiple
from sr_gan.errors import OptionError
from sr_gan.registry import ARCHS

SMALL = {"num_feat": 8, "num_block": 1, "num_grow_ch": 8}


def _build(name, **kw):
    params = ARCHS.signature(name).parameters
    return ARCHS.build({"type": name, **{k: v for k, v in SMALL.items() if k in params}, **kw})


@pytest.mark.parametrize("name,scale", [(n, s) for n in ARCHS.names("generator")
                                        for s in ARCHS.get(n).supported_scales])
def test_generator_declarations_are_true(name, scale):
    net = _build(name, scale=scale)
    m = input_multiple(ARCHS.get(name), scale)
    x = torch.rand(1, 3, 3 * m, 2 * m)
    assert net(x).shape == (1, 3, 3 * m * scale, 2 * m * scale)
    if m > 1:                                       # a side that is not a multiple is really refused
        with pytest.raises(ValueError, match=f"divisible by {m}"):
            net(torch.rand(1, 3, 3 * m + 1, 2 * m))


def test_rrdbnet_multiples_are_the_pixel_unshuffle_factors_of_real_esrgan():
    # Real-ESRGAN's RRDBNet: scale 2 -> pixel_unshuffle(2), scale 1 -> pixel_unshuffle(4), else none
    assert [input_multiple(ARCHS.get("rrdbnet"), s) for s in (1, 2, 3, 4, 8)] == [4, 2, 1, 1, 1]
    assert _build("rrdbnet", scale=1).conv_first.weight.shape[1] == 3 * 16
    from sr_gan.utils.state_dict import infer_generator_options
    assert infer_generator_options(_build("rrdbnet", scale=1).state_dict())["scale"] == 1


@pytest.mark.parametrize("name", ARCHS.names("discriminator"))
def test_discriminators_that_declare_features_return_them(name):
    cls = ARCHS.get(name)
    assert isinstance(cls.__dict__.get("returns_features"), bool), name
    net = ARCHS.build({"type": name, "num_feat": 8}, input_size=32).eval()
    out = net(torch.rand(2, 3, 32, 32), return_features=True)
    logits, feats = out
    assert logits.shape[0] == 2 and len(feats) > 0 and all(f.shape[0] == 2 for f in feats)


def _raw(tmp_path, **over):
    hr = os.path.dirname(write_photos(tmp_path / "hr", count=1, size=40)[0])
    return tiny_options(hr, str(tmp_path / "exp"), name="contract", **over)


def test_feature_matching_with_a_discriminator_without_features_is_an_option_error(tmp_path):
    plugin = tmp_path / "plain_d.py"
    plugin.write_text(
        "import torch\nfrom sr_gan.registry import ARCHS\n\n"
        "@ARCHS.register('plain_d_contract', kind='discriminator')\n"
        "class PlainD(torch.nn.Module):\n"
        "    def __init__(self, num_in_ch: int = 3):\n"
        "        super().__init__()\n"
        "        self.conv = torch.nn.Conv2d(num_in_ch, 1, 3)\n"
        "    def forward(self, x):\n"
        "        return self.conv(x)\n")
    raw = _raw(tmp_path, model="srgan", imports=[str(plugin)], network_d={"type": "plain_d_contract"})
    raw["train"]["feature_matching"] = {"weight": 0.1}
    with pytest.raises(OptionError) as err:
        options.validate(raw, src="o.yml")
    assert str(err.value) == ("o.yml: train.feature_matching.weight: needs a discriminator that returns intermediate "
                              "features; network_d.type 'plain_d_contract' does not declare returns_features")
    raw["train"]["feature_matching"] = {"weight": 0.0}
    assert options.validate(raw)["network_d"]["type"] == "plain_d_contract"     # fine without feature matching


def test_unsupported_scale_and_bad_lr_patch_fail_before_the_experiment_folder_exists(tmp_path, capsys):
    raw = _raw(tmp_path, scale=5)
    raw["datasets"]["train"]["crop"] = 40
    raw["network_g"] = {"type": "rrdbnet", **SMALL}
    assert cli_main(["-opt", write_options(tmp_path / "a.yml", raw)]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == \
        f"error: {tmp_path / 'a.yml'}: network_g.scale: rrdbnet supports 1, 2, 3, 4, 8; got 5"
    raw.update(scale=2)
    raw["datasets"]["train"]["crop"] = 34          # LR patches of 17 px: x2 pixel-unshuffle needs even sides
    assert cli_main(["-opt", write_options(tmp_path / "b.yml", raw)]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: {tmp_path / 'b.yml'}: datasets.train.crop: 34 gives LR patches of 17 px, but rrdbnet x2 needs LR "
        f"sides that are multiples of 2 (use a multiple of 4)")
    assert not (tmp_path / "exp").exists()
    raw["datasets"]["train"]["crop"] = 36
    assert options.validate(raw)["scale"] == 2


class _NeedsMultipleOf8(torch.nn.Module):
    """Not an RRDBNet: only its declaration tells inference to pad."""
    scale = 2

    @staticmethod
    def input_multiple(scale):
        return 8

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(()))

    def forward(self, x):
        assert x.shape[-1] % 8 == 0 and x.shape[-2] % 8 == 0, tuple(x.shape)
        return F.interpolate(x, scale_factor=2, mode="nearest") * self.w


@pytest.mark.parametrize("tile", [0, 12])
def test_inference_pads_to_the_declared_multiple(tile):
    from sr_gan.inference import upscale_tensor
    x = torch.rand(1, 3, 13, 21)
    out = upscale_tensor(_NeedsMultipleOf8(), x, 2, tile=tile, tile_pad=4)
    assert out.shape == (1, 3, 26, 42)
    assert torch.equal(out, F.interpolate(x, scale_factor=2, mode="nearest"))
