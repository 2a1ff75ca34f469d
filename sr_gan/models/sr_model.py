"""`sr`: the PSNR-oriented model (KAIR-style): a generator trained with `train.losses`, plus its EMA.

The model owns its networks, optimizers, schedulers and update rule; it knows nothing about files,
loaders or logging (the training loop does). One host-device sync per step: the finiteness check.
"""
from __future__ import annotations

import warnings

import torch

from ..errors import CheckpointError
from ..input_stage import InputStage
from ..losses.terms import LossTerms
from ..registry import MODELS
from ..utils import distributed as dist
from ._parts import (EMA, Precision, build_network, build_optimizer, build_scheduler, load_pretrained,
                     maybe_compile, uncompiled)


class NonFiniteStep(Exception):
    """Raised (and caught by the loop) when a loss or gradient is NaN/Inf; the step was skipped."""


@MODELS.register("sr")
class SRModel:
    def __init__(self, opt: dict, device: torch.device):
        self.opt = opt
        self.device = device
        t = opt["train"]
        self.channels_last = t["channels_last"]
        self.precision = Precision(t["amp"], device)
        self.net_g = build_network(opt["network_g"], device, self.channels_last, scale=opt["scale"])
        load_pretrained(self.net_g, opt["path"]["pretrain_network_g"], opt["path"]["strict_load_g"], "network_g")
        self.ema = EMA(self.net_g, t["ema_decay"]) if t["ema_decay"] > 0 else None
        self.losses = LossTerms(t["losses"], device)
        if self.channels_last:
            # a loss network (VGG) gets channels_last images: with NCHW weights every conv would copy
            # its weight into channels_last first (forward and backward); same values, no copies
            for m in self.losses.modules():
                m.to(memory_format=torch.channels_last)
        self.wants = self.losses.targets() | self.losses.inputs()   # hr_usm, lr, sr_ema: made only when asked for
        self.optimizers = {"g": build_optimizer(self.net_g.parameters(), t["optim_g"], device)}
        self.schedulers = {"g": build_scheduler(self.optimizers["g"], t["scheduler"], t["total_iter"])}
        self.skipped = {"g": 0}        # optimizer steps not taken (scaler back-off, non-finite), since last asked
        self.g = maybe_compile(self.net_g, t["compile"], "network_g")
        self.input_stage = InputStage(opt)   # degradation + pool, batch augmentation (both optional)
        self._fed = 0
        self.log_dict: dict[str, torch.Tensor] = {}
        self.lr = self.hr = self.hr_usm = None

    # ------------------------------------------------------------------ data
    def feed_data(self, batch: dict, iteration: int | None = None) -> None:
        """Take a loader batch for step `iteration` (1-based; default: the step after the last one fed):
        to the device, then the input stage (degradation + pool, hr_usm, batch augmentation; see
        sr_gan/input_stage.py), whose draws derive from (seed, iteration, rank)."""
        iteration = self._fed + 1 if iteration is None else int(iteration)
        self._fed = iteration
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        on_device = {k: batch[k].to(self.device, non_blocking=True) for k in ("lr", "hr", "hr_usm")
                     if torch.is_tensor(batch.get(k))}
        out = self.input_stage(on_device, iteration, want_usm="hr_usm" in self.wants)
        self.lr = out["lr"].contiguous(memory_format=fmt)
        if out["hr"] is not None:
            self.hr = out["hr"].contiguous(memory_format=fmt)
        self.hr_usm = out["hr_usm"].contiguous(memory_format=fmt) if out["hr_usm"] is not None else None
        # BatchNorm statistics change in the forward pass itself: keep their values from before this
        # step so a non-finite step can be undone completely (restored in _check_finite)
        self._buffers_before_step = [(b, b.detach().clone()) for k, n in self.networks().items()
                                     if k != "g_ema" for b in n.buffers()]

    # ------------------------------------------------------------------ update
    def skipped_steps(self) -> dict[str, int]:
        """{'skipped_g': n, ('skipped_d': n)}: optimizer steps not taken since the previous call, per network
        (the grad scaler backing off under amp fp16, or a non-finite step)."""
        out = {f"skipped_{k}": v for k, v in self.skipped.items()}
        self.skipped = dict.fromkeys(self.skipped, 0)
        return out

    def _check_finite(self, terms: dict, nets: list) -> None:
        """One sync: total loss and total grad norm finite? Else zero grads and name the culprits."""
        total = sum(v.detach().float() for v in terms.values())
        # with fp16 the grad scaler skips overflowing steps itself: only the losses are checked here
        norms = [] if self.precision.scaler.is_enabled() else [
            torch.linalg.vector_norm(torch.stack(torch._foreach_norm(
                [p.grad for p in n.parameters() if p.grad is not None]))) for n in nets
            if any(p.grad is not None for p in n.parameters())]
        probe = total + (sum(norms) if norms else 0.0)
        if bool(torch.isfinite(probe)):
            return
        bad = [k for k, v in terms.items() if not torch.isfinite(v.detach()).all()]
        if not bad:
            bad = ["gradient of " + ", ".join(type(uncompiled(n)).__name__ for n in nets)]
        for k, n in self.networks().items():
            if any(n is x for x in nets):
                self.skipped[k] += 1
        for n in nets:
            n.zero_grad(set_to_none=True)
        with torch.no_grad():
            for buf, before in getattr(self, "_buffers_before_step", []):
                buf.copy_(before)
        raise NonFiniteStep(", ".join(bad))

    def _step(self, name: str, net: torch.nn.Module) -> None:
        clip = self.opt["train"]["grad_clip"]
        scaler = self.precision.scaler
        if clip > 0:
            scaler.unscale_(self.optimizers[name])
            torch.nn.utils.clip_grad_norm_(net.parameters(), clip, foreach=True)
        opt = self.optimizers[name]
        overflow = False
        if scaler.is_enabled():    # fp16: the scaler skips the step on inf/NaN gradients; find out here, since a
            scaler.unscale_(opt)   # fused optimizer's step (and its hook) runs and skips inside the kernel
            grads = [p.grad for group in opt.param_groups for p in group["params"] if p.grad is not None]
            overflow = bool(grads) and not bool(torch.stack([torch.isfinite(g).all() for g in grads]).all())
        scaler.step(opt)
        if overflow:               # not taken (GradScaler.step skips silently; skipped_steps reports it)
            self.skipped[name] += 1

    def loss_inputs(self) -> dict[str, torch.Tensor]:
        """What the loss terms compare with or ask for; the EMA generator runs only when a term wants sr_ema."""
        available = {"hr": self.hr, "hr_usm": self.hr_usm, "lr": self.lr}
        if "sr_ema" in self.wants:
            with torch.no_grad(), self.precision.autocast():
                available["sr_ema"] = self.ema.net(self.lr).float()
        return available

    def optimize_parameters(self, step: int) -> None:
        opt_g = self.optimizers["g"]
        opt_g.zero_grad(set_to_none=True)
        with self.precision.autocast():
            sr = self.g(self.lr)
        terms = self.losses(sr.float(), self.loss_inputs(), self.precision.autocast)
        self.precision.scaler.scale(self.losses.total(terms)).backward()
        dist.average_gradients(self.net_g)
        self.log_dict = {k: v.detach() for k, v in terms.items()}   # this step's values, also when skipped
        self._check_finite(terms, [self.net_g])
        self._step("g", self.net_g)
        self.precision.scaler.update()
        if self.ema is not None:
            self.ema.update(step)

    def update_learning_rate(self) -> None:
        """The schedule follows the iteration, also after a skipped step (counted in skipped_steps, so
        torch's warning about a scheduler step before the first optimizer step says nothing new)."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step\(\)` before")
            for s in self.schedulers.values():
                s.step()

    # ------------------------------------------------------------------ inference
    @property
    def inference_net(self) -> torch.nn.Module:
        """The generator validation scores (the EMA copy when there is one), as sr_gan.validation runs it."""
        return self.ema.net if self.ema is not None else self.net_g

    def current_losses(self) -> dict[str, float]:
        """This step's logged values; under DDP each is the mean over all processes (one all-reduce of
        the stacked values, every rank calls this at the same iteration)."""
        keys = list(self.log_dict)
        if not keys:
            return {}
        values = dist.all_reduce_mean(torch.stack([self.log_dict[k].detach().float().reshape(()) for k in keys]))
        return dict(zip(keys, values.tolist()))

    # ------------------------------------------------------------------ state
    def networks(self) -> dict[str, torch.nn.Module]:
        nets = {"g": self.net_g}
        if self.ema is not None:
            nets["g_ema"] = self.ema.net
        return nets

    def rank_state(self) -> dict:
        """What this process keeps apart from the shared weights (the degradation pool), for `per_rank`."""
        return self.input_stage.state_dict()

    def load_rank_state(self, state: dict) -> None:
        self.input_stage.load_state_dict(state)

    def state_dict(self) -> dict:
        return {
            "nets": {k: uncompiled(n).state_dict() for k, n in self.networks().items()},
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "schedulers": {k: s.state_dict() for k, s in self.schedulers.items()},
            "scaler": self.precision.scaler.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        from ..utils.state_dict import load_into
        for k, n in self.networks().items():
            if k not in state["nets"]:
                raise KeyError(f"checkpoint has no network '{k}' (has {', '.join(state['nets'])})")
            load_into(uncompiled(n), state["nets"][k], strict=True, what=f"nets.{k}")
        for k, o in self.optimizers.items():
            o.load_state_dict(state["optimizers"][k])
        for k, s in self.schedulers.items():
            s.load_state_dict(state["schedulers"][k])
        if state.get("scaler"):
            self.precision.scaler.load_state_dict(state["scaler"])
