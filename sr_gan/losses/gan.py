"""Adversarial losses used in the SR literature, plus the WGAN-GP and R1 penalties.

Each GAN type is one small registered class (``@LOSSES.register(name, kind='gan')``) that says how
raw discriminator logits are scored when judged *as real* and *as fake*, and what the plain
generator term is; the standard/relativistic bookkeeping lives once in the base class, so a new
type is one new class. ``GANLoss(type=...)`` looks the type up in LOSSES.

Conventions (all values unweighted -- the model multiplies by the YAML ``weight``):
  * Standard D loss = real_term + fake_term (a SUM, not halved, as BasicSR's SRGAN).
  * lsgan is NOT halved: D = mean((real-b)^2) + mean((fake-a)^2), G = mean((fake-c)^2) (BasicSR).
  * Relativistic-average (ESRGAN, every type): real_rel = real - mean(fake), fake_rel = fake - mean(real)
    (means over all elements, gradients flow through them as in the original ESRGAN code);
    D = 0.5 * as_real(real_rel) + 0.5 * as_fake(fake_rel);
    G = 0.5 * as_real(fake_rel, gen_label) + 0.5 * as_fake(real_rel)  -- the D form with roles swapped.
    For hinge this is RaHinge (relu(1 - fake_rel) + relu(1 + real_rel)); for wgan it reduces to
    D = mean(fake) - mean(real) and G = mean(real) - mean(fake).
"""
from __future__ import annotations

import difflib
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sr_gan.errors import OptionError
from sr_gan.registry import LOSSES


class AdversarialObjective(nn.Module):
    """Base for one GAN type: subclasses define ``as_real``/``as_fake`` (and ``gen_term`` if it
    differs from ``as_real(x, gen_label)``). Its constructor arguments are the YAML schema."""

    needs_gradient_penalty: bool = False

    def __init__(self, relativistic: bool = False, real_label: float = 1.0, fake_label: float = 0.0,
                 gen_label: float = 1.0, gp_weight: float = 10.0, r1_weight: float = 0.0):
        super().__init__()
        self.relativistic = bool(relativistic)
        self.real_label = float(real_label)
        self.fake_label = float(fake_label)
        self.gen_label = float(gen_label)
        self.gp_weight = float(gp_weight)
        self.r1_weight = float(r1_weight)

    # --- per-type scoring of raw logits -------------------------------------------------------
    def as_real(self, logits: Tensor, label: float) -> Tensor:
        raise NotImplementedError

    def as_fake(self, logits: Tensor, label: float) -> Tensor:
        raise NotImplementedError

    def gen_term(self, fake_out: Tensor) -> Tensor:
        """Standard (non-relativistic) generator term; non-saturating by default."""
        return self.as_real(fake_out, self.gen_label)

    # --- shared standard / relativistic bookkeeping ----------------------------------------------
    @property
    def needs_r1_penalty(self) -> bool:
        return self.r1_weight > 0

    def discriminator_terms(self, real_out: Tensor, fake_out: Tensor) -> tuple[Tensor, Tensor]:
        """(D-real term, D-fake term); their sum is the D loss (kept apart for logging)."""
        if self.relativistic:
            real_rel = real_out - fake_out.mean()
            fake_rel = fake_out - real_out.mean()
            return 0.5 * self.as_real(real_rel, self.real_label), 0.5 * self.as_fake(fake_rel, self.fake_label)
        return self.as_real(real_out, self.real_label), self.as_fake(fake_out, self.fake_label)

    def discriminator_loss(self, real_out: Tensor, fake_out: Tensor) -> Tensor:
        real_term, fake_term = self.discriminator_terms(real_out, fake_out)
        return real_term + fake_term

    def generator_loss(self, fake_out: Tensor, real_out: Tensor | None = None) -> Tensor:
        """``real_out`` (D on real images, detached by the caller) is required when relativistic."""
        if not self.relativistic:
            return self.gen_term(fake_out)
        if real_out is None:
            raise ValueError("relativistic GAN generator_loss needs real_out (D output on real images)")
        fake_rel = fake_out - real_out.mean()
        real_rel = real_out - fake_out.mean()
        return 0.5 * self.as_real(fake_rel, self.gen_label) + 0.5 * self.as_fake(real_rel, self.fake_label)


@LOSSES.register("vanilla", kind="gan")
class VanillaGAN(AdversarialObjective):
    """Non-saturating BCE-with-logits GAN (SRGAN, ESRGAN)."""

    def as_real(self, logits: Tensor, label: float) -> Tensor:
        return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, label))

    def as_fake(self, logits: Tensor, label: float) -> Tensor:
        return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, label))


@LOSSES.register("lsgan", kind="gan")
class LSGAN(AdversarialObjective):
    """Least squares on raw outputs, labels a=fake_label, b=real_label, c=gen_label; no 1/2 factors."""

    def as_real(self, logits: Tensor, label: float) -> Tensor:
        return (logits - label).pow(2).mean()

    def as_fake(self, logits: Tensor, label: float) -> Tensor:
        return (logits - label).pow(2).mean()


@LOSSES.register("wgan", kind="gan")
class WGAN(AdversarialObjective):
    """Wasserstein critic: D = mean(fake) - mean(real), G = -mean(fake); labels are unused."""

    def as_real(self, logits: Tensor, label: float) -> Tensor:
        return -logits.mean()

    def as_fake(self, logits: Tensor, label: float) -> Tensor:
        return logits.mean()


@LOSSES.register("wgan_gp", kind="gan")
class WGANGP(WGAN):
    """WGAN whose critic is kept 1-Lipschitz by ``gp_weight * gradient_penalty`` (added by the model)."""

    needs_gradient_penalty = True


@LOSSES.register("hinge", kind="gan")
class HingeGAN(AdversarialObjective):
    """Hinge loss (SAGAN, BigGAN): D = mean(relu(1-real)) + mean(relu(1+fake)), G = -mean(fake)."""

    def as_real(self, logits: Tensor, label: float) -> Tensor:
        return F.relu(1.0 - logits).mean()

    def as_fake(self, logits: Tensor, label: float) -> Tensor:
        return F.relu(1.0 + logits).mean()

    def gen_term(self, fake_out: Tensor) -> Tensor:
        return -fake_out.mean()


@LOSSES.register("softplus", kind="gan")
class SoftplusGAN(AdversarialObjective):
    """StyleGAN's logistic form: D = mean(softplus(-real)) + mean(softplus(fake)), G = mean(softplus(-fake))."""

    def as_real(self, logits: Tensor, label: float) -> Tensor:
        return F.softplus(-logits).mean()

    def as_fake(self, logits: Tensor, label: float) -> Tensor:
        return F.softplus(logits).mean()


class GANLoss(nn.Module):
    """Facade that builds the registered GAN type named by ``type`` and forwards to it."""

    def __init__(self, type: str = "vanilla", relativistic: bool = False, real_label: float = 1.0,
                 fake_label: float = 0.0, gen_label: float = 1.0, gp_weight: float = 10.0, r1_weight: float = 0.0):
        super().__init__()
        known = LOSSES.names("gan")
        if type not in known:
            close = difflib.get_close_matches(str(type), known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise OptionError(f"train.gan.type: unknown GAN loss type '{type}'{hint}; known: {', '.join(known)}")
        self.type = type
        self.objective: AdversarialObjective = LOSSES.get(type)(
            relativistic=relativistic, real_label=real_label, fake_label=fake_label, gen_label=gen_label,
            gp_weight=gp_weight, r1_weight=r1_weight)

    @property
    def relativistic(self) -> bool:
        return self.objective.relativistic

    @property
    def needs_gradient_penalty(self) -> bool:
        return self.objective.needs_gradient_penalty

    @property
    def needs_r1_penalty(self) -> bool:
        return self.objective.needs_r1_penalty

    @property
    def gp_weight(self) -> float:
        return self.objective.gp_weight

    @property
    def r1_weight(self) -> float:
        return self.objective.r1_weight

    def discriminator_terms(self, real_out: Tensor, fake_out: Tensor) -> tuple[Tensor, Tensor]:
        return self.objective.discriminator_terms(real_out, fake_out)

    def discriminator_loss(self, real_out: Tensor, fake_out: Tensor) -> Tensor:
        return self.objective.discriminator_loss(real_out, fake_out)

    def generator_loss(self, fake_out: Tensor, real_out: Tensor | None = None) -> Tensor:
        return self.objective.generator_loss(fake_out, real_out)


def _per_sample_sq_norm(grad: Tensor) -> Tensor:
    return grad.float().reshape(grad.shape[0], -1).pow(2).sum(dim=1)


def gradient_penalty(critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor) -> Tensor:
    """WGAN-GP (Gulrajani et al.): mean_i (||grad_x D(x_hat_i)||_2 - 1)^2 on random per-sample
    interpolates. Unweighted; create_graph=True so it trains D; fp32 (autocast off) because
    fp16 input gradients are too coarse for a unit-norm target."""
    real = real.detach().float()
    fake = fake.detach().float()
    alpha = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), device=real.device, dtype=real.dtype)
    x_hat = (alpha * real + (1.0 - alpha) * fake).requires_grad_(True)
    with torch.autocast(device_type=real.device.type, enabled=False):
        out = critic(x_hat).float()
        (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    norm = _per_sample_sq_norm(grad).add(1e-12).sqrt()  # eps keeps sqrt differentiable at 0
    return (norm - 1.0).pow(2).mean()


def r1_penalty(real_out: Tensor, real_in: Tensor) -> Tensor:
    """R1 (Mescheder et al.): mean_i ||grad_x D(x_i)||^2 on real images. The caller must have run
    ``real_in.requires_grad_()`` before D(real_in). Unweighted (the usual gamma/2 is r1_weight)."""
    (grad,) = torch.autograd.grad(real_out.sum(), real_in, create_graph=True)
    return _per_sample_sq_norm(grad).mean()
