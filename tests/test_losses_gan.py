"""GAN losses against formulas written out by hand on fixed logits."""
import math

import pytest
import torch

from sr_gan.errors import OptionError
from sr_gan.losses.gan import GANLoss, gradient_penalty, r1_penalty
from sr_gan.registry import LOSSES

REAL = [1.5, -0.5]
FAKE = [0.2, -1.0]
REAL_T = torch.tensor([[1.5], [-0.5]])
FAKE_T = torch.tensor([[0.2], [-1.0]])


def mean(xs):
    return sum(xs) / len(xs)


def bce(x, y):  # binary cross entropy with logits, one element
    return -(y * math.log(1 / (1 + math.exp(-x))) + (1 - y) * math.log(1 - 1 / (1 + math.exp(-x))))


def softplus(x):
    return math.log1p(math.exp(x))


def relu(x):
    return max(x, 0.0)


# per type: (judged-as-real(xs, label), judged-as-fake(xs, label), standard generator(xs))
FORMS = {
    "vanilla": (lambda xs, y: mean([bce(x, y) for x in xs]), lambda xs, y: mean([bce(x, y) for x in xs]),
                lambda xs: mean([bce(x, 1.0) for x in xs])),
    "lsgan": (lambda xs, y: mean([(x - y) ** 2 for x in xs]), lambda xs, y: mean([(x - y) ** 2 for x in xs]),
              lambda xs: mean([(x - 1.0) ** 2 for x in xs])),
    "wgan": (lambda xs, y: -mean(xs), lambda xs, y: mean(xs), lambda xs: -mean(xs)),
    "wgan_gp": (lambda xs, y: -mean(xs), lambda xs, y: mean(xs), lambda xs: -mean(xs)),
    "hinge": (lambda xs, y: mean([relu(1 - x) for x in xs]), lambda xs, y: mean([relu(1 + x) for x in xs]),
              lambda xs: -mean(xs)),
    "softplus": (lambda xs, y: mean([softplus(-x) for x in xs]), lambda xs, y: mean([softplus(x) for x in xs]),
                 lambda xs: mean([softplus(-x) for x in xs])),
}


def test_all_types_registered_as_gan():
    assert set(FORMS) <= set(LOSSES.names("gan"))


@pytest.mark.parametrize("gan_type", sorted(FORMS))
def test_standard_terms(gan_type):
    as_real, as_fake, gen = FORMS[gan_type]
    loss = GANLoss(gan_type)
    d_real, d_fake = loss.discriminator_terms(REAL_T, FAKE_T)
    assert d_real.item() == pytest.approx(as_real(REAL, 1.0), rel=1e-5)
    assert d_fake.item() == pytest.approx(as_fake(FAKE, 0.0), rel=1e-5)
    # standard D loss is the un-halved sum
    assert loss.discriminator_loss(REAL_T, FAKE_T).item() == pytest.approx(as_real(REAL, 1.0) + as_fake(FAKE, 0.0), rel=1e-5)
    assert loss.generator_loss(FAKE_T).item() == pytest.approx(gen(FAKE), rel=1e-5)


def test_standard_values_spelled_out():
    """A few values written fully by hand, independent of the FORMS table."""
    vanilla = GANLoss("vanilla")
    d = (math.log1p(math.exp(-1.5)) + math.log1p(math.exp(0.5))) / 2 + (math.log1p(math.exp(0.2)) + math.log1p(math.exp(-1.0))) / 2
    assert vanilla.discriminator_loss(REAL_T, FAKE_T).item() == pytest.approx(d, rel=1e-6)
    g = (math.log1p(math.exp(-0.2)) + math.log1p(math.exp(1.0))) / 2
    assert vanilla.generator_loss(FAKE_T).item() == pytest.approx(g, rel=1e-6)
    hinge = GANLoss("hinge")
    assert hinge.discriminator_loss(REAL_T, FAKE_T).item() == pytest.approx((0 + 1.5) / 2 + (1.2 + 0) / 2)
    assert GANLoss("wgan").discriminator_loss(REAL_T, FAKE_T).item() == pytest.approx(-0.4 - 0.5)
    assert GANLoss("lsgan").discriminator_loss(REAL_T, FAKE_T).item() == pytest.approx((0.25 + 2.25) / 2 + (0.04 + 1.0) / 2)


@pytest.mark.parametrize("gan_type", sorted(FORMS))
def test_relativistic_terms(gan_type):
    as_real, as_fake, _ = FORMS[gan_type]
    real_rel = [r - mean(FAKE) for r in REAL]
    fake_rel = [f - mean(REAL) for f in FAKE]
    loss = GANLoss(gan_type, relativistic=True)
    d_real, d_fake = loss.discriminator_terms(REAL_T, FAKE_T)
    assert d_real.item() == pytest.approx(0.5 * as_real(real_rel, 1.0), rel=1e-5)
    assert d_fake.item() == pytest.approx(0.5 * as_fake(fake_rel, 0.0), rel=1e-5)
    g_expected = 0.5 * as_real(fake_rel, 1.0) + 0.5 * as_fake(real_rel, 0.0)
    assert loss.generator_loss(FAKE_T, REAL_T).item() == pytest.approx(g_expected, rel=1e-5)


def test_relativistic_vanilla_spelled_out():
    """ESRGAN: D = (BCE(real - mean(fake), 1) + BCE(fake - mean(real), 0)) / 2."""
    mf, mr = (0.2 - 1.0) / 2, (1.5 - 0.5) / 2
    d_real = (math.log1p(math.exp(-(1.5 - mf))) + math.log1p(math.exp(-(-0.5 - mf)))) / 2
    d_fake = (math.log1p(math.exp(0.2 - mr)) + math.log1p(math.exp(-1.0 - mr))) / 2
    loss = GANLoss("vanilla", relativistic=True)
    assert loss.discriminator_loss(REAL_T, FAKE_T).item() == pytest.approx((d_real + d_fake) / 2, rel=1e-6)
    g_real_as_fake = (math.log1p(math.exp(1.5 - mf)) + math.log1p(math.exp(-0.5 - mf))) / 2
    g_fake_as_real = (math.log1p(math.exp(-(0.2 - mr))) + math.log1p(math.exp(-(-1.0 - mr)))) / 2
    assert loss.generator_loss(FAKE_T, REAL_T).item() == pytest.approx((g_real_as_fake + g_fake_as_real) / 2, rel=1e-6)


def test_relativistic_wgan_reduces_to_mean_difference():
    loss = GANLoss("wgan", relativistic=True)
    assert loss.discriminator_loss(REAL_T, FAKE_T).item() == pytest.approx(mean(FAKE) - mean(REAL))
    assert loss.generator_loss(FAKE_T, REAL_T).item() == pytest.approx(mean(REAL) - mean(FAKE))


def test_relativistic_generator_requires_real_out():
    with pytest.raises(ValueError, match="real_out"):
        GANLoss("vanilla", relativistic=True).generator_loss(FAKE_T)


def test_lsgan_labels_honoured():
    loss = GANLoss("lsgan", real_label=0.9, fake_label=-1.0, gen_label=0.5)
    d_real, d_fake = loss.discriminator_terms(REAL_T, FAKE_T)
    assert d_real.item() == pytest.approx(((1.5 - 0.9) ** 2 + (-0.5 - 0.9) ** 2) / 2)
    assert d_fake.item() == pytest.approx(((0.2 + 1.0) ** 2 + (-1.0 + 1.0) ** 2) / 2)
    assert loss.generator_loss(FAKE_T).item() == pytest.approx(((0.2 - 0.5) ** 2 + (-1.0 - 0.5) ** 2) / 2)


def test_vanilla_labels_honoured():
    loss = GANLoss("vanilla", real_label=0.9, gen_label=0.8)
    expected = mean([bce(x, 0.9) for x in REAL])
    assert loss.discriminator_terms(REAL_T, FAKE_T)[0].item() == pytest.approx(expected, rel=1e-6)
    assert loss.generator_loss(FAKE_T).item() == pytest.approx(mean([bce(x, 0.8) for x in FAKE]), rel=1e-6)


def test_patch_outputs_mean_over_all_elements():
    real = torch.tensor([1.5, -0.5, 0.3, 2.0]).view(1, 1, 2, 2)
    fake = torch.tensor([0.2, -1.0, 0.7, -0.1]).view(1, 1, 2, 2)
    loss = GANLoss("hinge", relativistic=True)
    rr = [r - mean([0.2, -1.0, 0.7, -0.1]) for r in [1.5, -0.5, 0.3, 2.0]]
    fr = [f - mean([1.5, -0.5, 0.3, 2.0]) for f in [0.2, -1.0, 0.7, -0.1]]
    expected_d = 0.5 * mean([relu(1 - x) for x in rr]) + 0.5 * mean([relu(1 + x) for x in fr])
    assert loss.discriminator_loss(real, fake).item() == pytest.approx(expected_d, rel=1e-6)
    expected_g = 0.5 * mean([relu(1 - x) for x in fr]) + 0.5 * mean([relu(1 + x) for x in rr])
    assert loss.generator_loss(fake, real).item() == pytest.approx(expected_g, rel=1e-6)
    assert GANLoss("vanilla").generator_loss(fake).dim() == 0


def test_needs_gradient_penalty_only_for_wgan_gp():
    assert GANLoss("wgan_gp").needs_gradient_penalty
    assert GANLoss("wgan_gp", gp_weight=5.0).gp_weight == 5.0
    assert not any(GANLoss(t).needs_gradient_penalty for t in FORMS if t != "wgan_gp")
    assert GANLoss("softplus", r1_weight=2.0).needs_r1_penalty
    assert not GANLoss("softplus").needs_r1_penalty


def test_unknown_type_is_option_error_with_suggestion():
    with pytest.raises(OptionError, match="did you mean 'vanilla'") as info:
        GANLoss("vanila")
    assert "\n" not in str(info.value)
    with pytest.raises(OptionError):
        GANLoss("l1")  # a registered loss, but not a GAN type


def test_registry_build_gives_a_working_loss():
    loss = LOSSES.build({"type": "hinge", "relativistic": False})
    assert loss.generator_loss(FAKE_T).item() == pytest.approx(-mean(FAKE))


@pytest.mark.parametrize("k, expected", [(1.0, 0.0), (3.0, 4.0), (0.5, 0.25)])
def test_gradient_penalty_linear_critic(k, expected):
    """D(x) = <w, x> has gradient w everywhere, so the penalty is (||w|| - 1)^2 exactly."""
    torch.manual_seed(0)
    w = torch.randn(1, 3, 4, 4)
    w = w / w.norm() * k
    real, fake = torch.rand(4, 3, 4, 4), torch.rand(4, 3, 4, 4)
    penalty = gradient_penalty(lambda x: (x * w).flatten(1).sum(1), real, fake)
    assert penalty.item() == pytest.approx(expected, abs=1e-5)


def test_gradient_penalty_trains_critic():
    w = torch.full((1, 1, 2, 2), 1.0, requires_grad=True)  # ||w|| = 2 -> penalty 1, dP/dw = 2(||w||-1) w/||w||
    penalty = gradient_penalty(lambda x: (x * w).flatten(1).sum(1), torch.rand(3, 1, 2, 2), torch.rand(3, 1, 2, 2))
    assert penalty.item() == pytest.approx(1.0, abs=1e-5)
    (grad,) = torch.autograd.grad(penalty, w)
    assert torch.allclose(grad, torch.full_like(w, 2 * 1.0 * 0.5), atol=1e-5)


def test_r1_penalty_matches_manual_gradient():
    torch.manual_seed(0)
    x = torch.randn(3, 2, 4, 4).requires_grad_()
    out = (x ** 2).flatten(1).sum(1)  # D(x) = sum(x^2): grad = 2x, ||grad||^2 = 4 ||x||^2
    penalty = r1_penalty(out, x)
    expected = (4 * x.detach().flatten(1).pow(2).sum(1)).mean()
    assert penalty.item() == pytest.approx(expected.item(), rel=1e-5)
    (grad,) = torch.autograd.grad(penalty, x)  # create_graph=True: penalty is differentiable
    assert torch.allclose(grad, 8 * x.detach() / 3, rtol=1e-5)


def test_gradient_penalty_runs_in_fp32_under_autocast():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 1, 3, padding=1)
    real, fake = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    torch.manual_seed(1)
    plain = gradient_penalty(conv, real, fake)
    torch.manual_seed(1)  # same interpolation weights
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = gradient_penalty(conv, real.bfloat16(), fake.bfloat16())
    assert mixed.dtype == torch.float32
    # bf16 inputs only lose input precision; the critic itself ran in fp32
    assert mixed.item() == pytest.approx(plain.item(), rel=1e-2)
