"""BasicSR 1.4.2's own ESRGANModel, built with the networks and options of `train_step.py --config`.

Used by bench/train_step.py (`--basicsr`) and bench/profile_step.py to time BasicSR's
optimize_parameters next to sr_gan's in one run. Never imported by sr_gan or the tests.

BasicSR is not a dependency; install it outside the repository:
    pip install --no-deps --no-build-isolation --target /tmp/bsr basicsr==1.4.2 addict yapf future
and put that folder on PYTHONPATH (this machine: PYTHONPATH=/work/bsr).

Two patches make it importable and offline, neither changes its step:
  * `torchvision.transforms.functional_tensor` (removed from torchvision) is aliased to
    `torchvision.transforms.functional` before the import (basicsr.data imports it);
  * its VGGFeatureExtractor calls torchvision's `vgg19(pretrained=True)`, which downloads; it gets
    torchvision's vgg19 with random init instead (`weights=None`), the same layers and cost.
"""
from __future__ import annotations

import copy
import sys
import types


def import_basicsr():
    """The `basicsr` package with the two patches above applied (clear error when missing)."""
    import torchvision
    import torchvision.transforms.functional as tvf
    sys.modules.setdefault("torchvision.transforms.functional_tensor", tvf)
    try:
        import basicsr.archs.vgg_arch as vgg_arch
        import basicsr.models  # noqa: F401  (registers ESRGANModel)
    except ImportError as e:
        raise SystemExit(f"error: BasicSR 1.4.2 is not importable ({e}); install it with `pip install --no-deps "
                         "--no-build-isolation --target DIR basicsr==1.4.2 addict yapf future` and set "
                         "PYTHONPATH=DIR") from None
    import basicsr
    if basicsr.__version__ != "1.4.2":
        print(f"warning: basicsr {basicsr.__version__}, the comparison was written for 1.4.2", file=sys.stderr)
    vgg_arch.vgg = types.SimpleNamespace(
        **{n: (lambda name: lambda pretrained=False, **kw: getattr(torchvision.models, name)(weights=None, **kw))(n)
           for n in ("vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn")})
    return basicsr


def esrgan_options(g: dict, d: dict, device: str, hr: int = 128) -> dict:
    """BasicSR's train_ESRGAN_x4.yml training section with sr_gan's `g`/`d` network sizes."""
    optim = {"type": "Adam", "lr": 1e-4, "weight_decay": 0, "betas": [0.9, 0.99]}
    return {
        "model_type": "ESRGANModel", "num_gpu": 1 if device == "cuda" else 0, "is_train": True, "dist": False,
        "scale": 4,
        "network_g": {"type": "RRDBNet", "num_in_ch": 3, "num_out_ch": 3, "num_feat": g["num_feat"],
                      "num_block": g["num_block"], "num_grow_ch": g["num_grow_ch"]},
        "network_d": {"type": "VGGStyleDiscriminator", "num_in_ch": 3, "num_feat": d["num_feat"],
                      "input_size": hr},   # BasicSR builds 128 and 256 only
        "path": {},
        "train": {
            "ema_decay": 0.999,
            "optim_g": dict(optim), "optim_d": dict(optim),
            "scheduler": {"type": "MultiStepLR", "milestones": [50000, 100000, 200000, 300000], "gamma": 0.5},
            "pixel_opt": {"type": "L1Loss", "loss_weight": 1e-2, "reduction": "mean"},
            "perceptual_opt": {"type": "PerceptualLoss", "layer_weights": {"conv5_4": 1}, "vgg_type": "vgg19",
                               "use_input_norm": True, "range_norm": False, "perceptual_weight": 1.0,
                               "style_weight": 0, "criterion": "l1"},
            "gan_opt": {"type": "GANLoss", "gan_type": "vanilla", "real_label_val": 1.0, "fake_label_val": 0.0,
                        "loss_weight": 5e-3},
            "net_d_iters": 1, "net_d_init_iters": 0,
        },
    }


def build_esrgan_model(g: dict, d: dict, device: str, hr: int = 128):
    """BasicSR's ESRGANModel (fp32, NCHW: BasicSR has no mixed-precision or channels_last option)."""
    import_basicsr()
    import logging
    from basicsr.models import build_model
    logging.getLogger("basicsr").setLevel(logging.WARNING)    # it logs every network's structure
    return build_model(copy.deepcopy(esrgan_options(g, d, device, hr)))
