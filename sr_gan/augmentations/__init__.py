"""Batch augmentations for SR training (mixup, cutmix, resizemix, CutBlur): the set neosr and
traiNNer-redux call "MoA" (mixture of augmentations, Yoo et al., CVPR 2020).

Each augmentation is one registered class (``@AUGMENTATIONS.register(name)``) whose constructor
arguments are its options and whose call is a pure function ``(lr, hr, generator) -> Augmented``:
the whole batch on its own device, HR and LR kept aligned (boxes are drawn on the LR grid and
multiplied by the integer scale on the HR grid), every random draw taken from ``generator`` (a CPU
torch.Generator) and reported in ``Augmented.info``. ``moa.BatchAugment`` picks one per batch from a
generator seeded by (seed, iteration, rank), so a resumed run repeats them without saved state.
"""
