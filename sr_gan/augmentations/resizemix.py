"""ResizeMix (Qin et al., "ResizeMix: Mixing Data with Preserved Object Information and True Labels",
2020) for SR pairs.

A partner image from the batch is shrunk whole and pasted into a box, so (unlike CutMix) the pasted
patch holds a complete scene at another scale:
  tau ~ U(min_ratio, max_ratio) (the paper's 0.1 and 0.8), box = int(tau * h) x int(tau * w) on the
  LR grid, placed uniformly; lr[box] = resize(lr[perm], box), hr[scale * box] = resize(hr[perm], scale * box).
LR and HR are resized by the same factor with the MATLAB bicubic the paired dataset uses for LR
(antialiased), so the pasted pair keeps the LR/HR relation of bicubic data; the pasted values are
clipped to [0, 1] (bicubic overshoots).
"""
import torch

from sr_gan.augmentations._common import Augmented, check_ratio, draw_box, permutation, resize, scale_of, uniform
from sr_gan.errors import OptionError
from sr_gan.registry import AUGMENTATIONS


@AUGMENTATIONS.register("resizemix")
class ResizeMix:
    """Paste a partner image, shrunk to tau ~ U(min_ratio, max_ratio) of the crop, into LR and HR."""

    def __init__(self, min_ratio: float = 0.1, max_ratio: float = 0.8):
        key = "train.batch_augment.options.resizemix"
        self.min_ratio = check_ratio(f"{key}.min_ratio", min_ratio)
        self.max_ratio = check_ratio(f"{key}.max_ratio", max_ratio)
        if self.min_ratio > self.max_ratio:
            raise OptionError(f"{key}.max_ratio: must be >= min_ratio ({self.min_ratio:g}), got {self.max_ratio:g}")

    def __call__(self, lr: torch.Tensor, hr: torch.Tensor, generator: torch.Generator) -> Augmented:
        s = scale_of(lr, hr)
        tau = self.min_ratio + (self.max_ratio - self.min_ratio) * uniform(generator)
        top, left, bh, bw = draw_box(generator, lr.shape[-2], lr.shape[-1], tau)
        perm = permutation(generator, lr.shape[0], lr.device)
        lr_out, hr_out = lr.clone(), hr.clone()
        if bh > 0 and bw > 0:
            lr_out[..., top:top + bh, left:left + bw] = resize(lr[perm], bh, bw).clamp(0, 1)
            hr_out[..., s * top:s * (top + bh), s * left:s * (left + bw)] = resize(hr[perm], s * bh, s * bw).clamp(0, 1)
        return Augmented(lr_out, hr_out, {"tau": tau, "box": (top, left, bh, bw), "perm": perm.tolist()})
