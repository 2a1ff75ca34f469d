"""BasicSR / Real-ESRGAN training option files -> sr_gan option files (scripts/convert_options.py).

Every key of the source ends in exactly one of three places: converted (the equivalent sr_gan key),
converted with a note (the closest sr_gan setting where the behaviour is not identical, saying how it
differs), or listed as not mapped (no sr_gan equivalent; the value is lost). Keys nobody read are found
by walking the source at the end, so a key this module does not know is listed, never dropped silently.
The Real-ESRGAN degradation keys keep their names in a top-level ``degradation: {type: realesrgan, ...}``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

_UNSET = object()

MODELS = {"SRModel": "sr", "RealESRNetModel": "sr", "SRGANModel": "srgan", "ESRGANModel": "srgan",
          "RealESRGANModel": "srgan"}
GENERATORS = {"RRDBNet": "rrdbnet", "MSRResNet": "msrresnet"}
DISCRIMINATORS = {"VGGStyleDiscriminator": "vgg", "UNetDiscriminatorSN": "unet_sn"}
PIXEL_LOSSES = {"L1Loss": "l1", "MSELoss": "mse", "CharbonnierLoss": "charbonnier"}
GAN_TYPES = {"vanilla": "vanilla", "lsgan": "lsgan", "wgan": "wgan", "wgan_softplus": "softplus", "hinge": "hinge"}
OPTIMIZERS = {"Adam": "adam", "AdamW": "adamw"}
METRICS = {"calculate_psnr": "psnr", "calculate_ssim": "ssim", "calculate_niqe": "niqe", "calculate_lpips": "lpips"}
# Real-ESRGAN's degradation keys: top level of its option file, and the kernel keys of RealESRGANDataset
DEGRADATION_TOP = ("resize_prob", "resize_range", "gaussian_noise_prob", "noise_range", "poisson_scale_range",
                   "gray_noise_prob", "jpeg_range", "second_blur_prob", "resize_prob2", "resize_range2",
                   "gaussian_noise_prob2", "noise_range2", "poisson_scale_range2", "gray_noise_prob2", "jpeg_range2",
                   "gt_size", "queue_size")
DEGRADATION_DATASET = ("blur_kernel_size", "kernel_list", "kernel_prob", "sinc_prob", "blur_sigma", "betag_range",
                       "betap_range", "blur_kernel_size2", "kernel_list2", "kernel_prob2", "sinc_prob2", "blur_sigma2",
                       "betag_range2", "betap_range2", "final_sinc_prob")
REALESRGAN_CROP = 400        # RealESRGANDataset crops (or pads) every HR image to 400 px before the degradation
USM_TARGETS = {"l1_gt_usm": "pixel", "percep_gt_usm": "perceptual", "gan_gt_usm": "gan"}


@dataclass
class Converted:
    options: dict
    unmapped: list[str] = field(default_factory=list)    # 'key: value -- why' (the value is lost)
    notes: list[str] = field(default_factory=list)       # 'key: how it was converted where not identical'

    def report(self) -> list[str]:
        return ([f"not mapped: {u}" for u in self.unmapped] + [f"note: {n}" for n in self.notes])

    def text(self, source: str) -> str:
        """The sr_gan option file, with every unmapped key and note in a comment block at the top."""
        head = [f"# Converted from {source} (BasicSR / Real-ESRGAN) by scripts/convert_options.py."]
        if self.unmapped:
            head += ["#", "# NOT MAPPED -- no sr_gan equivalent, these settings are lost:"]
            head += [f"#   {u}" for u in self.unmapped]
        if self.notes:
            head += ["#", "# Converted, but not identical:"]
            head += [f"#   {n}" for n in self.notes]
        body = yaml.safe_dump(self.options, sort_keys=False, default_flow_style=None, width=110)
        return "\n".join(head) + "\n\n" + body


def _flow(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=2 ** 31).strip().removesuffix("\n...")


def _number(value: Any) -> Any:
    """BasicSR writes counts as `!!float 5e3`: whole floats become ints."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


class _Source:
    """The source mapping, with a record of which keys were read."""

    def __init__(self, data: dict):
        self.data, self.used, self.unmapped, self.notes = data, set(), [], []

    def has(self, *path) -> bool:
        node = self.data
        for k in path:
            if not isinstance(node, dict) or k not in node:
                return False
            node = node[k]
        return True

    def take(self, *path, default: Any = _UNSET) -> Any:
        """The value at `path` (marked as read with everything under it), or `default` when absent."""
        if not self.has(*path):
            if default is _UNSET:
                raise KeyError(".".join(map(str, path)))
            return default
        node = self.data
        for k in path:
            node = node[k]
        self.used.add(tuple(path))
        return node

    def drop(self, path: tuple, why: str) -> None:
        """`path` has no sr_gan equivalent: listed with its value and why."""
        if self.has(*path):
            self.unmapped.append(f"{'.'.join(map(str, path))}: {_flow(self.take(*path))} -- {why}")

    def note(self, text: str) -> None:
        self.notes.append(text)

    def _is_used(self, path: tuple) -> bool:
        return any(path[:i] in self.used for i in range(1, len(path) + 1))

    def leftovers(self) -> None:
        """Every leaf nobody read becomes an unmapped entry."""
        def walk(node, path):
            if self._is_used(path):
                return
            if isinstance(node, dict) and node:
                for k, v in node.items():
                    walk(v, path + (k,))
                return
            why = "null in the source: nothing lost" if node is None else "no sr_gan equivalent"
            self.unmapped.append(f"{'.'.join(map(str, path))}: {_flow(node)} -- {why}")
        for k, v in self.data.items():
            walk(v, (k,))


def _network(src: _Source, section: str, types: dict, scale: int | None) -> dict | None:
    if not src.has(section):
        return None
    tname = src.take(section, "type", default=None)
    if tname not in types:
        src.drop((section,), f"network type '{tname}' has no sr_gan equivalent (sr_gan has {', '.join(types)})")
        return None
    from sr_gan.registry import ARCHS
    ours = types[tname]
    out = {"type": ours}
    params = ARCHS.signature(ours).parameters
    for key in list(src.take(section, default={})):
        if key == "type":
            continue
        value = src.data[section][key]
        if key in ("scale", "upscale"):
            src.used.add((section, key))
            if value != scale:
                src.note(f"{section}.{key}: {value} differs from scale {scale}; sr_gan builds the network at scale")
        elif key == "input_size" and section == "network_d":
            src.used.add((section, key))
            src.note(f"network_d.input_size: {value} -- sr_gan sets it to datasets.train.crop")
        elif key in params:
            out[key] = src.take(section, key)
        else:
            src.drop((section, key), f"not an argument of sr_gan's {ours}")
    return out


def _optimizer(src: _Source, section: str) -> dict | None:
    if not src.has("train", section):
        return None
    kind = src.take("train", section, "type", default="Adam")
    if kind not in OPTIMIZERS:
        src.drop(("train", section), f"optimizer '{kind}' not supported (sr_gan: Adam, AdamW); the default Adam is used")
        return None
    out = {"type": OPTIMIZERS[kind]}
    for key in ("lr", "betas", "weight_decay", "eps"):
        if src.has("train", section, key):
            out[key] = src.take("train", section, key)
    return out


def _scheduler(src: _Source, total_iter: int | None) -> dict:
    out: dict = {}
    warm = src.take("train", "warmup_iter", default=-1)
    out["warmup_iter"] = max(0, int(warm or 0))
    if not src.has("train", "scheduler"):
        out["type"] = "constant"
        return out
    kind = src.take("train", "scheduler", "type", default=None)
    get = lambda key, default=None: src.take("train", "scheduler", key, default=default)  # noqa: E731
    if kind in ("MultiStepLR", "MultiStepRestartLR"):
        out.update(type="multistep", milestones=[_number(m) for m in get("milestones", [])], gamma=get("gamma", 0.1))
        restarts, weights = get("restarts", [0]), get("restart_weights", [1])
        if any(restarts) or any(w != 1 for w in weights):
            src.note(f"train.scheduler: MultiStepRestartLR restarts {restarts} not supported; converted to a "
                     f"multistep schedule without restarts")
    elif kind in ("CosineAnnealingRestartLR", "CosineAnnealingRestartCyclicLR"):
        periods, weights = get("periods", []), get("restart_weights", [1])
        eta = get("eta_min", 0.0)
        out.update(type="cosine", eta_min=float(eta if eta is not None else 0.0))
        if kind == "CosineAnnealingRestartCyclicLR":
            src.drop(("train", "scheduler", "eta_mins"), "one eta_min per cycle is not supported")
        if len(periods) != 1 or list(weights) != [1] or (total_iter and _number(periods[0]) != total_iter):
            src.note(f"train.scheduler: {kind} periods {periods} restart_weights {weights} -> one cosine decay "
                     f"over train.total_iter (sr_gan has no restarts)")
    else:
        src.drop(("train", "scheduler"), f"scheduler '{kind}' not supported (sr_gan: multistep, cosine, constant); "
                                         f"a constant lr is used")
        out["type"] = "constant"
    return out


def _pixel(src: _Source) -> dict | None:
    if not src.has("train", "pixel_opt"):
        return None
    kind = src.take("train", "pixel_opt", "type", default=None)
    if kind not in PIXEL_LOSSES:
        src.drop(("train", "pixel_opt"), f"pixel loss '{kind}' not supported (sr_gan: {', '.join(PIXEL_LOSSES)})")
        return None
    term = {"type": PIXEL_LOSSES[kind], "weight": float(src.take("train", "pixel_opt", "loss_weight", default=1.0))}
    if src.has("train", "pixel_opt", "reduction"):
        term["reduction"] = src.take("train", "pixel_opt", "reduction")
    if kind == "CharbonnierLoss" and src.has("train", "pixel_opt", "eps"):
        term["eps"] = src.take("train", "pixel_opt", "eps")
    return term


def _perceptual(src: _Source) -> dict | None:
    if not src.has("train", "perceptual_opt"):
        return None
    get = lambda key, default=None: src.take("train", "perceptual_opt", key, default=default)  # noqa: E731
    kind = get("type")
    if kind != "PerceptualLoss":
        src.drop(("train", "perceptual_opt"), f"perceptual loss '{kind}' not supported (sr_gan: PerceptualLoss)")
        return None
    vgg = get("vgg_type", "vgg19")
    if vgg != "vgg19":
        src.drop(("train", "perceptual_opt"), f"vgg_type {vgg}: sr_gan's perceptual loss is VGG19 only")
        return None
    if get("range_norm", False):
        src.note("train.perceptual_opt.range_norm: true maps [-1, 1] inputs to [0, 1]; sr_gan images are in [0, 1] "
                 "already, so it is left out")
    percep_w, style_w = float(get("perceptual_weight", 1.0) or 0.0), float(get("style_weight", 0.0) or 0.0)
    if percep_w <= 0 and style_w <= 0:
        src.note("train.perceptual_opt: perceptual_weight and style_weight are 0 (no term); left out")
        return None
    term = {"type": "perceptual", "weight": percep_w, "layers": {str(k): float(v) for k, v in get("layer_weights",
                                                                                                   {}).items()},
            "use_input_norm": bool(get("use_input_norm", True)), "criterion": get("criterion", "l1")}
    if style_w > 0:
        if percep_w <= 0:
            src.note(f"train.perceptual_opt: style_weight {style_w} without a perceptual part is not expressible; "
                     f"converted with weight {style_w} and style_weight 1, which adds the perceptual part too")
            term.update(weight=style_w, style_weight=1.0)
        else:
            term["style_weight"] = style_w / percep_w   # sr_gan: `weight` scales the style part too
    return term


def _gan(src: _Source, model_type: str) -> dict | None:
    if not src.has("train", "gan_opt"):
        return None
    get = lambda key, default=None: src.take("train", "gan_opt", key, default=default)  # noqa: E731
    kind = get("gan_type", "vanilla")
    if get("type", "GANLoss") != "GANLoss":
        src.note(f"train.gan_opt.type {src.data['train']['gan_opt']['type']}: converted as BasicSR's GANLoss")
    if kind not in GAN_TYPES:
        src.drop(("train", "gan_opt"), f"gan_type '{kind}' not supported (sr_gan: {', '.join(GAN_TYPES)})")
        return None
    gan = {"type": GAN_TYPES[kind], "weight": float(get("loss_weight", 1.0))}
    real, fake = float(get("real_label_val", 1.0)), float(get("fake_label_val", 0.0))
    if kind in ("vanilla", "lsgan"):
        gan.update(real_label=real, fake_label=fake, gen_label=real)   # BasicSR's G targets real_label_val
    elif (real, fake) != (1.0, 0.0):
        src.note(f"train.gan_opt: {kind} ignores real_label_val/fake_label_val (so does BasicSR)")
    if model_type == "ESRGANModel":     # BasicSR's ESRGANModel is the relativistic form with detached batch means
        gan.update(relativistic=True, detach_mean=True)
    return gan


def _dataset(src: _Source, name: str, scale: int, degradation: dict) -> tuple[str, dict] | None:
    path = ("datasets", name)
    get = lambda key, default=None: src.take(*path, key, default=default)  # noqa: E731
    kind = get("type")
    key = name
    if name != "train":
        label = src.take(*path, "name", default=None)
        if isinstance(label, str) and label.replace("_", "").isalnum() and label != "train":
            key = label
    else:
        src.drop(path + ("name",), "a label only: sr_gan's training set is `datasets.train`")
    if kind not in ("PairedImageDataset", "RealESRGANDataset"):
        src.drop(path, f"dataset type '{kind}' not supported (sr_gan: PairedImageDataset, RealESRGANDataset)")
        return None
    out: dict = {"type": "paired", "hr": get("dataroot_gt")}
    if kind == "PairedImageDataset" and src.has(*path, "dataroot_lq"):
        out["lr"] = get("dataroot_lq")
    backend = get("io_backend", {}) or {}
    if backend.get("type", "disk") not in ("disk", "lmdb"):
        src.drop(path + ("io_backend",), "only disk folders and BasicSR LMDB folders are read")
    elif backend.get("type") == "lmdb" and not all(str(out[k]).endswith(".lmdb") for k in ("hr", "lr") if k in out):
        src.note(f"datasets.{name}.io_backend lmdb: sr_gan recognises an LMDB by its .lmdb folder name")
    tmpl = get("filename_tmpl", "{}")
    if tmpl != "{}":
        src.note(f"datasets.{name}.filename_tmpl '{tmpl}': sr_gan matches LR to HR by stem (x{scale} suffixes allowed)")
    if name == "train":
        if kind == "RealESRGANDataset":
            out["crop"] = REALESRGAN_CROP
            gt = get("gt_size")
            if degradation.setdefault("gt_size", gt) != gt:
                src.note(f"datasets.train.gt_size {gt}: RealESRGANDataset does not use it; the patch size is the "
                         f"top-level gt_size {degradation['gt_size']} (degradation.gt_size)")
            src.note(f"datasets.train: RealESRGANDataset crops HR to {REALESRGAN_CROP} px (padding smaller images; "
                     f"sr_gan needs images of at least {REALESRGAN_CROP} px); the patch size after the degradation "
                     f"is degradation.gt_size")
            for k in DEGRADATION_DATASET:
                if src.has(*path, k):
                    degradation[k] = get(k)
            src.drop(path + ("meta_info",), "sr_gan uses every image of the folder (no meta_info list)")
        elif src.has(*path, "gt_size"):
            out["crop"] = _number(get("gt_size"))
        for theirs, ours in (("use_hflip", "flip"), ("use_flip", "flip"), ("use_rot", "rot")):
            if src.has(*path, theirs):
                out[ours] = bool(get(theirs))
        if src.has(*path, "batch_size_per_gpu"):
            out["batch"] = _number(get("batch_size_per_gpu"))
        if src.has(*path, "num_worker_per_gpu"):
            out["workers"] = _number(get("num_worker_per_gpu"))
        if not get("use_shuffle", True):
            src.note(f"datasets.{name}.use_shuffle false: sr_gan always shuffles (seeded, resumable)")
        ratio = get("dataset_enlarge_ratio", 1)
        if ratio not in (None, 1):
            src.note(f"datasets.{name}.dataset_enlarge_ratio {ratio}: not needed, sr_gan samples by iteration")
        if get("prefetch_mode") not in (None, "cpu", "cuda"):
            src.note(f"datasets.{name}.prefetch_mode: sr_gan prefetches to CUDA by itself")
    return key, out


def _datasets(src: _Source, scale: int, degradation: dict) -> dict:
    out = {}
    for name in list(src.data.get("datasets") or {}):
        if not isinstance(src.data["datasets"][name], dict):
            continue            # left for the leftovers: listed as not mapped
        got = _dataset(src, name, scale, degradation)
        if got:
            out[got[0]] = got[1]
    return out


def _val(src: _Source) -> dict:
    out: dict = {}
    if not src.has("val"):
        return out
    if src.has("val", "val_freq"):
        out["freq"] = int(_number(src.take("val", "val_freq")))
    if src.has("val", "save_img"):
        out["save_images"] = bool(src.take("val", "save_img"))
    metrics, borders, y = [], set(), set()
    for label, spec in (src.take("val", "metrics", default={}) or {}).items():
        kind = spec.get("type") if isinstance(spec, dict) else None
        if kind not in METRICS:
            src.unmapped.append(f"val.metrics.{label}: {_flow(spec)} -- metric '{kind}' not supported "
                                f"(sr_gan: {', '.join(METRICS)})")
            continue
        metrics.append(METRICS[kind] if label == METRICS[kind] else {"type": METRICS[kind], "name": label})
        for k, v in spec.items():
            if k == "crop_border":
                borders.add(v)
            elif k == "test_y_channel":
                y.add(bool(v))
            elif k not in ("type", "better"):
                src.unmapped.append(f"val.metrics.{label}.{k}: {_flow(v)} -- not an argument of sr_gan's {METRICS[kind]}")
    if metrics:
        out["metrics"] = metrics
    if borders:
        out["crop_border"] = sorted(borders)[0]
        if len(borders) > 1:
            src.note(f"val.metrics: crop_border {sorted(borders)} differ; sr_gan uses one (val.crop_border "
                     f"{out['crop_border']})")
    if y:
        out["y_channel"] = True in y
        if len(y) > 1:
            src.note("val.metrics: test_y_channel differs between metrics; sr_gan uses one (val.y_channel: true)")
    return out


def convert(data: dict) -> Converted:
    """sr_gan options for a BasicSR / Real-ESRGAN option mapping, plus what could not be carried over."""
    src = _Source(data)
    model_type = src.take("model_type", default="SRModel")
    opt: dict = {"name": src.take("name", default="converted")}
    if model_type in MODELS:
        opt["model"] = MODELS[model_type]
    else:
        opt["model"] = "srgan" if src.has("network_d") else "sr"
        src.notes.append(f"model_type: {model_type} is not a known BasicSR model; converted as {opt['model']}")
    scale = src.take("scale", default=4)
    opt["scale"] = scale
    gpus = src.take("num_gpu", default=None)
    if gpus == 0:
        opt["device"] = "cpu"
    elif gpus not in (None, 1, "auto"):
        src.note(f"num_gpu: {gpus} -- start {gpus} processes: torchrun --nproc_per_node={gpus} train_sr.py -opt ...; "
                 f"batch stays per process, as batch_size_per_gpu")
    if src.has("manual_seed"):
        opt["seed"] = src.take("manual_seed")
    degradation: dict = {}
    for key in DEGRADATION_TOP:
        if src.has(key):
            degradation[key] = src.take(key)
    opt["datasets"] = _datasets(src, scale, degradation)
    if "train" in opt["datasets"] and "gt_size" in degradation and opt["datasets"]["train"].get("crop") is None:
        opt["datasets"]["train"]["crop"] = REALESRGAN_CROP
    g = _network(src, "network_g", GENERATORS, scale)
    if g:
        opt["network_g"] = g
    d = _network(src, "network_d", DISCRIMINATORS, scale)
    if d and opt["model"] == "srgan":
        opt["network_d"] = d
    elif d:
        src.note(f"network_d: ignored by model_type {model_type} (no GAN)")
    if degradation or model_type in ("RealESRGANModel", "RealESRNetModel"):
        opt["degradation"] = {"type": "realesrgan", **degradation}
    path = {}
    for which in ("g", "d"):
        if src.has("path", f"pretrain_network_{which}") and src.data["path"][f"pretrain_network_{which}"]:
            path[f"pretrain_network_{which}"] = src.take("path", f"pretrain_network_{which}")
            if src.has("path", f"strict_load_{which}"):
                path[f"strict_load_{which}"] = bool(src.take("path", f"strict_load_{which}"))
            key = src.take("path", f"param_key_{which}", default="params")
            if key not in ("params", "params_ema"):
                src.drop(("path", f"param_key_{which}"), "sr_gan reads params_ema, else params, of a BasicSR file")
            elif key == "params":
                src.note(f"path.param_key_{which} params (BasicSR's default): sr_gan loads params_ema when the file "
                         f"has it, else params")
        else:
            for k in (f"strict_load_{which}", f"param_key_{which}"):
                src.drop(("path", k), f"unused without path.pretrain_network_{which}")
    if src.has("path", "resume_state") and src.data["path"]["resume_state"] is not None:
        src.drop(("path", "resume_state"), "BasicSR .state files are not read; resume sr_gan runs with --resume")
    if path:
        opt["path"] = path

    train: dict = {}
    total = src.take("train", "total_iter", default=None)
    d_iters = _number(src.take("train", "net_d_iters", default=1) or 1)
    if total is not None:
        train["total_iter"] = int(_number(total)) // d_iters
    for section in ("optim_g", "optim_d"):
        if section == "optim_d" and opt["model"] != "srgan":
            src.drop(("train", section), f"model {opt['model']} has no discriminator")
            continue
        got = _optimizer(src, section)
        if got:
            train[section] = got
    train["scheduler"] = _scheduler(src, train.get("total_iter"))
    if src.has("train", "ema_decay"):
        train["ema_decay"] = float(src.take("train", "ema_decay"))
    else:
        train["ema_decay"] = 0.0
        src.note("train.ema_decay absent: BasicSR keeps no EMA then; converted as ema_decay: 0")
    usm = {what: bool(src.take(key, default=False)) for key, what in USM_TARGETS.items()}
    losses = []
    for term, what in ((_pixel(src), "pixel"), (_perceptual(src), "perceptual")):
        if term:
            if usm[what]:
                term["target"] = "hr_usm"
            losses.append(term)
    train["losses"] = losses
    if opt["model"] == "srgan":
        gan = _gan(src, model_type)
        if gan:
            if usm["gan"]:
                gan["target"] = "hr_usm"
            train["gan"] = gan
        train["d_update"] = {"ratio": float(d_iters), "init_iters": int(_number(src.take("train", "net_d_init_iters",
                                                                                       default=0) or 0))}
        if d_iters != 1:
            src.note(f"train.net_d_iters {d_iters}: BasicSR steps D every iteration and G every {d_iters}th; sr_gan "
                     f"makes {d_iters} D updates per G update on the same batch (d_update.ratio), and total_iter "
                     f"counts G updates ({train.get('total_iter')})")
    else:
        for key in ("gan_opt", "net_d_iters", "net_d_init_iters"):
            src.drop(("train", key), f"model {opt['model']} has no discriminator")
    opt["train"] = train
    val = _val(src)
    if val:
        opt["val"] = val
    logger, save = {}, {}
    if src.has("logger", "print_freq"):
        logger["print_freq"] = int(_number(src.take("logger", "print_freq")))
    if src.has("logger", "use_tb_logger"):
        logger["use_tb"] = bool(src.take("logger", "use_tb_logger"))
    if src.has("logger", "save_checkpoint_freq"):
        save["freq"] = int(_number(src.take("logger", "save_checkpoint_freq")))
    if logger:
        opt["logger"] = logger
    if save:
        opt["save"] = save
    src.drop(("dist_params",), "torchrun sets up the process group")
    src.leftovers()
    return Converted(opt, src.unmapped, src.notes)
