"""`srgan`: `train.losses` (e.g. pixel + VGG19 perceptual) + a small-weight GAN term (SRGAN, ESRGAN, variants).

One update, in order (the alternating scheme of SRGAN/ESRGAN/BasicSR, G first):
  sr = G(lr);  d_real = D(real), d_fake = D(sr)    <- each forward exactly once (real: train.gan.target)
  G loss = sum_i w_i*term_i + w_gan*G_gan(d_fake, d_real.detach()) [+ feature matching]
           backpropagated into G's parameters only (D is frozen for it: its grads are untouched);
  D loss = D_gan(d_real, d_fake) [+ gradient penalty / R1], backpropagated into D's parameters only.
Both losses see the same D (before its update) and the same sr (before G's update), as in BasicSR's
two-pass step, with one D forward per batch instead of two on the fake batch. The relativistic D loss
follows the original ESRGAN (gradients through the batch means) unless `train.gan.detach_mean`
asks for BasicSR 1.4.2's detached means (see sr_gan/losses/gan.py).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import SRGanError
from ..input_stage import train_patch_size
from ..losses.gan import AdversarialObjective, gradient_penalty, r1_penalty
from ..registry import LOSSES, MODELS
from ..utils import distributed as dist
from ._parts import build_network, build_optimizer, build_scheduler, load_pretrained, maybe_compile
from .sr_model import SRModel


def feature_matching_loss(fake_feats: list, real_feats: list, layers: list | None = None) -> torch.Tensor:
    """Mean L1 between D's intermediate features on SR and (detached) HR images."""
    idx = list(layers) if layers is not None else list(range(len(real_feats)))
    if any(i >= len(real_feats) or i < -len(real_feats) for i in idx):
        from ..errors import OptionError
        raise OptionError(f"train.feature_matching.layers: {idx} out of range; the discriminator returns "
                          f"{len(real_feats)} feature maps")
    return sum(F.l1_loss(fake_feats[i], real_feats[i].detach()) for i in idx) / max(1, len(idx))


@MODELS.register("srgan")
class SRGANModel(SRModel):
    def __init__(self, opt: dict, device: torch.device):
        super().__init__(opt, device)
        t = opt["train"]
        d_cfg = opt["network_d"]
        self.conditional = d_cfg.get("conditional", False)
        crop = train_patch_size(opt) or 128       # what D sees: the pipeline's gt_size, else the crop
        self.net_d = build_network(d_cfg, device, self.channels_last, input_size=crop,
                                   num_in_ch=(6 if self.conditional else 3))
        load_pretrained(self.net_d, opt["path"]["pretrain_network_d"], opt["path"]["strict_load_d"], "network_d")
        self.net_d = dist.maybe_sync_batchnorm(self.net_d, t["sync_bn"], device)
        gan = dict(t["gan"])
        self.gan_weight, self.gan_target = gan.pop("weight"), gan.pop("target")
        try:
            self.gan: AdversarialObjective = LOSSES.build(gan).to(device)
        except SRGanError as e:      # the objective names its argument; add the section
            e.args = (f"train.gan.{e}",)
            raise
        self.wants.add(self.gan_target)
        self.fm_weight = t["feature_matching"]["weight"]
        self.fm_layers = t["feature_matching"]["layers"]
        self.d_ratio = t["d_update"]["ratio"]
        self.d_init_iters = t["d_update"]["init_iters"]
        self.optimizers["d"] = build_optimizer(self.net_d.parameters(), t["optim_d"], device)
        self.schedulers["d"] = build_scheduler(self.optimizers["d"], t["scheduler"], t["total_iter"])
        self.skipped["d"] = 0
        self.d = maybe_compile(self.net_d, t["compile"], "network_d")

    # ------------------------------------------------------------------ discriminator calls
    def _d_input(self, x: torch.Tensor) -> torch.Tensor:
        if not self.conditional:
            return x
        cond = F.interpolate(self.lr, size=x.shape[-2:], mode="bicubic", align_corners=False)
        return torch.cat([x, cond.to(x.dtype)], dim=1)

    def _discriminate(self, x: torch.Tensor, features: bool):
        with self.precision.autocast():
            out = self.d(self._d_input(x), return_features=features)
        if features:
            logits, feats = out
            return logits.float(), [f.float() for f in feats]
        return out.float(), None

    def _d_terms(self, real_in: torch.Tensor, d_real: torch.Tensor, d_fake: torch.Tensor, sr: torch.Tensor) -> dict:
        terms = {"l_d_gan": self.gan.discriminator_loss(d_real, d_fake)}
        if self.gan.gp_weight > 0:
            # no self.precision.autocast() here: the penalty's D pass stays fp32 (gradient_penalty
            # turns autocast off, and _discriminate would turn it back on)
            critic = lambda x: self.d(self._d_input(x)).float()   # noqa: E731
            terms["l_d_gp"] = self.gan.gp_weight * gradient_penalty(critic, real_in.float(), sr.detach().float())
        if self.gan.r1_weight > 0:
            terms["l_d_r1"] = 0.5 * self.gan.r1_weight * r1_penalty(d_real, real_in)
        return terms

    # ------------------------------------------------------------------ update
    def optimize_parameters(self, step: int) -> None:
        opt_g, opt_d = self.optimizers["g"], self.optimizers["d"]
        train_g = step > self.d_init_iters
        ratio = self.d_ratio
        train_d = ratio >= 1 or (ratio > 0 and step % max(1, round(1 / ratio)) == 0)
        d_steps = max(1, int(round(ratio))) if train_d else 0
        need_d_for_g = train_g and (self.gan_weight > 0 or self.fm_weight > 0)
        want_features = train_g and self.fm_weight > 0
        scaler = self.precision.scaler
        opt_g.zero_grad(set_to_none=True)
        opt_d.zero_grad(set_to_none=True)

        with torch.set_grad_enabled(train_g):
            with self.precision.autocast():
                sr = self.g(self.lr)
        sr32 = sr.float()
        real = self.hr if self.gan_target == "hr" else self.hr_usm
        real_in = real.detach().requires_grad_(self.gan.r1_weight > 0 and train_d)
        logs: dict[str, torch.Tensor] = {}
        d_real = d_fake = None
        if need_d_for_g or train_d:
            d_real, f_real = self._discriminate(real_in, want_features)
            d_fake, f_fake = self._discriminate(sr32 if train_g else sr32.detach(), want_features)
            logs["out_d_real"] = d_real.detach().mean()
            logs["out_d_fake"] = d_fake.detach().mean()

        g_terms: dict[str, torch.Tensor] = {}
        if train_g:
            g_terms = self.losses(sr32, self.loss_inputs(), self.precision.autocast)
            g_loss = self.losses.total(g_terms)
            if self.gan_weight > 0:
                g_terms["l_g_gan"] = self.gan_weight * self.gan.generator_loss(d_fake, d_real.detach())
                g_loss = g_loss + g_terms["l_g_gan"]
            if self.fm_weight > 0:
                g_terms["l_g_fm"] = self.fm_weight * feature_matching_loss(f_fake, f_real, self.fm_layers)
                g_loss = g_loss + g_terms["l_g_fm"]
            g_params = [p for p in self.net_g.parameters() if p.requires_grad]
            scaler.scale(g_loss).backward(inputs=g_params, retain_graph=train_d)

        d_terms: dict[str, torch.Tensor] = {}
        if train_d:
            d_terms = self._d_terms(real_in, d_real, d_fake, sr32)
            d_params = [p for p in self.net_d.parameters() if p.requires_grad]
            scaler.scale(sum(d_terms.values())).backward(inputs=d_params)

        if train_g:
            dist.average_gradients(self.net_g)
        if train_d:
            dist.average_gradients(self.net_d)
        nets = ([self.net_g] if train_g else []) + ([self.net_d] if train_d else [])
        logs.update({k: v.detach() for k, v in {**g_terms, **d_terms}.items()})
        self.log_dict = logs                 # this step's values, also when it is skipped
        self._check_finite({**g_terms, **d_terms}, nets)
        if train_g:
            self._step("g", self.net_g)
        if train_d:
            self._step("d", self.net_d)
        scaler.update()

        for _ in range(d_steps - 1):          # extra D updates on the same batch (ratio > 1)
            opt_d.zero_grad(set_to_none=True)
            d_real, _ = self._discriminate(real_in, False)
            d_fake, _ = self._discriminate(sr32.detach(), False)
            d_terms = self._d_terms(real_in, d_real, d_fake, sr32)
            scaler.scale(sum(d_terms.values())).backward(inputs=[p for p in self.net_d.parameters()])
            dist.average_gradients(self.net_d)
            self._check_finite(d_terms, [self.net_d])
            self._step("d", self.net_d)
            scaler.update()

        if train_g and self.ema is not None:
            self.ema.update(step)
        logs.update({k: v.detach() for k, v in {**g_terms, **d_terms}.items()})
        self.log_dict = logs

    # ------------------------------------------------------------------ state
    def networks(self) -> dict[str, torch.nn.Module]:
        nets = super().networks()
        nets["d"] = self.net_d
        return nets
