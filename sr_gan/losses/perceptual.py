"""VGG19 perceptual (feature) loss and Gram-matrix style loss (SRGAN / ESRGAN): a `train.losses` term.

Pretrained weights come from sr_gan.weights (torch.hub's cache, fetched on first use, hash-checked)
or a local file; when they cannot be had, a one-line MissingWeightsError says where to put them.
"""
from __future__ import annotations

import copy
import difflib
import os
import warnings

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sr_gan.errors import CheckpointError, MissingWeightsError, OptionError
from sr_gan.registry import LOSSES
from sr_gan.weights import weight_file

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# torchvision's VGG19 layout ("E"), written out so that building the loss does not import
# torchvision.models (about 3 s per process); tests/test_perceptual.py checks it still agrees.
VGG19_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]
CRITERIA = ("l1", "l2", "fro")


def vgg19_layer_names() -> list[str]:
    """Names of torchvision ``vgg19().features`` modules in order: conv1_1, relu1_1, ..., pool5."""
    names, block, conv = [], 1, 1
    for v in VGG19_CFG:
        if v == "M":
            names.append(f"pool{block}")
            block, conv = block + 1, 1
        else:
            names += [f"conv{block}_{conv}", f"relu{block}_{conv}"]
            conv += 1
    return names


VGG19_LAYERS = vgg19_layer_names()


def build_vgg19_features(num_layers: int) -> nn.Sequential:
    """First ``num_layers`` modules of torchvision's vgg19 features (same indices, so torchvision
    state-dict keys load), ReLUs not in-place so pre-ReLU activations survive. Init is seeded and
    matches torchvision's (kaiming_normal fan_out, zero bias) so random VGG runs are reproducible."""
    layers: list[nn.Module] = []
    in_ch = 3
    for v in VGG19_CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(in_ch, v, kernel_size=3, padding=1), nn.ReLU(inplace=False)]
            in_ch = v
    features = nn.Sequential(*layers[:num_layers])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        for m in features.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
    return features


def load_features_state(path: str, option_key: str) -> dict[str, Tensor]:
    """Read a full torchvision vgg19 state dict or a features-only one ('features.N.*' or 'N.*')
    and return it keyed 'N.weight' / 'N.bias'."""
    if not os.path.isfile(path):
        raise MissingWeightsError(f"{option_key}: VGG19 weights file not found: {path}")
    try:
        if path.endswith(".safetensors"):
            from safetensors.torch import load_file
            state = load_file(path)
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unreadable / not a state dict
        raise CheckpointError(f"{option_key}: cannot read VGG19 weights {path}: {type(exc).__name__}: {exc}".replace("\n", " ")) from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise CheckpointError(f"{option_key}: {path} does not hold a state dict")
    features = {}
    for key, value in state.items():
        key = key[len("features."):] if key.startswith("features.") else key
        if key.split(".")[0].isdigit():
            features[key] = value
    return features


@LOSSES.register("perceptual", kind="generator")
class PerceptualLoss(nn.Module):
    """sum_l w_l * criterion(VGG_l(sr), VGG_l(hr)), plus optional Gram style loss.

    ``layers`` maps VGG19 layer names to weights; a convX_Y name means the conv output before its
    ReLU when ``before_relu`` (ESRGAN: sharper, brighter textures) and reluX_Y otherwise.
    forward returns the perceptual distance, or {"percep": p, "style": style_weight * s} when
    ``style_weight`` > 0 (the term's ``weight`` then scales both parts).

    ``autocast``: with ``train.amp`` bf16/fp16 the VGG's convolutions run at that precision (about a
    fifth of an ESRGAN step's FLOPs; 2x faster on a bf16 CPU); the features are cast back to fp32 for
    the distances, so the loss value and its reduction stay fp32. ``false`` keeps the VGG in fp32.
    Without ``train.amp`` it changes nothing."""

    autocast = True      # LossTerms reads this: call forward inside train.amp's autocast region

    def __init__(self, layers: dict[str, float] = {"conv5_4": 1.0}, criterion: str = "l1",
                 before_relu: bool = True, use_input_norm: bool = True, style_weight: float = 0.0,
                 pretrained: bool = True, weights_path: str | None = None, autocast: bool = True):
        super().__init__()
        self.autocast = bool(autocast)
        if not layers:
            raise OptionError("layers: expected at least one VGG19 layer name")
        if criterion not in CRITERIA:
            raise OptionError(f"criterion: expected one of {', '.join(CRITERIA)}, got '{criterion}'")
        self.layer_weights = {name: float(w) for name, w in layers.items()}
        self.criterion = criterion
        self.before_relu = bool(before_relu)
        self.use_input_norm = bool(use_input_norm)
        self.style_weight = float(style_weight)
        # requested name -> index of the module whose output is taken
        self.layer_index = {name: self._resolve(name) for name in self.layer_weights}

        self.vgg = build_vgg19_features(max(self.layer_index.values()) + 1)
        self._load_weights(pretrained, weights_path)
        self.vgg.eval()
        for p in self.vgg.parameters():
            p.requires_grad_(False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def _resolve(self, name: str) -> int:
        if name not in VGG19_LAYERS:
            close = difflib.get_close_matches(str(name), VGG19_LAYERS, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise OptionError(f"layers: unknown VGG19 layer '{name}'{hint}; expected conv1_1 ... conv5_4, relu*, pool1..pool5")
        index = VGG19_LAYERS.index(name)
        if name.startswith("conv") and not self.before_relu:
            index += 1  # the ReLU right after this conv
        return index

    def _load_weights(self, pretrained: bool, weights_path: str | None) -> None:
        if weights_path or pretrained:
            key = "weights_path" if weights_path else "pretrained"
            try:
                path = weight_file("vgg19", weights_path, option="weights_path")
            except MissingWeightsError as e:      # name the argument; the model adds the term's key
                raise MissingWeightsError(str(e) if weights_path else f"pretrained: {e}") from None
        else:
            warnings.warn("perceptual loss with pretrained false: random VGG19 features, its values are not meaningful")
            return
        state = load_features_state(path, key)
        wanted = self.vgg.state_dict().keys()
        missing = [k for k in wanted if k not in state]
        if missing:
            raise CheckpointError(f"{key}: {path} lacks VGG19 features tensors {', '.join(missing[:4])}")
        try:
            self.vgg.load_state_dict({k: state[k] for k in wanted})
        except RuntimeError as exc:
            raise CheckpointError(f"{key}: {path} is not a VGG19 state dict ({str(exc).splitlines()[-1].strip()})") from None

    def train(self, mode: bool = True) -> "PerceptualLoss":
        super().train(mode)
        self.vgg.eval()  # frozen feature extractor stays in eval whatever the model does
        return self

    def _network(self, x: Tensor) -> nn.Sequential:
        """The VGG to run. Under autocast, a copy of the frozen weights in the autocast dtype: autocast
        caches casts only of weights that require grad, so it would re-cast these ~20 M weights at
        every conv call of every pass; the copy holds the same rounded values, made once (and again
        only if the weights, their dtype, device or layout change). Not a submodule: never saved."""
        device = x.device.type
        if not torch.is_autocast_enabled(device):
            return self.vgg
        dtype = torch.get_autocast_dtype(device)
        params = list(self.vgg.parameters())
        key = (dtype, params[0].device, params[0].is_contiguous(memory_format=torch.channels_last),
               tuple(id(p) for p in params), sum(p._version for p in params))
        cached = self.__dict__.get("_low_precision")
        if cached is None or cached[0] != key:
            low = copy.deepcopy(self.vgg).to(dtype)
            self.__dict__["_low_precision"] = cached = (key, low)
        return cached[1]

    def extract(self, x: Tensor) -> dict[str, Tensor]:
        """One VGG pass returning the requested layers' features."""
        if self.use_input_norm:
            x = (x - self.mean) / self.std
        wanted: dict[int, list[str]] = {}
        for name, index in self.layer_index.items():
            wanted.setdefault(index, []).append(name)
        out = {}
        for index, module in enumerate(self._network(x)):
            x = module(x)
            for name in wanted.get(index, ()):
                out[name] = x
        return out

    def _distance(self, a: Tensor, b: Tensor) -> Tensor:
        if self.criterion == "l1":
            return F.l1_loss(a, b)
        if self.criterion == "l2":
            return F.mse_loss(a, b)
        return torch.linalg.vector_norm(a - b)  # 'fro', as BasicSR's torch.norm(p='fro')

    @staticmethod
    def gram(features: Tensor) -> Tensor:
        n, c, h, w = features.shape
        f = features.reshape(n, c, h * w)
        return f @ f.transpose(1, 2) / (c * h * w)

    def forward(self, sr: Tensor, target: Tensor) -> Tensor | dict[str, Tensor]:
        # .float(): features made under autocast are bf16/fp16; distances and Gram matrices in fp32
        # (a no-op without autocast, so fp32 training is unchanged)
        sr_feats = {n: f.float() for n, f in self.extract(sr).items()}
        with torch.no_grad():
            hr_feats = {n: f.float() for n, f in self.extract(target.detach()).items()}
        percep = sum(w * self._distance(sr_feats[n], hr_feats[n]) for n, w in self.layer_weights.items())
        if self.style_weight <= 0:
            return percep
        style = sum(w * self._distance(self.gram(sr_feats[n]), self.gram(hr_feats[n]))
                    for n, w in self.layer_weights.items())
        return {"percep": percep, "style": style * self.style_weight}
