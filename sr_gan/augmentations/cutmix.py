"""CutMix (Yun et al., "CutMix: Regularization Strategy to Train Strong Classifiers with Localizable
Features", ICCV 2019) for SR pairs, in the form the CutBlur paper uses for SR (Yoo et al., CVPR 2020).

A box of each image is replaced by the same box of a partner image from the batch:
  side ratio r ~ N(alpha, 0.01^2) clipped to [0, 1] (the CutBlur paper's SR setting, alpha 0.7;
  Yun et al. draw the area from Beta(1, 1) instead), box = int(r * h) x int(r * w) on the LR grid,
  placed uniformly inside it; the HR box is the LR box times the scale, so both cut the same content;
  perm = a random permutation of the batch; lr[box] = lr[perm][box], hr[scale * box] = hr[perm][scale * box].
"""
import torch

from sr_gan.augmentations._common import Augmented, check_ratio, draw_box, normal, permutation, scale_of
from sr_gan.registry import AUGMENTATIONS


@AUGMENTATIONS.register("cutmix")
class CutMix:
    """Paste the same box (side ~ alpha of the crop) of a partner image into LR and HR."""

    def __init__(self, alpha: float = 0.7):
        self.alpha = check_ratio("train.batch_augment.options.cutmix.alpha", alpha)

    def __call__(self, lr: torch.Tensor, hr: torch.Tensor, generator: torch.Generator) -> Augmented:
        s = scale_of(lr, hr)
        top, left, bh, bw = draw_box(generator, lr.shape[-2], lr.shape[-1], normal(generator, self.alpha, 0.01))
        perm = permutation(generator, lr.shape[0], lr.device)
        lr_out, hr_out = lr.clone(), hr.clone()
        lr_out[..., top:top + bh, left:left + bw] = lr[perm][..., top:top + bh, left:left + bw]
        hy, hx, hh, hw = s * top, s * left, s * bh, s * bw
        hr_out[..., hy:hy + hh, hx:hx + hw] = hr[perm][..., hy:hy + hh, hx:hx + hw]
        return Augmented(lr_out, hr_out, {"box": (top, left, bh, bw), "perm": perm.tolist()})
