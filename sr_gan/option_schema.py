"""The option schema: every key an option file may hold, its type, default, range and meaning.

`sr_gan.options` validates files against it and prints it as the README's option reference. Sections
that pick a class by `type:` (Typed) take their keys from that class's constructor signature; a ListOf
(train.losses) is a list of such sections, each named for logs and overrides.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from .registry import ARCHS, DATASETS, DEGRADATIONS, LOSSES, METRICS, MODELS, Registry

@dataclass
class Field:
    type: Any                      # int | float | str | bool | list | dict | tuple of those; object = unchecked
    default: Any = None
    doc: str = ""
    required: bool = False
    choices: Any = None            # list or callable returning a list
    min: float | None = None
    max: float | None = None
    nullable: bool | None = None   # may be null; None: only when the default is null
    item: "Field | None" = None    # each element of a list (or value of a dict) is checked against this
    length: int | None = None      # a list of exactly this many elements
    increasing: bool = False       # list elements strictly increasing
    max_open: bool = False         # max itself excluded: value < max

    def accepts_null(self) -> bool:
        return not self.required and (self.default is None if self.nullable is None else self.nullable)


@dataclass
class Typed:
    """A section whose `type:` names a registry entry; other keys are that class's arguments."""
    registry: Registry
    kind: str | None = None
    default_type: str | None = None
    extra: dict = field(default_factory=dict)      # keys handled by the model, not the class
    injected: tuple = ()                           # arguments the code fills in, not the YAML
    doc: str = ""
    default: dict | None = None                    # the section used when the key is absent (None: off)
    describe: Any = None                           # type name -> extra text for its reference row


@dataclass
class Args:
    """A section whose keys are one class's constructor arguments, without a `type:` (train.batch_augment).
    Absent or null = off; a mapping (even {}) = on, with the class's defaults for the keys it leaves out."""
    target: str                                    # "module:Class", imported on first use
    injected: tuple = ()                           # arguments the code fills in, not the YAML
    doc: str = ""
    docs: dict = field(default_factory=dict)       # argument -> meaning, for the reference
    default: Any = None

    def cls(self):
        import importlib
        module, _, name = self.target.partition(":")
        return getattr(importlib.import_module(module), name)


@dataclass
class ListOf:
    """A list of typed sections (train.losses). Entry i is `{type: ..., **args}`; its `name` (default: the
    type) must be unique: it names the entry in logs and in overrides (`train.losses.<name>.weight=`)."""
    item: Typed
    default: list = field(default_factory=list)    # the list used when the key is absent
    doc: str = ""
    bare_names: bool = False     # a bare name is short for {type: name} and stays a name (val.metrics)


@dataclass
class MapOf:
    """A mapping of user-chosen names to sections (e.g. datasets: {train: ..., val_set5: ...})."""
    value: Any
    doc: str = ""


F = Field
OPTIM = {
    "type": F(str, "adam", "adam | adamw", choices=["adam", "adamw"]),
    "lr": F(float, 1e-4, "learning rate", min=0.0, nullable=False),
    "betas": F(list, [0.9, 0.99], "Adam betas (beta1, beta2)", length=2,
               item=F(float, min=0.0, max=1.0, max_open=True)),
    "weight_decay": F(float, 0.0, "decoupled for adamw, L2 for adam", min=0.0),
    "eps": F(float, 1e-8, "Adam epsilon", min=0.0),
}
LOADER_KEYS = {
    "batch": F(int, 16, "batch size per process (effective batch = batch x processes)", min=1),
    "workers": F(int, 2, "DataLoader worker processes", min=0),
}
VAL_DEGRADE_KEYS = {
    "degrade": F(bool, False, "validation set only: its LR is made from HR by the top-level `degradation:` pipeline "
                 "(no final crop, 8-bit), image i with (degrade_seed, i), once, so every validation scores the same "
                 "inputs; the bicubic baseline upsamples that LR"),
    "degrade_seed": F(int, 0, "seed of the degraded validation LR (with `degrade: true`)", min=0),
}
METRIC = Typed(METRICS, injected=("crop_border", "y_channel", "device"),
               extra={"name": F(str, None, "column name (default: the type; needed when a type is listed twice)")},
               doc="metric; `type` plus the metric class's arguments")
def _dataset_nones(type_name: str) -> str:
    """What the paired dataset's null defaults mean (the signature alone says None)."""
    if type_name != "paired":
        return ""
    return ("; null means: lr: MATLAB-bicubic LR made from HR; crop: whole images (validation sets always; "
            "a training set then needs images of one size); cache: auto (RAM below ~200 MP); check: full up to "
            "2,000 files, header above; max_images: all; scan_cache: <experiments_root>/<name>/scan_cache")


DATASET = Typed(DATASETS, default_type="paired", extra={**LOADER_KEYS, **VAL_DEGRADE_KEYS},
                injected=("scale", "phase", "seed", "hr_only"),
                describe=_dataset_nones, doc="dataset; `type` plus the dataset class's arguments")
TARGET = F(str, "hr", "compare with hr, or hr_usm: HR after Real-ESRGAN's unsharp masking (taken from the batch "
           "when the data provides it, else computed on the device)", choices=["hr", "hr_usm"], nullable=False)


def _term_inputs(type_name: str) -> str:
    from .losses.terms import forward_inputs
    inputs = forward_inputs(LOSSES.get(type_name))
    return f"; uses {', '.join(inputs)}" if inputs else ""


LOSS_TERM = Typed(LOSSES, kind="generator", extra={
    "weight": F(float, 1.0, "weight of the term in the generator loss; 0 = not built", min=0.0, nullable=False),
    "name": F(str, None, "log name (l_g_<name>) and override address (train.losses.<name>.weight=...); default: the type"),
    "target": TARGET,
}, describe=_term_inputs, doc="generator loss term")
GAN = Typed(LOSSES, kind="gan", default_type="vanilla", default={"type": "vanilla"}, extra={
    "weight": F(float, 5e-3, "weight of the generator's GAN term (0: no GAN term in G; D still trains)",
                min=0.0, nullable=False),
    "target": replace(TARGET, doc="real images D is shown: hr, or hr_usm (HR after Real-ESRGAN's unsharp masking)"),
}, doc="GAN objective (srgan model): D's loss and G's adversarial term; null is an error for srgan, "
       "unused by sr; absent: vanilla with its defaults")

SCHEMA: dict = {
    "name": F(str, doc="experiment name: the folder <experiments_root>/<name>/ (no '/' or '\\', not '.' or '..')",
              required=True, nullable=False),
    "base": F(str, None, "option file this one inherits (path relative to this file)"),
    "imports": F(list, [], nullable=True, item=F(str), doc="plugin modules imported before validation, so the losses/networks they register "
                 "can be used here: .py files (relative to this file) or module names"),
    "model": F(str, "sr", "sr: generator trained with train.losses | srgan: + discriminator (network_d) and train.gan",
               choices=lambda: MODELS.names()),
    "scale": F(int, doc="upscaling factor; one network_g supports (its supported_scales, e.g. rrdbnet 1, 2, 3, 4, 8); "
                        "datasets.train.crop must be a multiple of it (the generator's supported_scales are the upper bound)",
                 required=True, min=1, nullable=False),
    "device": F(str, "auto", "auto | cpu | cuda (auto picks CUDA when present)", choices=["auto", "cpu", "cuda"]),
    "seed": F(int, 0, "seed for weights, data order and augmentation"),
    "num_threads": F(int, None, "CPU threads for torch (default: torch's choice; scripts/ablate.py: cores // jobs "
                                "unless this or OMP_NUM_THREADS is set)", min=1),
    "datasets": MapOf(DATASET, "named datasets: `train` for training (required), every other name is a "
                               "validation set"),
    "degradation": Typed(DEGRADATIONS, injected=("scale",),
                         doc="real-world degradation of the training batches on the training device (realesrgan: "
                             "Real-ESRGAN's keys and defaults; bsrgan); the train set then delivers HR crops only "
                             "and the LR, HR and USM-sharpened HR come from the pipeline; null = off (bicubic or "
                             "paired LR from the dataset)"),
    "network_g": Typed(ARCHS, kind="generator", injected=("scale",), doc="generator (required for training)"),
    "network_d": Typed(ARCHS, kind="discriminator", injected=("input_size",),
                       extra={"conditional": F(bool, False, "judge D(x | bicubic-upsampled LR), channels concatenated")},
                       doc="discriminator (required by the srgan model, unused by sr)"),
    "path": {
        "experiments_root": F(str, "experiments", "where experiment folders are made"),
        "pretrain_network_g": F(str, None, "generator weights to start from (ours, BasicSR, KAIR or original ESRGAN)"),
        "strict_load_g": F(bool, True, "require every key to match"),
        "pretrain_network_d": F(str, None, "discriminator weights to start from"),
        "strict_load_d": F(bool, True, "require every key to match"),
    },
    "train": {
        "total_iter": F(int, 100000, "iterations (generator updates) in all", min=1),
        "optim_g": OPTIM,
        "optim_d": OPTIM,
        "scheduler": {
            "type": F(str, "multistep", "multistep | cosine | constant", choices=["multistep", "cosine", "constant"]),
            "milestones": F(list, [], "multistep: iterations where lr is multiplied by gamma", nullable=True,
                            item=F(int, min=1), increasing=True),
            "gamma": F(float, 0.5, "multistep factor", min=0.0),
            "warmup_iter": F(int, 0, "linear warm-up iterations", min=0),
            "eta_min": F(float, 1e-7, "cosine: final lr", min=0.0),
        },
        "ema_decay": F(float, 0.999, "EMA of the generator used for validation and export; 0 = off", min=0.0, max=1.0),
        "losses": ListOf(LOSS_TERM, default=[{"type": "l1", "weight": 1.0}],
                         doc="generator loss terms, summed as weight x term (absent: this default; the sr model "
                             "needs one term with weight > 0; a list in a child file replaces its base's)"),
        "gan": GAN,
        "batch_augment": Args("sr_gan.augmentations.moa:BatchAugment", injected=("seed",),
                              doc="batch augmentations on the training device after the degradation, one per batch "
                                  "drawn from (seed, iteration, rank); null = off",
                              docs={"augs": "names to choose from: none or a batch augmentation "
                                            "(mixup, cutmix, resizemix, cutblur)",
                                    "probs": "selection weight of each entry of augs (normalised); null = equal",
                                    "options": "per-augmentation constructor arguments, e.g. {cutblur: {alpha: 0.7}}"}),
        "feature_matching": {
            "weight": F(float, 0.0, "L1 between D's features on HR and SR; 0 = off", min=0.0),
            "layers": F(list, None, "indices of D's feature list (default: all)", item=F(int)),
        },
        "d_update": {
            "ratio": F(float, 1.0, "D updates per G update (>=1), or e.g. 0.5 = one D update every 2 G updates", min=0.0),
            "init_iters": F(int, 0, "train D alone for this many iterations first", min=0),
        },
        "amp": F(str, "none", "none | bf16 | fp16 mixed precision (loss values in fp32; the perceptual VGG "
                 "at this precision unless its autocast: false)", choices=["none", "bf16", "fp16"]),
        "channels_last": F(bool, False, "channels_last memory format for G, D and the loss networks (VGG)"),
        "compile": F(bool, False, "torch.compile G and D (falls back with a warning)"),
        "sync_bn": F(bool, False, "multi-GPU: SyncBatchNorm in D (BN statistics over the global batch); CUDA only"),
        "grad_clip": F(float, 0.0, "clip gradient norm of G and D; 0 = off", min=0.0),
        "max_nonfinite": F(int, 5, "stop after this many consecutive NaN/Inf steps", min=1),
        "auto_resume": F(bool, False, "resume from the newest loadable checkpoint of this experiment"),
    },
    "val": {
        "freq": F(int, 0, "validate every N iterations (0 = only at the end)", min=0),
        "metrics": ListOf(METRIC, ["psnr", "ssim"], bare_names=True, doc="metric names, or sections with the metric's arguments: "
                     "[psnr, ssim, {type: lpips, net: vgg, backbone_path: FILE}]"),
        "crop_border": F(int, None, "pixels removed at each border (default: scale)", min=0),
        "y_channel": F(bool, True, "PSNR/SSIM on MATLAB's Y channel (paper convention); false = RGB"),
        "save_images": F(bool, True, "save SR images to experiments/<name>/visualization"),
    },
    "logger": {
        "print_freq": F(int, 100, "log losses every N iterations", min=1),
        "use_tb": F(bool, True, "write TensorBoard events"),
    },
    "save": {
        "freq": F(int, 5000, "checkpoint every N iterations (one is always written at the end)", min=1),
        "keep": F(int, 3, "keep the newest K checkpoints", min=1),
    },
}


