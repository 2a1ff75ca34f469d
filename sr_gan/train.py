"""The training loop, readable in one sitting.

  run(opt): data (scan, reusing the scan cache) -> [checkpoint to resume] -> model (pretrained weights,
      loss networks) -> metrics -> experiment folder (nothing on disk changes before this) -> loop:
      batch -> model.feed_data -> model.optimize_parameters -> lr schedule
      every logger.print_freq: losses (mean over ranks) and skipped optimizer steps per network to
                               log/TensorBoard/progress bar
      every val.freq:  validation table (model vs bicubic)
      every save.freq: atomic checkpoint (nets, EMA, optimizers, schedulers, scaler, iteration, and
                       per_rank: every process's RNG streams plus what the model keeps per rank)
  SIGINT/SIGTERM finish the current step (every rank the same one), save a checkpoint and exit with a resume hint.
"""
from __future__ import annotations

import os
import random
import signal
import time

import numpy as np
import torch
from torch.utils.data import DataLoader

from . import options as options_mod
from .errors import CheckpointError, DataError, SRGanError
from .data.prefetch import CUDAPrefetcher
from .models.sr_model import NonFiniteStep
from .registry import DATASETS, MODELS
from .scoring import NA, format_score
from .utils import checkpoint as ckpt
from .utils import distributed as dist
from .utils.logger import EarlyRecords, TensorBoard, format_losses, get_logger, markdown_table
from .validation import build_metrics, evaluate


class Interrupted(SystemExit):
    pass


# ----------------------------------------------------------------------------- set-up helpers

def select_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise SRGanError("device: cuda requested but torch.cuda.is_available() is False")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict:
    np_state = np.random.get_state()
    return {"python": list(random.getstate()[1]), "python_pos": random.getstate()[2],
            "numpy": torch.from_numpy(np_state[1].astype(np.int64)), "numpy_pos": int(np_state[2]),
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def set_rng_state(s: dict) -> None:
    random.setstate((3, tuple(s["python"]), s["python_pos"]))
    np.random.set_state(("MT19937", s["numpy"].numpy().astype(np.uint32), s["numpy_pos"], 0, 0.0))
    torch.set_rng_state(s["torch"])
    if s["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(s["cuda"])


def experiment_path(opt: dict) -> str:
    return os.path.join(opt["path"]["experiments_root"], opt["name"])


def derived_seed(seed: int, rank: int, iteration: int) -> int:
    """A fresh, reproducible seed for a rank that has no saved state to restore (resumed with more processes)."""
    return int(np.random.SeedSequence([seed % 2**32, rank, iteration]).generate_state(1)[0])


def rank_state(model) -> dict:
    """This process's entry of the checkpoint's ``per_rank`` list: its RNG streams plus whatever the model
    keeps per rank (``model.rank_state()`` -> dict of weights-only values, e.g. a pool of training pairs)."""
    part = {"rng": rng_state()}
    own = getattr(model, "rank_state", None)
    if own is not None:
        part.update(own())
    return part


def restore_rank_state(model, state: dict, seed: int, iteration: int) -> str | None:
    """Each rank takes back its own ``per_rank`` entry (RNG, then ``model.load_rank_state(rest)``).

    A checkpoint from N processes resumed with M: ranks < N restore their own entry, ranks >= N seed
    afresh from (seed, rank, iteration) and keep the model's freshly built per-rank state. Returns the
    one line to log when M != N, else None. Checkpoints written before ``per_rank`` held rank 0's RNG only.
    """
    parts = state.get("per_rank") or [{"rng": s} for s in state.get("rng", [])]
    n, m, r = len(parts), dist.world_size(), dist.rank()
    if r < n:
        set_rng_state(parts[r]["rng"])
        load = getattr(model, "load_rank_state", None)
        if load is not None:
            load({k: v for k, v in parts[r].items() if k != "rng"})
    else:
        seed_everything(derived_seed(seed, r, iteration))
    if n == m:
        return None
    span = lambda a, b: f"rank {a}" if a == b else f"ranks {a}-{b}"  # noqa: E731
    keep, what = min(n, m), []
    if keep:
        what.append(f"{span(0, keep - 1)} {'restores its' if keep == 1 else 'restore their'} own RNG state")
    if m > n:
        what.append(f"{span(n, m - 1)} {'starts from a fresh seed' if m - n == 1 else 'start from fresh seeds'} "
                    f"derived from (seed, rank, iteration {iteration})")
    else:
        what.append(f"the saved state{'s' if n - m > 1 else ''} of {span(m, n - 1)} {'is' if n - m == 1 else 'are'} "
                    f"dropped")
    return (f"checkpoint written by {n} process(es), resumed with {m}: {', '.join(what)}; the data is also sharded "
            f"differently, so this run is not bit-identical to an uninterrupted {n}-process run")


def experiment_dir(opt: dict, keep_existing: bool) -> str:
    """experiments/<name>; an old folder is archived (renamed), never overwritten."""
    root = experiment_path(opt)
    if dist.is_main() and os.path.isdir(root) and not keep_existing:
        os.replace(root, f"{root}_archived_{time.strftime('%Y%m%d_%H%M%S')}")
    if dist.is_main():
        for sub in ("checkpoints", "visualization", "tb"):
            os.makedirs(os.path.join(root, sub), exist_ok=True)
    dist.barrier()
    return root


def _worker_init(worker_id: int) -> None:     # augmentation never uses global RNGs; this is belt and braces
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


class _ErrorsAsData(torch.utils.data.Dataset):
    """Hands a dataset's user-facing error back as a value: DataLoader re-raises exceptions from worker
    processes with the worker's traceback in the message, which would break the one-line error rule."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key):
        try:
            return self.dataset[key]
        except SRGanError as e:
            return DataError(str(e))      # single-argument class: survives pickling across processes


def _collate(samples: list):
    """One batch; a sample's error, or images of different sizes (no crop), comes back as a DataError."""
    from torch.utils.data import default_collate
    bad = next((s for s in samples if isinstance(s, SRGanError)), None)
    if bad is not None:
        return bad
    for k, v in samples[0].items():
        if isinstance(v, torch.Tensor) and any(s[k].shape != v.shape for s in samples):
            sizes = ", ".join(f"{s.get('key', i)} {s[k].shape[-1]}x{s[k].shape[-2]}" for i, s in enumerate(samples))
            return DataError(f"datasets.train.crop: not set, and one batch holds {k.upper()} images of different "
                             f"sizes ({sizes}); set a crop or use images of one size")
    return default_collate(samples)


def restore_model(model, state: dict, path: str) -> None:
    """A checkpoint of another model or architecture fails as one line naming the file and what differs."""
    try:
        model.load_state_dict(state)
    except CheckpointError as e:
        raise CheckpointError(f"{path}: {e}") from None
    except (KeyError, ValueError, RuntimeError, TypeError) as e:
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise CheckpointError(f"{path}: does not fit this {type(model).__name__} ({reason})") from None


def _dataset_cfg(opt: dict, cfg: dict, scan_cache: bool = True) -> dict:
    """The dataset's constructor arguments: loader keys removed, the scan cache defaulting to
    experiments/<name>/scan_cache (read before that folder is created or archived, written after);
    `scan_cache=False`: none unless the set names one (readers outside a run, e.g. the ablation report)."""
    cfg = {k: v for k, v in cfg.items() if k not in ("batch", "workers", "degrade", "degrade_seed")}
    if scan_cache and cfg.get("scan_cache") is None and "scan_cache" in DATASETS.signature(cfg["type"]).parameters:
        cfg["scan_cache"] = os.path.join(experiment_path(opt), "scan_cache")
    return cfg


def build_train_set(opt: dict):
    """With a degradation pipeline the loader delivers HR crops only (the LR is made on the device)."""
    return DATASETS.build(_dataset_cfg(opt, opt["datasets"]["train"]), scale=opt["scale"], phase="train",
                          seed=opt["seed"], hr_only=opt.get("degradation") is not None)


def build_train_loader(opt: dict, start_iter: int, dataset=None):
    from .data.sampler import ResumableSampler
    batch, workers = opt["datasets"]["train"]["batch"], opt["datasets"]["train"]["workers"]
    dataset = build_train_set(opt) if dataset is None else dataset
    sampler = ResumableSampler(len(dataset), seed=opt["seed"], rank=dist.rank(), world_size=dist.world_size(),
                               start=start_iter * batch)
    loader = DataLoader(_ErrorsAsData(dataset), batch_size=batch, sampler=sampler, num_workers=workers,
                        drop_last=True, collate_fn=_collate,
                        pin_memory=torch.cuda.is_available(), persistent_workers=workers > 0,
                        worker_init_fn=_worker_init, prefetch_factor=4 if workers > 0 else None)
    return loader, dataset


def build_val_sets(opt: dict, only: str | None = None, scan_cache: bool = True) -> dict:
    """{name: dataset} of the validation sets (or of set `only`), with the LR training validates on:
    the set's LR files, MATLAB bicubic, or the degradation pipeline at a fixed seed (`degrade: true`)."""
    out = {}
    for name, cfg in opt["datasets"].items():
        if name == "train" or (only is not None and name != only):
            continue
        degrade, seed = cfg.get("degrade"), cfg.get("degrade_seed", 0)
        cfg = {**_dataset_cfg(opt, cfg, scan_cache), "crop": None}
        out[name] = DATASETS.build(cfg, scale=opt["scale"], phase=name, seed=opt["seed"], hr_only=bool(degrade))
        if degrade:       # LR from the training pipeline, fixed by (degrade_seed, image index)
            from .degradations.fixed import FixedDegradedSet
            from .input_stage import build_pipeline
            out[name] = FixedDegradedSet(out[name], build_pipeline(opt, gt_size=None), seed)
    return out


# ----------------------------------------------------------------------------- the run

def run(opt: dict, resume: str | None = None, auto_resume: bool = False) -> dict:
    """Train as the options say; returns the last validation results {set: {'model':..,'bicubic':..}}."""
    device = select_device(opt["device"])
    cuda_dev = dist.init_from_env(device.type)
    device = cuda_dev or device
    if opt["num_threads"]:
        torch.set_num_threads(opt["num_threads"])
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    auto_resume = auto_resume or opt["train"]["auto_resume"]
    options_mod.check_training(opt, opt.get("_source", ""))
    early = EarlyRecords()         # what is logged before train.log exists goes into it afterwards
    get_logger(None, enabled=dist.is_main()).addHandler(early)
    # Everything that can fail on the user's input happens before the experiment folder is created,
    # archived or written to: a failed start leaves experiments/ exactly as it was.
    # 1. data: the scan reads the previous run's scan cache before its folder is archived
    train_set = build_train_set(opt)
    val_sets = build_val_sets(opt)
    # 2. the checkpoint to resume (read from the folder that is kept), then the model: pretrained
    #    weights, loss networks (VGG19), the GAN objective; then the validation metrics
    root = experiment_path(opt)
    ckpt_dir = os.path.join(root, "checkpoints")
    state, path = None, None
    if resume:
        path = ckpt.resolve_checkpoint(resume, experiment_dir=root, what="--resume")
        state = ckpt.load_checkpoint(path)
    elif auto_resume:
        found = ckpt.newest_loadable(ckpt_dir)
        if found:
            path, state = found
    seed_everything(opt["seed"] + dist.rank())
    model = MODELS.get(opt["model"])(opt, device)
    start_iter = 0
    if state is not None:
        restore_model(model, state, path)
        start_iter = int(state["iter"])
    else:
        for net in model.networks().values():
            dist.broadcast_module(net)
    vcfg = opt["val"]
    metrics = build_metrics(vcfg["metrics"], vcfg["crop_border"], vcfg["y_channel"], str(device))
    # 3. only now: the experiment folder (an old one is archived unless resuming)
    exp = experiment_dir(opt, keep_existing=bool(resume or auto_resume))
    log = get_logger(os.path.join(exp, "train.log"), enabled=dist.is_main(), earlier=early.records)
    for ds in (train_set, *val_sets.values()):
        if dist.is_main() and hasattr(ds, "save_scan_cache"):
            ds.save_scan_cache()
        if hasattr(ds, "scan_summary"):
            log.info(ds.scan_summary)
    if dist.is_main():
        options_mod.save(opt, os.path.join(exp, "options.yml"))
    if state is not None:
        log.info(f"resumed from {path} at iteration {start_iter}")

    total = opt["train"]["total_iter"]
    loader, train_set = build_train_loader(opt, start_iter, train_set)
    baselines = {name: {} for name in val_sets}
    tb = TensorBoard(os.path.join(exp, "tb"), opt["logger"]["use_tb"] and dist.is_main())
    stage = [f"degradation {opt['degradation']['type']}"] if opt.get("degradation") else []
    stage += ["batch augmentation"] if opt["train"].get("batch_augment") is not None else []
    log.info(f"{opt['name']}: model {opt['model']}, {len(train_set)} training images, "
             f"{dist.world_size()} process(es) x batch {opt['datasets']['train']['batch']}, device {device}, "
             f"iterations {start_iter} -> {total}" + "".join(f", {s} on the device" for s in stage))

    stop = {"signal": None}

    def on_signal(signum, frame):
        stop["signal"] = signum
    old_handlers = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}

    def save(it: int) -> str:
        path = ""
        per_rank = dist.gather_to_main(rank_state(model))     # every rank takes part; rank 0 writes
        if dist.is_main():
            path = ckpt.save_checkpoint({"iter": it, **model.state_dict(), "per_rank": per_rank,
                                         "opt": {k: v for k, v in opt.items() if not k.startswith("_")}},
                                        ckpt_dir, it, keep=opt["save"]["keep"])
        dist.barrier()
        return path

    def validate(it: int) -> dict:
        results = {}
        if dist.is_main() and val_sets:
            rows = []
            for name, ds in val_sets.items():
                save_dir = os.path.join(exp, "visualization", name) if vcfg["save_images"] else None
                r = evaluate(model, ds, metrics, opt["scale"], save_dir, f"_{it:08d}", baselines[name])
                results[name] = r
                for m in metrics:
                    rows.append([name, m, format_score(r["model"].get(m)), format_score(r["bicubic"].get(m, NA))])
                tb.scalars({k: v for k, v in r["model"].items() if isinstance(v, float)}, it, f"val/{name}/")
            log.info(f"validation at iteration {it}:\n" + markdown_table(["set", "metric", "model", "bicubic"], rows))
        dist.barrier()
        return results

    from tqdm import tqdm
    import sys
    tty = sys.stderr.isatty()      # no tty (CI, nohup, a log file): log lines carry the speed and ETA instead
    bar = tqdm(total=total, initial=start_iter, disable=not (dist.is_main() and tty), dynamic_ncols=True, unit="it")
    t_start, it_start = time.time(), start_iter
    nonfinite, it, results = 0, start_iter, {}
    print_freq, val_freq, save_freq = opt["logger"]["print_freq"], vcfg["freq"], opt["save"]["freq"]
    data = iter(CUDAPrefetcher(loader, device))   # pass-through on CPU
    if state is not None:   # restored last: building the loader iterator above draws from torch's RNG
        note = restore_rank_state(model, state, opt["seed"], start_iter)
        if note:
            log.warning(note)
    try:
        while it < total:
            batch = next(data)
            if isinstance(batch, SRGanError):
                raise batch
            model.feed_data(batch, it + 1)     # the step's degradation/augmentation draw from (seed, it + 1, rank)
            it += 1
            try:
                model.optimize_parameters(it)
                nonfinite = 0
            except NonFiniteStep as e:
                nonfinite += 1
                log.warning(f"iteration {it}: non-finite {e}; step skipped ({nonfinite}/{opt['train']['max_nonfinite']})")
                if nonfinite >= opt["train"]["max_nonfinite"]:
                    last = ckpt.list_checkpoints(ckpt_dir)
                    raise SRGanError(f"train.max_nonfinite: {nonfinite} non-finite steps in a row (last: {e}) at "
                                     f"iteration {it}; last good checkpoint: {last[0] if last else 'none'}")
            model.update_learning_rate()
            bar.update(1)
            if it % print_freq == 0 or it == total:
                losses = model.current_losses()           # this step's values, the mean over ranks
                skipped = model.skipped_steps()           # optimizer steps not taken since the last line
                losses.update(skipped)
                losses["lr"] = model.optimizers["g"].param_groups[0]["lr"]
                bar.set_postfix_str(format_losses({k: v for k, v in losses.items()
                                                   if k.startswith("l_") or (k in skipped and v)}))
                tb.scalars(losses, it, "train/")
                log.debug(f"iter {it}: {format_losses(losses)}")
                if not tty:
                    rate = (it - it_start) / max(1e-9, time.time() - t_start)
                    eta = (total - it) / max(rate, 1e-9)
                    log.info(f"iter {it}/{total} ({rate:.2f} it/s, ETA {eta / 60:.1f} min): {format_losses(losses)}")
            if (val_freq and it % val_freq == 0) and it != total:
                results = validate(it)
            if it % save_freq == 0 and it != total:
                save(it)
            signum = dist.max_over_ranks(int(stop["signal"] or 0))   # a signal to any rank stops all at this step
            if signum:
                path = save(it)
                name = "SIGINT" if signum == signal.SIGINT else "SIGTERM"
                log.info(f"{name} received: checkpoint saved at iteration {it} ({path}). Resume with: "
                         f"python train_sr.py -opt {opt.get('_source', 'OPTIONS.yml')} --auto-resume")
                raise Interrupted(130 if signum == signal.SIGINT else 143)
        save(it)
        results = validate(it)
        log.info(f"finished {it} iterations; experiment folder: {exp}")
    finally:
        bar.close()
        tb.close()
        for s, h in old_handlers.items():
            signal.signal(s, h)
    return results
