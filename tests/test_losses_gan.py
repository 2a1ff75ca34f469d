"""GAN objectives against formulas written out by hand on fixed logits; the relativistic D gradient in
both forms (original ESRGAN, BasicSR's detached means) against a closed form for a linear critic."""
import math

import pytest
import torch

from sr_gan.errors import OptionError
from sr_gan.losses.gan import gradient_penalty, r1_penalty
from sr_gan.registry import LOSSES

REAL = [1.5, -0.5]
FAKE = [0.2, -1.0]
REAL_T = torch.tensor([[1.5], [-0.5]])
FAKE_T = torch.tensor([[0.2], [-1.0]])


def gan(gan_type, **kw):
    return LOSSES.build({"type": gan_type, **kw})


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
    loss = gan(gan_type)
    d_real, d_fake = loss.discriminator_terms(REAL_T, FAKE_T)
    assert d_real.item() == pytest.approx(as_real(REAL, 1.0), rel=1e-5)
    assert d_fake.item() == pytest.approx(as_fake(FAKE, 0.0), rel=1e-5)
    # standard D loss is the un-halved sum
    assert loss.discriminator_loss(REAL_T, FAKE_T).item() == pytest.approx(as_real(REAL, 1.0) + as_fake(FAKE, 0.0), rel=1e-5)
    assert loss.generator_loss(FAKE_T).item() == pytest.approx(gen(FAKE), rel=1e-5)


def test_standard_values_spelled_out():
    """A few values written fully by hand, independent of the FORMS table."""
    vanilla = gan("vanilla")
    d = (math.log1p(math.exp(-1.5)) + math.log1p(math.exp(0.5))) / 2 + (math.log1p(math.exp(0.2)) + math.log1p(math.exp(-1.0))) / 2
    assert vanilla.discriminator_loss(REAL_T, FAKE_T).item() == pytest.approx(d, rel=1e-6)
    g = (math.log1p(math.exp(-0.2)) + math.log1p(math.exp(1.0))) / 2
    assert vanilla.generator_loss(FAKE_T).item() == pytest.approx(g, rel=1e-6)
    hinge = gan("hinge")
    assert hinge.discriminator_loss(REAL_T, FAKE_T).item() == pytest.approx((0 + 1.5) / 2 + (1.2 + 0) / 2)
    assert gan("wgan").discriminator_loss(REAL_T, FAKE_T).item() == pytest.approx(-0.4 - 0.5)
    assert gan("lsgan").discriminator_loss(REAL_T, FAKE_T).item() == pytest.approx((0.25 + 2.25) / 2 + (0.04 + 1.0) / 2)


@pytest.mark.parametrize("gan_type", sorted(FORMS))
def test_relativistic_terms(gan_type):
    as_real, as_fake, _ = FORMS[gan_type]
    real_rel = [r - mean(FAKE) for r in REAL]
    fake_rel = [f - mean(REAL) for f in FAKE]
    loss = gan(gan_type, relativistic=True)
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
    loss = gan("vanilla", relativistic=True)
    assert loss.discriminator_loss(REAL_T, FAKE_T).item() == pytest.approx((d_real + d_fake) / 2, rel=1e-6)
    g_real_as_fake = (math.log1p(math.exp(1.5 - mf)) + math.log1p(math.exp(-0.5 - mf))) / 2
    g_fake_as_real = (math.log1p(math.exp(-(0.2 - mr))) + math.log1p(math.exp(-(-1.0 - mr)))) / 2
    assert loss.generator_loss(FAKE_T, REAL_T).item() == pytest.approx((g_real_as_fake + g_fake_as_real) / 2, rel=1e-6)


def test_relativistic_wgan_reduces_to_mean_difference():
    loss = gan("wgan", relativistic=True)
    assert loss.discriminator_loss(REAL_T, FAKE_T).item() == pytest.approx(mean(FAKE) - mean(REAL))
    assert loss.generator_loss(FAKE_T, REAL_T).item() == pytest.approx(mean(REAL) - mean(FAKE))


def test_relativistic_generator_requires_real_out():
    with pytest.raises(ValueError, match="real_out"):
        gan("vanilla", relativistic=True).generator_loss(FAKE_T)


def test_lsgan_labels_honoured():
    loss = gan("lsgan", real_label=0.9, fake_label=-1.0, gen_label=0.5)
    d_real, d_fake = loss.discriminator_terms(REAL_T, FAKE_T)
    assert d_real.item() == pytest.approx(((1.5 - 0.9) ** 2 + (-0.5 - 0.9) ** 2) / 2)
    assert d_fake.item() == pytest.approx(((0.2 + 1.0) ** 2 + (-1.0 + 1.0) ** 2) / 2)
    assert loss.generator_loss(FAKE_T).item() == pytest.approx(((0.2 - 0.5) ** 2 + (-1.0 - 0.5) ** 2) / 2)


def test_vanilla_labels_honoured():
    loss = gan("vanilla", real_label=0.9, gen_label=0.8)
    expected = mean([bce(x, 0.9) for x in REAL])
    assert loss.discriminator_terms(REAL_T, FAKE_T)[0].item() == pytest.approx(expected, rel=1e-6)
    assert loss.generator_loss(FAKE_T).item() == pytest.approx(mean([bce(x, 0.8) for x in FAKE]), rel=1e-6)


def test_patch_outputs_mean_over_all_elements():
    real = torch.tensor([1.5, -0.5, 0.3, 2.0]).view(1, 1, 2, 2)
    fake = torch.tensor([0.2, -1.0, 0.7, -0.1]).view(1, 1, 2, 2)
    loss = gan("hinge", relativistic=True)
    rr = [r - mean([0.2, -1.0, 0.7, -0.1]) for r in [1.5, -0.5, 0.3, 2.0]]
    fr = [f - mean([1.5, -0.5, 0.3, 2.0]) for f in [0.2, -1.0, 0.7, -0.1]]
    expected_d = 0.5 * mean([relu(1 - x) for x in rr]) + 0.5 * mean([relu(1 + x) for x in fr])
    assert loss.discriminator_loss(real, fake).item() == pytest.approx(expected_d, rel=1e-6)
    expected_g = 0.5 * mean([relu(1 - x) for x in fr]) + 0.5 * mean([relu(1 + x) for x in rr])
    assert loss.generator_loss(fake, real).item() == pytest.approx(expected_g, rel=1e-6)
    assert gan("vanilla").generator_loss(fake).dim() == 0


def test_penalties_and_labels_exist_only_where_they_apply():
    assert gan("wgan_gp").gp_weight == 10.0 and gan("wgan_gp", gp_weight=5.0).gp_weight == 5.0
    assert all(gan(t).gp_weight == 0 for t in FORMS if t != "wgan_gp")
    assert gan("softplus", r1_weight=2.0).r1_weight == 2.0 and gan("softplus").r1_weight == 0
    for t in FORMS:
        args = set(LOSSES.signature(t).parameters)
        assert ("gp_weight" in args) == (t == "wgan_gp")
        assert ("real_label" in args) == (t in ("vanilla", "lsgan"))
        assert ("r1_weight" in args) == (t != "wgan_gp") and {"relativistic", "detach_mean"} <= args
    with pytest.raises(TypeError):
        gan("hinge", real_label=0.9)     # hinge has no labels: the option schema refuses the key too


def test_detach_mean_needs_the_relativistic_form():
    with pytest.raises(OptionError, match=r"^detach_mean: only applies to the relativistic form"):
        gan("vanilla", detach_mean=True)


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


# ---------------------------------------------------------------- relativistic D gradient, both forms
def _sigmoid(x):
    return 1 / (1 + math.exp(-x))


def _linear_critic_case():
    torch.manual_seed(0)
    xs = torch.randn(3, 4, dtype=torch.float64)        # real samples
    ys = torch.randn(3, 4, dtype=torch.float64)        # fake samples
    w = torch.randn(4, dtype=torch.float64) * 0.7
    return xs, ys, w


def _d_grad(gan_type, detach, xs, ys, w):
    w = w.clone().requires_grad_()
    loss = gan(gan_type, relativistic=True, detach_mean=detach).discriminator_loss(xs @ w, ys @ w)
    (g,) = torch.autograd.grad(loss, w)
    return g.numpy()


@pytest.mark.parametrize("detach", [False, True])
def test_relativistic_vanilla_d_gradient_both_forms(detach):
    """D(x) = <w, x>: r_i = <w, x_i>, f_j = <w, y_j>; with s = sigmoid,
    d/dw 0.5 mean_i softplus(-(r_i - mean f)) = 0.5 mean_i -s(-(r_i - mean f)) (x_i - c * mean y),
    d/dw 0.5 mean_j softplus(f_j - mean r)    = 0.5 mean_j  s(f_j - mean r)    (y_j - c * mean x),
    c = 1 when gradients flow through the means (original ESRGAN), c = 0 when they are detached (BasicSR 1.4.2)."""
    xs, ys, w = _linear_critic_case()
    X, Y, W = xs.tolist(), ys.tolist(), w.tolist()
    r = [sum(a * b for a, b in zip(x, W)) for x in X]
    f = [sum(a * b for a, b in zip(y, W)) for y in Y]
    mx = [mean([x[k] for x in X]) for k in range(4)]
    my = [mean([y[k] for y in Y]) for k in range(4)]
    c = 0.0 if detach else 1.0
    expected = [0.5 * mean([-_sigmoid(-(ri - mean(f))) * (x[k] - c * my[k]) for ri, x in zip(r, X)]) +
                0.5 * mean([_sigmoid(fj - mean(r)) * (y[k] - c * mx[k]) for fj, y in zip(f, Y)]) for k in range(4)]
    got = _d_grad("vanilla", detach, xs, ys, w)
    assert got.tolist() == pytest.approx(expected, rel=1e-9, abs=1e-12)
    other = _d_grad("vanilla", not detach, xs, ys, w)
    assert max(abs(a - b) for a, b in zip(got.tolist(), other.tolist())) > 1e-3     # the forms really differ


def test_relativistic_wgan_detached_means_halve_the_d_gradient():
    """D = 0.5 (-mean(r - mean f)) + 0.5 mean(f - mean r): d/dw = mean y - mean x with flowing means,
    0.5 (mean y - mean x) with detached ones."""
    xs, ys, w = _linear_critic_case()
    diff = [mean([y[k] for y in ys.tolist()]) - mean([x[k] for x in xs.tolist()]) for k in range(4)]
    assert _d_grad("wgan", False, xs, ys, w).tolist() == pytest.approx(diff, rel=1e-9)
    assert _d_grad("wgan", True, xs, ys, w).tolist() == pytest.approx([0.5 * d for d in diff], rel=1e-9)


@pytest.mark.parametrize("gan_type", sorted(FORMS))
def test_detached_means_change_neither_values_nor_the_generator_loss(gan_type):
    flowing, detached = gan(gan_type, relativistic=True), gan(gan_type, relativistic=True, detach_mean=True)
    assert detached.discriminator_loss(REAL_T, FAKE_T).item() == flowing.discriminator_loss(REAL_T, FAKE_T).item()
    assert detached.generator_loss(FAKE_T, REAL_T).item() == flowing.generator_loss(FAKE_T, REAL_T).item()
