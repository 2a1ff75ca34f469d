"""Issue 11, end to end: each new loss term trains 3 iterations from a YAML file with finite logged
losses, and a run with batch augmentations (``train.batch_augment``) resumes bit-exactly."""
import math
import re

import pytest
import torch

from sr_gan import options
from sr_gan.train import run
from sr_gan.utils import checkpoint as ckpt

YAML = """\
name: {name}
scale: 4
seed: 0
model: sr
datasets:
  train: {{type: paired, hr: {data}/train/HR, crop: 32, batch: 4, workers: 0}}
  val: {{type: paired, hr: {data}/val/HR}}
network_g: {{type: msrresnet, num_feat: 16, num_block: 2}}
path: {{experiments_root: {root}}}
train:
  total_iter: {iters}
  optim_g: {{lr: 1.0e-3}}
  ema_decay: 0.9
  losses:
{losses}
{extra}
val: {{freq: 0, metrics: [psnr], save_images: false}}
logger: {{print_freq: 1, use_tb: false}}
save: {{freq: 3, keep: 3}}
"""

NEW_TERMS = {
    "ldl": "{type: ldl, weight: 1.0}",
    "ms_ssim": "{type: ms_ssim, weight: 1.0, channels: y}",          # 32 px crops: 2 scales
    "focal_frequency": "{type: focal_frequency, weight: 1.0, patch_factor: 2, log_matrix: true}",
    "color": "{type: color, weight: 1.0, blur_sigma: 1.0}",
    "gradient": "{type: gradient, weight: 1.0, mode: magnitude}",
    "tv": "{type: tv, weight: 0.1}",
}
AUGMENT = """\
  batch_augment:
    augs: [none, mixup, cutmix, resizemix, cutblur]
    probs: [0.1, 0.2, 0.2, 0.2, 0.3]
    options: {cutblur: {alpha: 0.6}}
"""


def _option_file(tmp_path, data, name, iters, losses, extra=""):
    text = YAML.format(name=name, data=data, root=tmp_path / "exp", iters=iters,
                       losses="\n".join(f"    - {t}" for t in losses), extra=extra)
    path = tmp_path / f"{name}.yml"
    path.write_text(text)
    return options.load(str(path))


def _logged(exp_dir, key: str) -> list[float]:
    text = (exp_dir / "train.log").read_text()
    return [float(v) for v in re.findall(rf"iter \d+/\d+ [^\n]*?\b{key}=(\S+)", text)]


@pytest.mark.parametrize("name", sorted(NEW_TERMS))
def test_new_term_trains_three_iterations_from_yaml(tiny_sr_data, tmp_path, name):
    opt = _option_file(tmp_path, tiny_sr_data, f"t_{name}", 3, ["{type: l1, weight: 1.0}", NEW_TERMS[name]])
    run(opt)
    values = _logged(tmp_path / "exp" / f"t_{name}", f"l_g_{name}")
    assert len(values) == 3 and all(math.isfinite(v) for v in values), values
    assert any(v > 0 for v in values)


def _weights(root, name, it):
    return ckpt.load_checkpoint(str(root / name / "checkpoints" / f"iter_{it:08d}.pth"))["nets"]


def test_training_with_batch_augmentations_resumes_bit_exactly(tiny_sr_data, tmp_path):
    terms = ["{type: l1, weight: 1.0}", NEW_TERMS["ldl"]]
    run(_option_file(tmp_path, tiny_sr_data, "full", 6, terms, AUGMENT))
    run(_option_file(tmp_path, tiny_sr_data, "part", 3, terms, AUGMENT))
    run(_option_file(tmp_path, tiny_sr_data, "part", 6, terms, AUGMENT), resume="latest")
    run(_option_file(tmp_path, tiny_sr_data, "plain", 6, terms))
    root = tmp_path / "exp"
    a, b, plain = _weights(root, "full", 6), _weights(root, "part", 6), _weights(root, "plain", 6)
    for net in ("g", "g_ema"):
        for k in a[net]:
            assert torch.equal(a[net][k], b[net][k]), (net, k)
    # and the augmentations did change training (otherwise the resume check would prove nothing)
    assert any(not torch.equal(a["g"][k], plain["g"][k]) for k in a["g"])
