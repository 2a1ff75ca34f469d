"""Adversarial objectives used in the SR literature, plus the WGAN-GP and R1 penalties.

Each GAN type is one small registered class (``@LOSSES.register(name, kind='gan')``) that says how
raw discriminator logits are scored when judged *as real* and *as fake*, and what the plain
generator term is; the standard/relativistic bookkeeping lives once in the base class, so a new
type is one new class. Its constructor arguments are the keys of ``train.gan`` (validated and
documented from the signature), so a type takes only the parameters it uses: labels exist on
``vanilla``/``lsgan``, ``gp_weight`` only on ``wgan_gp``. The model uses the objective directly.

Conventions (all values unweighted -- the model multiplies the generator term by ``train.gan.weight``):
  * Standard D loss = real_term + fake_term (a SUM, not halved, as BasicSR's SRGAN).
  * lsgan is NOT halved: D = mean((real-b)^2) + mean((fake-a)^2), G = mean((fake-c)^2) (BasicSR).
  * Relativistic-average (ESRGAN, every type): real_rel = real - mean(fake), fake_rel = fake - mean(real)
    (means over all elements); D = 0.5 * as_real(real_rel) + 0.5 * as_fake(fake_rel);
    G = 0.5 * as_real(fake_rel, gen_label) + 0.5 * as_fake(real_rel)  -- the D form with roles swapped,
    real_out detached by the caller.
    In the D loss the batch means carry gradients, as in the original ESRGAN code (Wang et al.,
    RaGAN after Jolicoeur-Martineau); BasicSR 1.4.2's ESRGANModel detaches them (`detach_mean: true`
    gives that form). The two forms have the same value and the same generator loss; only D's
    gradient differs (for relativistic wgan the detached form halves it).
    For hinge this is RaHinge (relu(1 - fake_rel) + relu(1 + real_rel)); for wgan it reduces to
    D = mean(fake) - mean(real) and G = mean(real) - mean(fake).
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sr_gan.errors import OptionError
from sr_gan.registry import LOSSES


class AdversarialObjective(nn.Module):
    """Base for one GAN type: subclasses define ``as_real``/``as_fake`` (and ``gen_term`` if it
    differs from ``as_real(x, gen_label)``). Its constructor arguments are the YAML schema."""

    real_label, fake_label, gen_label = 1.0, 0.0, 1.0   # types without labels ignore them
    gp_weight = 0.0                                     # > 0: the model adds gp_weight * gradient_penalty
    r1_weight = 0.0                                     # > 0: the model adds r1_weight / 2 * r1_penalty

    def __init__(self, relativistic: bool = False, detach_mean: bool = False, r1_weight: float = 0.0):
        super().__init__()
        if detach_mean and not relativistic:
            raise OptionError("detach_mean: only applies to the relativistic form (set relativistic: true)")
        if r1_weight < 0:
            raise OptionError(f"r1_weight: must be >= 0, got {r1_weight}")
        self.relativistic = bool(relativistic)
        self.detach_mean = bool(detach_mean)
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
    def discriminator_terms(self, real_out: Tensor, fake_out: Tensor) -> tuple[Tensor, Tensor]:
        """(D-real term, D-fake term); their sum is the D loss (kept apart for logging)."""
        if self.relativistic:
            mean_fake, mean_real = fake_out.mean(), real_out.mean()
            if self.detach_mean:          # BasicSR 1.4.2 ESRGANModel
                mean_fake, mean_real = mean_fake.detach(), mean_real.detach()
            return (0.5 * self.as_real(real_out - mean_fake, self.real_label),
                    0.5 * self.as_fake(fake_out - mean_real, self.fake_label))
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


class LabelledObjective(AdversarialObjective):
    """A type whose scores compare logits with target labels (real b, fake a, generator c)."""

    def __init__(self, relativistic: bool = False, detach_mean: bool = False, r1_weight: float = 0.0,
                 real_label: float = 1.0, fake_label: float = 0.0, gen_label: float = 1.0):
        super().__init__(relativistic, detach_mean, r1_weight)
        self.real_label = float(real_label)
        self.fake_label = float(fake_label)
        self.gen_label = float(gen_label)


@LOSSES.register("vanilla", kind="gan")
class VanillaGAN(LabelledObjective):
    """Non-saturating BCE-with-logits GAN (SRGAN, ESRGAN)."""

    def as_real(self, logits: Tensor, label: float) -> Tensor:
        return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, label))

    def as_fake(self, logits: Tensor, label: float) -> Tensor:
        return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, label))


@LOSSES.register("lsgan", kind="gan")
class LSGAN(LabelledObjective):
    """Least squares on raw outputs, labels a=fake_label, b=real_label, c=gen_label; no 1/2 factors."""

    def as_real(self, logits: Tensor, label: float) -> Tensor:
        return (logits - label).pow(2).mean()

    def as_fake(self, logits: Tensor, label: float) -> Tensor:
        return (logits - label).pow(2).mean()


@LOSSES.register("wgan", kind="gan")
class WGAN(AdversarialObjective):
    """Wasserstein critic: D = mean(fake) - mean(real), G = -mean(fake)."""

    def as_real(self, logits: Tensor, label: float) -> Tensor:
        return -logits.mean()

    def as_fake(self, logits: Tensor, label: float) -> Tensor:
        return logits.mean()


@LOSSES.register("wgan_gp", kind="gan")
class WGANGP(WGAN):
    """WGAN whose critic is kept 1-Lipschitz by ``gp_weight * gradient_penalty`` (added by the model);
    no R1 on top: the penalty already constrains D's input gradient."""

    def __init__(self, gp_weight: float = 10.0, relativistic: bool = False, detach_mean: bool = False):
        super().__init__(relativistic, detach_mean)
        if gp_weight < 0:
            raise OptionError(f"gp_weight: must be >= 0, got {gp_weight}")
        self.gp_weight = float(gp_weight)


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
