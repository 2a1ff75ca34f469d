"""Shared fixtures: tiny HR folders cut from scikit-image's photos at run time (nothing committed)."""
import os

import numpy as np
import pytest

from sr_gan.utils.image_io import write_image


def _photos():
    from skimage import data
    return {"astronaut": data.astronaut(), "coffee": data.coffee(), "chelsea": data.chelsea(),
            "rocket": data.rocket(), "motorcycle": data.stereo_motorcycle()[0]}


@pytest.fixture(scope="session")
def tiny_sr_data(tmp_path_factory):
    """train/HR: 4 photo crops of 128x128; val/HR: 1 photo crop of 96x96 (native resolution)."""
    root = tmp_path_factory.mktemp("tiny_sr")
    photos = _photos()
    for split, names, size in (("train", ["astronaut", "rocket", "motorcycle", "chelsea"], 128),
                               ("val", ["coffee"], 96)):
        for n in names:
            img = photos[n].astype(np.float32) / 255.0
            h, w = img.shape[:2]
            img = img[(h - size) // 2:(h - size) // 2 + size, (w - size) // 2:(w - size) // 2 + size]
            write_image(os.path.join(root, split, "HR", f"{n}.png"), img)
    return str(root)


def tiny_options(data_root: str, exp_root: str, **over) -> dict:
    """A validated option dict for a tiny x4 `sr` run on `tiny_sr_data`; the EMA is on (train.ema_decay's
    default), so what is validated and saved is the averaged generator, as in real runs."""
    from sr_gan import options
    opt = {
        "name": "tiny", "scale": 4, "seed": 0, "model": "sr",
        "datasets": {"train": {"type": "paired", "hr": f"{data_root}/train/HR", "crop": 32, "batch": 8, "workers": 0},
                     "val": {"type": "paired", "hr": f"{data_root}/val/HR"}},
        "network_g": {"type": "msrresnet", "num_feat": 16, "num_block": 2},
        "path": {"experiments_root": exp_root},
        "train": {"total_iter": 10, "optim_g": {"lr": 1e-3}, "losses": [{"type": "l1", "weight": 1.0}]},
        "val": {"freq": 0, "metrics": ["psnr", "ssim"], "save_images": False},
        "logger": {"print_freq": 5, "use_tb": False},
        "save": {"freq": 5, "keep": 3},
    }
    for key, value in over.items():
        node = opt
        parts = key.split("__")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return options.validate(opt)


def optional_package(name: str):
    """Import one of the optional `extras` packages (spandrel, onnx, onnxruntime) or skip the test, saying
    which package is missing (pytest -ra lists the reason). CI sets SR_GAN_REQUIRE_EXTRAS=1: a missing
    package then fails the test, so these checks can never be skipped there unnoticed."""
    import importlib
    try:
        return importlib.import_module(name)
    except ImportError:
        test = os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0]
        why = f"{test}: optional package '{name}' is not installed (pip install -e '.[extras]')"
        if os.environ.get("SR_GAN_REQUIRE_EXTRAS") == "1":
            pytest.fail(f"{why}; SR_GAN_REQUIRE_EXTRAS=1 requires it", pytrace=False)
        pytest.skip(why)


@pytest.fixture(scope="session", autouse=True)
def no_network_downloads():
    """Pretrained weights are never downloaded by the test suite (tests/weights_utils.py serves fakes)."""
    old = os.environ.get("SR_GAN_OFFLINE")
    os.environ["SR_GAN_OFFLINE"] = "1"
    yield
    if old is None:
        os.environ.pop("SR_GAN_OFFLINE", None)
    else:
        os.environ["SR_GAN_OFFLINE"] = old
