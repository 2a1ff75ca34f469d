"""The parameter sampler draws Real-ESRGAN's / BSRGAN's distributions, reproducibly from (seed, iteration, rank)."""
import math

import numpy as np
import torch

from sr_gan.degradations import kernels as K
from sr_gan.degradations.pipelines import BSRGANDegradation, RealESRGANDegradation
from sr_gan.degradations.sampler import (BSRGAN_OPS, Draw, degradation_generator, sample_bsrgan,
                                         sample_final_sinc, sample_kernels, sample_noise, sample_resize)

N = 20000


def _close(freq: float, p: float, n: int) -> bool:
    """Within 5 binomial standard deviations (false alarm ~ 1e-6 per check)."""
    return abs(freq - p) <= 5 * math.sqrt(max(p * (1 - p), 1e-12) / n) + 1e-12


def test_generator_is_a_pure_function_of_seed_iteration_rank():
    a = torch.rand(4, generator=degradation_generator(7, 100, 0))
    assert torch.equal(a, torch.rand(4, generator=degradation_generator(7, 100, 0)))
    for other in ((7, 101, 0), (7, 100, 1), (8, 100, 0)):
        assert not torch.equal(a, torch.rand(4, generator=degradation_generator(*other)))
    torch.rand(3, generator=degradation_generator(-1, 0, 0))     # negative seeds are fine


def test_kernel_types_sizes_and_shape_parameters_follow_real_esrgan():
    o = RealESRGANDegradation()
    k = sample_kernels(Draw(degradation_generator(0, 0)), N, o.kernel_list, o.kernel_prob, o.sinc_prob,
                       o.blur_sigma, o.betag_range, o.betap_range, 21)
    names = np.array(k.names)
    assert _close((names == "sinc").mean(), 0.1, N)
    rest = names[names != "sinc"]
    for name, p in zip(o.kernel_list, o.kernel_prob):
        assert _close((rest == name).mean(), p, len(rest)), name
    sizes = k.sizes.numpy()
    assert set(sizes.tolist()) == set(range(7, 22, 2))
    assert _close((sizes == 7).mean(), 1 / 8, N)
    sinc = k.kinds.numpy() == K.SINC
    om = k.omega_c.numpy()
    small, large = sinc & (sizes < 13), sinc & (sizes >= 13)
    assert om[small].min() >= math.pi / 3 and om[small].max() <= math.pi
    assert om[large].min() >= math.pi / 5 and om[large].min() < math.pi / 3 - 0.1
    gauss = ~sinc
    sx, sy, th = k.sigma_x.numpy()[gauss], k.sigma_y.numpy()[gauss], k.theta.numpy()[gauss]
    assert sx.min() >= 0.2 and sx.max() <= 3 and sy.min() >= 0.2 and sy.max() <= 3
    iso = np.isin(names[gauss], ["iso", "generalized_iso", "plateau_iso"])
    assert (sy[iso] == sx[iso]).all() and (th[iso] == 0).all()
    assert th[~iso].min() >= -math.pi and th[~iso].max() <= math.pi and th[~iso].min() < -3
    beta = k.beta.numpy()[gauss]
    gen = np.isin(names[gauss], ["generalized_iso", "generalized_aniso"])
    plat = np.isin(names[gauss], ["plateau_iso", "plateau_aniso"])
    assert (beta[~gen & ~plat] == 1).all()
    assert beta[gen].min() >= 0.5 and beta[gen].max() <= 4 and _close((beta[gen] < 1).mean(), 0.5, gen.sum())
    assert beta[plat].min() >= 1 and beta[plat].max() <= 2 and _close((beta[plat] == 1).mean(), 0.5, plat.sum())


def test_final_sinc_probability_and_pulse():
    f = sample_final_sinc(Draw(degradation_generator(0, 1)), N, 0.8, 21)
    sinc = f.kinds.numpy() == K.SINC
    assert _close(sinc.mean(), 0.8, N)
    assert f.omega_c.numpy()[sinc].min() >= math.pi / 3
    assert (f.kinds.numpy()[~sinc] == K.PULSE).all() and (f.sizes.numpy()[~sinc] == 1).all()


def test_batch_level_resize_and_noise_draws():
    d = Draw(degradation_generator(0, 2))
    rs = [sample_resize(d, [0.2, 0.7, 0.1], [0.15, 1.5]) for _ in range(3000)]
    dirs = np.array([r.direction for r in rs])
    for name, p in (("up", 0.2), ("down", 0.7), ("keep", 0.1)):
        assert _close((dirs == name).mean(), p, 3000)
    f = np.array([r.factor for r in rs])
    assert f[dirs == "up"].min() >= 1 and f[dirs == "up"].max() <= 1.5
    assert f[dirs == "down"].min() >= 0.15 and f[dirs == "down"].max() <= 1 and (f[dirs == "keep"] == 1).all()
    modes = np.array([r.mode for r in rs])
    assert all(_close((modes == m).mean(), 1 / 3, 3000) for m in ("area", "bilinear", "bicubic"))
    noises = [sample_noise(d, 8, 0.5, [1, 30], [0.05, 3], 0.4) for _ in range(2000)]
    kinds = np.array([z.kind for z in noises])
    assert _close((kinds == "gaussian").mean(), 0.5, 2000)
    gray = torch.cat([z.gray for z in noises]).numpy()
    assert _close(gray.mean(), 0.4, gray.size)
    sig = torch.cat([z.strength for z in noises if z.kind == "gaussian"]).numpy()
    sc = torch.cat([z.strength for z in noises if z.kind == "poisson"]).numpy()
    assert sig.min() >= 1 and sig.max() <= 30 and sc.min() >= 0.05 and sc.max() <= 3


def test_bsrgan_order_keeps_downsample3_after_downsample2_and_noise_kinds():
    o = BSRGANDegradation()
    orders, kinds, halves = [], [], 0
    for it in range(400):
        p = sample_bsrgan(o, 6, (64, 64), degradation_generator(0, it))
        orders.append(p.order)
        kinds += p.noise_kind
        halves += p.halve
        assert sorted(p.order) == sorted(BSRGAN_OPS)
        assert p.order.index("downsample2") < p.order.index("downsample3")
        q = torch.cat([p.jpeg_quality, p.final_quality])
        assert q.min() >= 30 and q.max() <= 95 and torch.equal(q, q.round())
        sizes = p.kernel1.sizes
        assert sizes.min() >= 7 and sizes.max() <= 25 and (sizes % 2 == 1).all()
    assert len({tuple(o) for o in orders}) > 100                  # 360 possible orders
    kinds = np.array(kinds)
    for k, prob in (("color", 0.4), ("gray", 0.4), ("correlated", 0.2)):
        assert _close((kinds == k).mean(), prob, kinds.size)
    assert _close(halves / 400, 0.25, 400)


def test_bsrgan_correlated_noise_covariance_is_l2_ut_d_u():
    p = sample_bsrgan(BSRGANDegradation(), 64, (64, 64), degradation_generator(3, 0))
    for i, kind in enumerate(p.noise_kind):
        cov = (p.noise_mix[i] @ p.noise_mix[i].T).numpy()
        if kind == "correlated":
            ev = np.linalg.eigvalsh(cov)
            assert ev.min() >= -1e-15 and ev.max() <= (25 / 255) ** 2 + 1e-15
        elif kind == "gray":
            np.testing.assert_allclose(cov, np.full((3, 3), (p.noise_level[i].item() / 255) ** 2))
        else:
            np.testing.assert_allclose(cov, np.eye(3) * (p.noise_level[i].item() / 255) ** 2)
