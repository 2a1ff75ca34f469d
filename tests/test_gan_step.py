"""One pinned `optimize_parameters` of the srgan model against a step computed independently here.

Frozen copies of the seeded G and D, taken before the step, give D's outputs on HR and SR; the GAN
objectives are written out below from the papers (BCE-with-logits as softplus, Goodfellow's
non-saturating G term; LSGAN; WGAN; hinge; StyleGAN's logistic loss; ESRGAN's relativistic average
form, with BasicSR 1.4.2's detached means as `detach_mean`; WGAN-GP's penalty on interpolates; R1 on
real images; feature matching). The test checks:
  * the logged values (l_g_gan, l_d_gan, l_d_gp, l_d_r1, l_g_fm, out_d_real/fake) equal them;
  * G is updated by the GAN term alone (no pixel term here): its gradient is non-zero, and the
    model's step of G equals one Adam step on that gradient (so it points downhill: <step, grad> < 0);
  * D's parameters after the step equal Adam steps on the D loss as configured (gp_weight, r1_weight,
    d_update ratio / init_iters), replayed here with torch.optim.Adam on the copies.
Adam's eps is set large (0.1) so an update is close to linear in the gradient: a weight that is
ignored or applied twice changes the update's size, not only (as with eps 1e-8) its sign pattern.
"""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from sr_gan import options
from sr_gan.registry import LOSSES, MODELS

LR, EPS, BETAS, GAN_WEIGHT = 1e-2, 0.1, (0.9, 0.99), 0.5
GP_WEIGHT, R1_WEIGHT = 3.0, 2.0            # both differ from the defaults (10 and 0)


# ----------------------------------------------------------------------- the objectives, by hand
def as_real(kind: str, x):
    """D's loss for logits x that should be judged real."""
    if kind in ("vanilla", "softplus"):        # BCE(x, 1) = -log sigmoid(x) = softplus(-x)
        return F.softplus(-x).mean()
    if kind == "lsgan":
        return (x - 1).pow(2).mean()
    if kind in ("wgan", "wgan_gp"):
        return -x.mean()
    if kind == "hinge":
        return F.relu(1 - x).mean()
    raise KeyError(kind)


def as_fake(kind: str, x):
    """D's loss for logits x that should be judged fake."""
    if kind in ("vanilla", "softplus"):        # BCE(x, 0) = -log(1 - sigmoid(x)) = softplus(x)
        return F.softplus(x).mean()
    if kind == "lsgan":
        return x.pow(2).mean()
    if kind in ("wgan", "wgan_gp"):
        return x.mean()
    if kind == "hinge":
        return F.relu(1 + x).mean()
    raise KeyError(kind)


def g_standard(kind: str, f):
    if kind in ("vanilla", "softplus", "lsgan"):   # non-saturating: fakes judged as real
        return as_real(kind, f)
    return -f.mean()                                # wgan, wgan_gp, hinge (SAGAN)


def d_loss(kind: str, form: str, r, f):
    if form == "standard":
        return as_real(kind, r) + as_fake(kind, f)
    mean_f, mean_r = f.mean(), r.mean()
    if form == "basicsr":                          # BasicSR 1.4.2 ESRGANModel: detached batch means
        mean_f, mean_r = mean_f.detach(), mean_r.detach()
    return 0.5 * as_real(kind, r - mean_f) + 0.5 * as_fake(kind, f - mean_r)


def g_loss(kind: str, form: str, f, r):
    """`r` is D's output on real images, detached."""
    if form == "standard":
        return g_standard(kind, f)
    return 0.5 * as_real(kind, f - r.mean()) + 0.5 * as_fake(kind, r - f.mean())


def gp(critic, real, fake, alpha):
    x = (alpha * real + (1 - alpha) * fake).detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()


def r1(critic, real):
    x = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    return grad.flatten(1).pow(2).sum(1).mean()


def fm(fake_feats, real_feats, layers):
    return sum((fake_feats[i] - real_feats[i].detach()).abs().mean() for i in layers) / len(layers)


KINDS = ("vanilla", "lsgan", "wgan", "wgan_gp", "hinge", "softplus")
FORMS = ("standard", "esrgan", "basicsr")


def test_every_registered_gan_type_has_a_formula_here():
    assert set(LOSSES.names("gan")) == set(KINDS)


# ----------------------------------------------------------------------- the model and the replay
def _model(kind: str, form: str, conditional=False, ratio=1.0, init_iters=0, r1_weight=0.0, fm_layers=None,
           l1_weight=0.0):
    gan = {"type": kind, "weight": GAN_WEIGHT, "relativistic": form != "standard", "detach_mean": form == "basicsr"}
    if kind == "wgan_gp":
        gan["gp_weight"] = GP_WEIGHT
    elif r1_weight:
        gan["r1_weight"] = r1_weight
    raw = {"name": "step", "model": "srgan", "scale": 4,
           "datasets": {"train": {"type": "paired", "hr": "unused", "crop": 16}},
           "network_g": {"type": "msrresnet", "num_feat": 4, "num_block": 1},
           "network_d": {"type": "patchgan", "num_feat": 4, "num_layers": 1, "norm": "none",
                         "conditional": conditional},
           "train": {"ema_decay": 0.0,
                     "optim_g": {"lr": LR, "eps": EPS, "betas": list(BETAS)},
                     "optim_d": {"lr": LR, "eps": EPS, "betas": list(BETAS)},
                     "losses": [{"type": "l1", "weight": l1_weight}], "gan": gan,
                     "feature_matching": {"weight": 0.7 if fm_layers else 0.0, "layers": fm_layers},
                     "d_update": {"ratio": ratio, "init_iters": init_iters}}}
    torch.manual_seed(0)
    return MODELS.get("srgan")(options.validate(raw), torch.device("cpu"))


def _batch():
    g = torch.Generator().manual_seed(3)
    lr = torch.rand(2, 3, 4, 4, generator=g)
    hr = (F.interpolate(lr, scale_factor=4, mode="bicubic", align_corners=False)
          + 0.1 * torch.randn(2, 3, 16, 16, generator=g)).clamp(0, 1)
    return {"lr": lr, "hr": hr}


class Replay:
    """G0 and D0: copies of the model's networks before the step, and what the step should do to them."""

    def __init__(self, model, batch, kind, form, conditional=False, r1_weight=0.0, fm_layers=None):
        self.g0, self.d0 = copy.deepcopy(model.net_g), copy.deepcopy(model.net_d)
        self.lr, self.hr = batch["lr"], batch["hr"]
        self.kind, self.form, self.r1_weight, self.fm_layers = kind, form, r1_weight, fm_layers
        cond = F.interpolate(self.lr, size=self.hr.shape[-2:], mode="bicubic", align_corners=False)
        self.d_in = (lambda x: torch.cat([x, cond], 1)) if conditional else (lambda x: x)

    def critic(self, d, x, features=False):
        return d(self.d_in(x), return_features=features)

    def g_terms(self, g, d):
        """Weighted generator terms {l_g_gan, l_g_fm?} with D frozen (no grads into d)."""
        sr = g(self.lr)
        r, fr = self.critic(d, self.hr, True)
        f, ff = self.critic(d, sr, True)
        out = {"l_g_gan": GAN_WEIGHT * g_loss(self.kind, self.form, f, r.detach())}
        if self.fm_layers:
            out["l_g_fm"] = 0.7 * fm(ff, fr, self.fm_layers)
        return out

    def d_terms(self, d, sr, alpha=None):
        critic = lambda x: self.critic(d, x)   # noqa: E731
        out = {"l_d_gan": d_loss(self.kind, self.form, critic(self.hr), critic(sr.detach()))}
        if self.kind == "wgan_gp":
            out["l_d_gp"] = GP_WEIGHT * gp(critic, self.hr, sr.detach(), alpha)
        if self.r1_weight:
            out["l_d_r1"] = 0.5 * self.r1_weight * r1(critic, self.hr)
        return out

    def g_after(self, steps=1):
        g, d = copy.deepcopy(self.g0), copy.deepcopy(self.d0).requires_grad_(False)
        opt = torch.optim.Adam(g.parameters(), lr=LR, betas=BETAS, eps=EPS)
        for _ in range(steps):
            opt.zero_grad()
            sum(self.g_terms(g, d).values()).backward()
            opt.step()
        return g

    def d_after(self, updates: int, alphas):
        d = copy.deepcopy(self.d0)
        with torch.no_grad():
            sr = self.g0(self.lr)           # both losses see G before its update
        opt = torch.optim.Adam(d.parameters(), lr=LR, betas=BETAS, eps=EPS)
        for i in range(updates):
            opt.zero_grad()
            sum(self.d_terms(d, sr, alphas[i] if alphas else None).values()).backward()
            opt.step()
        return d


def _alphas(n, seed):
    torch.manual_seed(seed)
    return [torch.rand(2, 1, 1, 1) for _ in range(n)]


def _flat(net):
    return torch.cat([p.detach().flatten() for p in net.parameters()])


def _assert_same_update(before, after, expected, what):
    """The model's change of a network equals the replayed one (and is not a trivially small one)."""
    got, want = _flat(after) - _flat(before), _flat(expected) - _flat(before)
    assert want.abs().max() > 1e-4, f"{what}: the replayed update is too small to tell anything"
    torch.testing.assert_close(got, want, rtol=2e-3, atol=2e-3 * want.abs().max().item(), msg=lambda m: f"{what}: {m}")


def _step(model, batch, step=1, seed=123):
    model.feed_data(batch)
    torch.manual_seed(seed)                 # the gradient penalty's interpolation weights
    model.optimize_parameters(step)
    return model.current_losses()


# ----------------------------------------------------------------------- the pinned step
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("kind", KINDS)
def test_pinned_gan_step(kind, form):
    model, batch = _model(kind, form), _batch()
    rp = Replay(model, batch, kind, form)
    g_before, d_before = copy.deepcopy(model.net_g), copy.deepcopy(model.net_d)
    logs = _step(model, batch)

    # logged values == the formulas on D0's outputs
    with torch.no_grad():
        sr = rp.g0(rp.lr)
        assert logs["out_d_real"] == pytest.approx(rp.critic(rp.d0, rp.hr).mean().item(), rel=1e-5, abs=1e-7)
        assert logs["out_d_fake"] == pytest.approx(rp.critic(rp.d0, sr).mean().item(), rel=1e-5, abs=1e-7)
    expected = {**{k: v.item() for k, v in rp.g_terms(rp.g0, rp.d0).items()},
                **{k: v.item() for k, v in rp.d_terms(rp.d0, sr, _alphas(1, 123)[0]).items()}}
    got = {k: v for k, v in logs.items() if k.startswith("l_")}
    assert set(got) == set(expected)
    for k, v in expected.items():
        assert got[k] == pytest.approx(v, rel=1e-5, abs=1e-7), (k, got[k], v)

    # G's gradient from the GAN term alone: non-zero, and the model stepped downhill along it
    g0 = copy.deepcopy(rp.g0)
    term = rp.g_terms(g0, copy.deepcopy(rp.d0).requires_grad_(False))["l_g_gan"]
    grad = torch.cat([gr.flatten() for gr in torch.autograd.grad(term, list(g0.parameters()))])
    assert grad.abs().max() > 1e-6
    delta = _flat(model.net_g) - _flat(g_before)
    assert torch.dot(delta, grad) < 0 and F.cosine_similarity(delta, -grad, dim=0) > 0.3
    _assert_same_update(g_before, model.net_g, rp.g_after(), "G")
    _assert_same_update(d_before, model.net_d, rp.d_after(1, _alphas(1, 123) if kind == "wgan_gp" else None), "D")


# ----------------------------------------------------------------------- penalties, FM, conditional D
CASES = {
    "r1_standard": dict(kind="softplus", form="standard", r1_weight=R1_WEIGHT),
    "r1_relativistic": dict(kind="vanilla", form="esrgan", r1_weight=R1_WEIGHT),
    "feature_matching": dict(kind="hinge", form="standard", fm_layers=[0, 1]),
    "conditional_relativistic": dict(kind="vanilla", form="esrgan", conditional=True),
    "conditional_basicsr_lsgan": dict(kind="lsgan", form="basicsr", conditional=True),
    "conditional_gp": dict(kind="wgan_gp", form="standard", conditional=True),
    "conditional_r1_fm": dict(kind="softplus", form="standard", conditional=True, r1_weight=R1_WEIGHT, fm_layers=[1]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_pinned_step_with_penalties_fm_and_conditional_d(case):
    kw = CASES[case]
    model, batch = _model(**kw), _batch()
    rp = Replay(model, batch, kw["kind"], kw["form"], kw.get("conditional", False), kw.get("r1_weight", 0.0),
                kw.get("fm_layers"))
    g_before, d_before = copy.deepcopy(model.net_g), copy.deepcopy(model.net_d)
    logs = _step(model, batch)
    with torch.no_grad():
        sr = rp.g0(rp.lr)
    alphas = _alphas(1, 123) if kw["kind"] == "wgan_gp" else None
    expected = {**{k: v.item() for k, v in rp.g_terms(rp.g0, rp.d0).items()},
                **{k: v.item() for k, v in rp.d_terms(rp.d0, sr, alphas[0] if alphas else None).items()}}
    got = {k: v for k, v in logs.items() if k.startswith("l_")}
    assert set(got) == set(expected)
    for k, v in expected.items():
        assert got[k] == pytest.approx(v, rel=1e-5, abs=1e-7), (k, got[k], v)
    _assert_same_update(g_before, model.net_g, rp.g_after(), "G")
    _assert_same_update(d_before, model.net_d, rp.d_after(1, alphas), "D")


def test_conditional_d_really_sees_the_lr_image():
    """The same HR with another LR condition gives another D output (and so another l_d_gan)."""
    model, batch = _model("vanilla", "esrgan", conditional=True), _batch()
    a = _step(copy.deepcopy(model), batch)
    b = _step(model, {"lr": batch["lr"].flip(-1), "hr": batch["hr"]})
    assert a["out_d_real"] != pytest.approx(b["out_d_real"], rel=1e-4)


# ----------------------------------------------------------------------- how often D is updated
@pytest.mark.parametrize("kind", ["vanilla", "wgan_gp"])
def test_d_ratio_two_is_two_d_updates_on_the_batch(kind):
    model, batch = _model(kind, "esrgan", ratio=2.0), _batch()
    rp = Replay(model, batch, kind, "esrgan")
    g_before, d_before = copy.deepcopy(model.net_g), copy.deepcopy(model.net_d)
    _step(model, batch)
    alphas = _alphas(2, 123) if kind == "wgan_gp" else None
    _assert_same_update(d_before, model.net_d, rp.d_after(2, alphas), "D (2 updates)")
    one = _flat(rp.d_after(1, alphas)) - _flat(d_before)
    assert (_flat(model.net_d) - _flat(d_before) - one).abs().max() > 1e-4     # not a single update
    _assert_same_update(g_before, model.net_g, rp.g_after(), "G")              # G once


def test_d_ratio_half_updates_d_every_second_step():
    model, batch = _model("vanilla", "standard", ratio=0.5), _batch()
    d0 = _flat(model.net_d)
    rp = Replay(model, batch, "vanilla", "standard")
    _step(model, batch, step=1)
    assert torch.equal(_flat(model.net_d), d0)                # step 1: G only
    _assert_same_update(rp.g0, model.net_g, rp.g_after(), "G")
    rp2 = Replay(model, batch, "vanilla", "standard")
    d_before = copy.deepcopy(model.net_d)
    _step(model, batch, step=2)
    _assert_same_update(d_before, model.net_d, rp2.d_after(1, None), "D at step 2")


def test_d_init_iters_updates_d_alone_with_its_configured_loss():
    model, batch = _model("softplus", "standard", init_iters=2, r1_weight=R1_WEIGHT), _batch()
    rp = Replay(model, batch, "softplus", "standard", r1_weight=R1_WEIGHT)
    g0, d_before = _flat(model.net_g), copy.deepcopy(model.net_d)
    logs = _step(model, batch, step=2)                        # step <= init_iters: D only
    assert torch.equal(_flat(model.net_g), g0)
    assert not any(k.startswith("l_g_") for k in logs)
    _assert_same_update(d_before, model.net_d, rp.d_after(1, None), "D during init_iters")
    g_before = copy.deepcopy(model.net_g)
    rp3 = Replay(model, batch, "softplus", "standard", r1_weight=R1_WEIGHT)
    _step(model, batch, step=3)                               # then G trains too
    _assert_same_update(g_before, model.net_g, rp3.g_after(), "G after init_iters")
