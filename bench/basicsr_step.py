"""BasicSR 1.4.2's own ESRGANModel / RealESRGANModel, built like `train_step.py --config`.

Used by bench/train_step.py (`--basicsr`) and bench/profile_step.py to time BasicSR's
optimize_parameters next to sr_gan's in one run: ESRGANModel for the `esrgan`/`small` configs,
RealESRGANModel (its step, on a given batch) for `realesrgan`. Never imported by sr_gan or the tests.

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


_BASICSR_NAMES = {"rrdbnet": "RRDBNet", "vgg": "VGGStyleDiscriminator", "unet_sn": "UNetDiscriminatorSN"}


def basicsr_options(config: dict, device: str, hr: int = 128) -> dict:
    """BasicSR's options for a train_step.py config: train_ESRGAN_x4.yml (ESRGANModel) or
    train_realesrgan_x4plus.yml (RealESRGANModel), with the config's network sizes and loss terms."""
    g, d = config["g"], config["d"]
    terms = {t["type"]: t for t in config["losses"]}
    usm = {t.get("target", "hr") == "hr_usm" for t in config["losses"]} | {config["gan"].get("target", "hr") == "hr_usm"}
    optim = {"type": "Adam", "lr": 1e-4, "weight_decay": 0, "betas": [0.9, 0.99]}
    net_d = {"type": _BASICSR_NAMES[d["type"]], "num_in_ch": 3, "num_feat": d["num_feat"]}
    if d["type"] == "vgg":
        net_d["input_size"] = hr            # BasicSR builds 128 and 256 only
    else:
        net_d["skip_connection"] = d.get("skip_connection", True)
    opt = {
        "model_type": config["basicsr"], "num_gpu": 1 if device == "cuda" else 0, "is_train": True, "dist": False,
        "scale": 4,
        "network_g": {"type": "RRDBNet", "num_in_ch": 3, "num_out_ch": 3, "num_feat": g["num_feat"],
                      "num_block": g["num_block"], "num_grow_ch": g["num_grow_ch"]},
        "network_d": net_d,
        "path": {},
        "train": {
            "ema_decay": 0.999,
            "optim_g": dict(optim), "optim_d": dict(optim),
            "scheduler": {"type": "MultiStepLR", "milestones": [400000], "gamma": 0.5},
            "pixel_opt": {"type": "L1Loss", "loss_weight": terms["l1"]["weight"], "reduction": "mean"},
            "perceptual_opt": {"type": "PerceptualLoss", "layer_weights": dict(terms["perceptual"]["layers"]),
                               "vgg_type": "vgg19", "use_input_norm": True, "range_norm": False,
                               "perceptual_weight": terms["perceptual"]["weight"], "style_weight": 0,
                               "criterion": "l1"},
            "gan_opt": {"type": "GANLoss", "gan_type": "vanilla", "real_label_val": 1.0, "fake_label_val": 0.0,
                        "loss_weight": config["gan"]["weight"]},
            "net_d_iters": 1, "net_d_init_iters": 0,
        },
    }
    if config["basicsr"] == "RealESRGANModel":
        opt.update({"l1_gt_usm": True in usm, "percep_gt_usm": True in usm, "gan_gt_usm": False, "queue_size": 180})
    return opt


def build_basicsr_model(config: dict, device: str, hr: int = 128):
    """BasicSR's model for `config` (fp32, NCHW: BasicSR has no mixed-precision or channels_last option)."""
    import_basicsr()
    import logging
    import torch
    from basicsr.models import build_model
    logging.getLogger("basicsr").setLevel(logging.WARNING)    # it logs every network's structure
    opt = basicsr_options(config, device, hr)
    if device == "cuda":
        return build_model(opt)
    # RealESRGANModel puts its JPEG and USM helpers on the GPU with .cuda(); they are not part of the
    # step (the batch is given below), so on a CPU they stay where they are
    cuda = torch.nn.Module.cuda
    torch.nn.Module.cuda = lambda self, *a, **k: self
    try:
        return build_model(opt)
    finally:
        torch.nn.Module.cuda = cuda


def feed_basicsr(model, batch: dict) -> None:
    """The batch as BasicSR's feed_data leaves it: lq, gt and (RealESRGANModel) gt_usm. RealESRGANModel's
    own feed_data degrades on the GPU; that is bench/degrade.py's subject, not the step's."""
    model.lq = batch["lr"].to(model.device)
    model.gt = batch["hr"].to(model.device)
    if hasattr(model, "usm_sharpener"):
        import torch
        with torch.no_grad():
            model.gt_usm = model.usm_sharpener.to(model.device)(model.gt)
