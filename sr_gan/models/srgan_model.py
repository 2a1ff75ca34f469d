"""`srgan`: pixel + VGG19 perceptual + small-weight GAN loss (SRGAN, ESRGAN and their variants).

One update, in order (the alternating scheme of SRGAN/ESRGAN/BasicSR, G first):
  sr = G(lr);  d_real = D(hr), d_fake = D(sr)      <- each forward exactly once
  G loss = w_pix*pixel + w_per*perceptual + w_gan*G_gan(d_fake, d_real.detach()) [+ feature matching]
           backpropagated into G's parameters only (D is frozen for it: its grads are untouched);
  D loss = D_gan(d_real, d_fake) [+ gradient penalty / R1], backpropagated into D's parameters only.
Both losses see the same D (before its update) and the same sr (before G's update): exactly the
two-pass BasicSR step, with one D forward per batch instead of two on the fake batch.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..losses.gan import GANLoss, gradient_penalty, r1_penalty
from ..registry import MODELS
from ..utils import distributed as dist
from ._parts import build_network, build_optimizer, build_scheduler, load_pretrained, maybe_compile, uncompiled
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
        crop = (opt["datasets"].get("train") or {}).get("crop") or 128
        self.net_d = build_network(d_cfg, device, self.channels_last, input_size=crop,
                                   num_in_ch=(6 if self.conditional else 3))
        load_pretrained(self.net_d, opt["path"]["pretrain_network_d"], opt["path"]["strict_load_d"], "network_d")
        self.net_d = dist.maybe_sync_batchnorm(self.net_d, t["sync_bn"], device)
        self.perceptual_loss, self.perceptual_weight = self._build_weighted(t["perceptual"])
        gan = dict(t["gan"])
        self.gan_weight = gan.pop("weight")
        self.gan_loss = GANLoss(**gan).to(device)
        self.r1_weight = gan["r1_weight"]
        self.fm_weight = t["feature_matching"]["weight"]
        self.fm_layers = t["feature_matching"]["layers"]
        self.d_ratio = t["d_update"]["ratio"]
        self.d_init_iters = t["d_update"]["init_iters"]
        self.optimizers["d"] = build_optimizer(self.net_d.parameters(), t["optim_d"], device)
        self.schedulers["d"] = build_scheduler(self.optimizers["d"], t["scheduler"], t["total_iter"])
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

    def _d_terms(self, hr_in: torch.Tensor, d_real: torch.Tensor, d_fake: torch.Tensor, sr: torch.Tensor) -> dict:
        terms = {"l_d_gan": self.gan_loss.discriminator_loss(d_real, d_fake)}
        if self.gan_loss.needs_gradient_penalty:
            # no self.precision.autocast() here: the penalty's D pass stays fp32 (gradient_penalty
            # turns autocast off, and _discriminate would turn it back on)
            critic = lambda x: self.d(self._d_input(x)).float()   # noqa: E731
            terms["l_d_gp"] = self.gan_loss.gp_weight * gradient_penalty(critic, self.hr.float(), sr.detach().float())
        if self.r1_weight > 0:
            terms["l_d_r1"] = 0.5 * self.r1_weight * r1_penalty(d_real, hr_in)
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
        hr_in = self.hr.detach().requires_grad_(self.r1_weight > 0 and train_d)
        logs: dict[str, torch.Tensor] = {}
        d_real = d_fake = None
        if need_d_for_g or train_d:
            d_real, f_real = self._discriminate(hr_in, want_features)
            d_fake, f_fake = self._discriminate(sr32 if train_g else sr32.detach(), want_features)
            logs["out_d_real"] = d_real.detach().mean()
            logs["out_d_fake"] = d_fake.detach().mean()

        g_terms: dict[str, torch.Tensor] = {}
        if train_g:
            g_terms = self.generator_terms(sr32)
            if self.perceptual_loss is not None:
                percep, style = self.perceptual_loss(sr32, self.hr)
                g_terms["l_g_percep"] = self.perceptual_weight * percep
                if style is not None:
                    g_terms["l_g_style"] = style
            if self.gan_weight > 0:
                g_terms["l_g_gan"] = self.gan_weight * self.gan_loss.generator_loss(d_fake, d_real.detach())
            if self.fm_weight > 0:
                g_terms["l_g_fm"] = self.fm_weight * feature_matching_loss(f_fake, f_real, self.fm_layers)
            g_loss = sum(g_terms.values())
            g_params = [p for p in self.net_g.parameters() if p.requires_grad]
            scaler.scale(g_loss).backward(inputs=g_params, retain_graph=train_d)

        d_terms: dict[str, torch.Tensor] = {}
        if train_d:
            d_terms = self._d_terms(hr_in, d_real, d_fake, sr32)
            d_params = [p for p in self.net_d.parameters() if p.requires_grad]
            scaler.scale(sum(d_terms.values())).backward(inputs=d_params)

        if train_g:
            dist.average_gradients(self.net_g)
        if train_d:
            dist.average_gradients(self.net_d)
        nets = ([self.net_g] if train_g else []) + ([self.net_d] if train_d else [])
        self._check_finite({**g_terms, **d_terms}, nets)
        if train_g:
            self._step("g", None, self.net_g)
        if train_d:
            self._step("d", None, self.net_d)
        scaler.update()

        for _ in range(d_steps - 1):          # extra D updates on the same batch (ratio > 1)
            opt_d.zero_grad(set_to_none=True)
            d_real, _ = self._discriminate(hr_in, False)
            d_fake, _ = self._discriminate(sr32.detach(), False)
            d_terms = self._d_terms(hr_in, d_real, d_fake, sr32)
            scaler.scale(sum(d_terms.values())).backward(inputs=[p for p in self.net_d.parameters()])
            dist.average_gradients(self.net_d)
            self._check_finite(d_terms, [self.net_d])
            self._step("d", None, self.net_d)
            scaler.update()

        if train_g and self.ema is not None:
            self.ema.update(step)
        logs.update({k: v.detach() for k, v in {**g_terms, **d_terms}.items()})
        self.log_dict = logs
        self.output = sr.detach()

    # ------------------------------------------------------------------ state
    def networks(self) -> dict[str, torch.nn.Module]:
        nets = super().networks()
        nets["d"] = self.net_d
        return nets

    def discriminator(self) -> torch.nn.Module:
        return uncompiled(self.net_d)
