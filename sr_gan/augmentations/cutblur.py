"""CutBlur (Yoo, Ahn & Sohn, "Rethinking Data Augmentation for Image Super-resolution: A
Comprehensive Analysis and a New Strategy", CVPR 2020), adapted to networks that take LR-sized input.

The paper cuts a box of the HR image into the LR image (or the LR image into the HR one) so that the
network learns *where* and how much to super-resolve, and must leave content that is already sharp
alone; the target stays HR. Its networks take an HR-sized input (the LR is upsampled first and the
first layer packs it back down), so HR pixels can enter unchanged. Our generators (RRDBNet,
MSRResNet, ...) take the LR grid, where HR content can only enter at LR resolution, so -- like
traiNNer-redux, and unlike neosr, which resamples the whole LR up and back down every batch -- the box
is drawn on the LR grid and filled from HR downscaled by the scale:
  ratio r ~ N(alpha, 0.01^2) clipped to [0, 1] (the paper's alpha 0.7), box = int(r * h) x int(r * w)
  placed uniformly; hr_lr = MATLAB-bicubic(hr, 1/scale) of the whole image (the operator that makes
  bicubic LR; whole-image so the box's border pixels see their true neighbours);
  with probability 1/2 "inside":  lr'[box] = hr_lr[box];  otherwise "outside": lr' = hr_lr, lr'[box] = lr[box]
  (the paper's two directions); hr' = hr.
On bicubic-only data hr_lr is essentially the LR itself and CutBlur does little; with the real-world
degradations it pastes clean (not blurred, noisy or compressed) content, which teaches the network
not to sharpen or denoise what is already clean -- the paper's stated aim. When ``hr`` stacks several
HR-grid targets on its channels (HR, USM-sharpened HR), the first C channels (C = LR's) are the HR.
"""
import torch

from sr_gan.augmentations._common import Augmented, check_ratio, draw_box, normal, resize, scale_of, uniform
from sr_gan.registry import AUGMENTATIONS


@AUGMENTATIONS.register("cutblur")
class CutBlur:
    """Replace a box of LR (or everything but the box) with the downscaled HR; HR unchanged."""

    def __init__(self, alpha: float = 0.7):
        self.alpha = check_ratio("train.batch_augment.options.cutblur.alpha", alpha)

    def __call__(self, lr: torch.Tensor, hr: torch.Tensor, generator: torch.Generator) -> Augmented:
        scale_of(lr, hr)
        h, w = lr.shape[-2:]
        top, left, bh, bw = draw_box(generator, h, w, normal(generator, self.alpha, 0.01))
        inside = uniform(generator) < 0.5
        hr_lr = resize(hr[:, :lr.shape[1]], h, w).clamp(0, 1)
        box = (..., slice(top, top + bh), slice(left, left + bw))
        if inside:
            lr_out = lr.clone()
            lr_out[box] = hr_lr[box]
        else:
            lr_out = hr_lr.to(lr.dtype)
            lr_out[box] = lr[box]
        return Augmented(lr_out, hr, {"box": (top, left, bh, bw), "inside": inside})
