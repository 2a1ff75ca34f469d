"""mixup (Zhang et al., "mixup: Beyond Empirical Risk Minimization", ICLR 2018) for SR pairs.

Each image is blended with a partner from the same batch, LR with LR and HR with HR, by one weight:
  lam ~ Beta(alpha, alpha),  perm = a random permutation of the batch,
  lr' = lam * lr + (1 - lam) * lr[perm],  hr' = lam * hr + (1 - lam) * hr[perm].
Blending is linear, so the blended LR is (up to the degradation's non-linear parts) the LR of the
blended HR and the pair stays consistent. alpha = 1.2 is the CutBlur paper's setting for SR
(Yoo et al., CVPR 2020; its code draws lam the same way); neosr and traiNNer-redux draw
lam ~ U(0.4, 0.6) instead.
"""
import torch

from sr_gan.augmentations._common import Augmented, beta, permutation, scale_of
from sr_gan.errors import OptionError
from sr_gan.registry import AUGMENTATIONS


@AUGMENTATIONS.register("mixup")
class MixUp:
    """lr, hr -> lam * (lr, hr) + (1 - lam) * (lr, hr)[perm], lam ~ Beta(alpha, alpha)."""

    def __init__(self, alpha: float = 1.2):
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha > 0:
            raise OptionError(f"train.batch_augment.options.mixup.alpha: expected a value > 0, got {alpha!r}")
        self.alpha = float(alpha)

    def __call__(self, lr: torch.Tensor, hr: torch.Tensor, generator: torch.Generator) -> Augmented:
        scale_of(lr, hr)
        lam = beta(generator, self.alpha, self.alpha)
        perm = permutation(generator, lr.shape[0], lr.device)
        lr_out = lam * lr + (1.0 - lam) * lr[perm]
        hr_out = lam * hr + (1.0 - lam) * hr[perm]
        return Augmented(lr_out, hr_out, {"lam": lam, "perm": perm.tolist()})
