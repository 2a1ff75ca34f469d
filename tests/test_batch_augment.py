"""Batch augmentations (mixup, cutmix, resizemix, CutBlur) and the per-batch selector: outputs
against independent expectations built from what each draw reports, LR/HR alignment, and
determinism from (seed, iteration, rank)."""
import numpy as np
import pytest
import torch
from scipy import stats
from skimage import data

from sr_gan.augmentations.cutblur import CutBlur
from sr_gan.augmentations.cutmix import CutMix
from sr_gan.augmentations.mixup import MixUp
from sr_gan.augmentations.moa import BatchAugment, augmentation_generator
from sr_gan.augmentations.resizemix import ResizeMix
from sr_gan.data.bicubic import imresize
from sr_gan.errors import OptionError
from sr_gan.registry import AUGMENTATIONS

SCALE = 4


def _batch(n: int = 4, lr_size: int = 16, dtype=torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """n real photo crops as HR (n x 3 x 64 x 64) and their MATLAB-bicubic LR (n x 3 x 16 x 16)."""
    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket(), data.camera()]
    size = lr_size * SCALE
    hr, lr = [], []
    for i in range(n):
        img = photos[i % len(photos)]
        img = np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img
        crop = img[40 + 7 * i:40 + 7 * i + size, 60:60 + size].astype(np.float64) / 255.0
        hr.append(crop)
        lr.append(np.clip(imresize(crop, 1 / SCALE), 0, 1))
    as_t = lambda xs: torch.from_numpy(np.stack(xs)).permute(0, 3, 1, 2).to(dtype).contiguous()
    return as_t(lr), as_t(hr)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _outside(mask_box, x):
    """Values of x outside the (top, left, h, w) box, as a flat tensor."""
    top, left, h, w = mask_box
    keep = torch.ones(x.shape[-2:], dtype=torch.bool)
    keep[top:top + h, left:left + w] = False
    return x[..., keep]


def test_registered_names():
    assert AUGMENTATIONS.names() == ["cutblur", "cutmix", "mixup", "resizemix"]


def test_mixup_is_the_reported_convex_blend_and_lam_is_beta_distributed():
    lr, hr = _batch()
    out = MixUp()(lr, hr, _gen(1))
    lam, perm = out.info["lam"], out.info["perm"]
    assert sorted(perm) == [0, 1, 2, 3] and 0 < lam < 1
    torch.testing.assert_close(out.lr, lam * lr + (1 - lam) * lr[perm], rtol=0, atol=1e-15)
    torch.testing.assert_close(out.hr, lam * hr + (1 - lam) * hr[perm], rtol=0, atol=1e-15)
    # lam ~ Beta(alpha, alpha): 300 seeded draws against scipy's Beta CDF
    lams = [MixUp(alpha=1.2)(lr[:2, :, :2, :2], hr[:2, :, :8, :8], _gen(s)).info["lam"] for s in range(300)]
    assert stats.kstest(lams, stats.beta(1.2, 1.2).cdf).pvalue > 0.01
    assert stats.kstest(lams, stats.beta(4.0, 4.0).cdf).pvalue < 1e-4      # the test can tell alphas apart


def test_cutmix_box_holds_the_partner_content_aligned_by_scale():
    lr, hr = _batch()
    out = CutMix()(lr, hr, _gen(2))
    (top, left, bh, bw), perm = out.info["box"], out.info["perm"]
    assert bh == bw == 11                                              # int(16 * r), r ~ N(0.7, 0.01)
    assert 0 <= top <= 16 - bh and 0 <= left <= 16 - bw
    assert perm != [0, 1, 2, 3]
    for i, j in enumerate(perm):
        assert torch.equal(out.lr[i, :, top:top + bh, left:left + bw], lr[j, :, top:top + bh, left:left + bw])
        s = SCALE
        assert torch.equal(out.hr[i, :, s * top:s * (top + bh), s * left:s * (left + bw)],
                           hr[j, :, s * top:s * (top + bh), s * left:s * (left + bw)])
    assert torch.equal(_outside((top, left, bh, bw), out.lr), _outside((top, left, bh, bw), lr))
    hr_box = tuple(SCALE * v for v in (top, left, bh, bw))
    assert torch.equal(_outside(hr_box, out.hr), _outside(hr_box, hr))
    assert not torch.equal(out.lr, lr)                                 # it did mix something


def test_resizemix_box_is_the_whole_partner_shrunk_by_matlab_bicubic():
    lr, hr = _batch()
    out = ResizeMix()(lr, hr, _gen(4))
    (top, left, bh, bw), perm, tau = out.info["box"], out.info["perm"], out.info["tau"]
    assert 0.1 <= tau <= 0.8 and bh == bw == int(16 * tau) and bh >= 2
    for i, j in enumerate(perm):
        lr_j = lr[j].permute(1, 2, 0).numpy()
        hr_j = hr[j].permute(1, 2, 0).numpy()
        expected_lr = np.clip(imresize(lr_j, bh / 16), 0, 1)
        expected_hr = np.clip(imresize(hr_j, bh / 16), 0, 1)
        assert expected_lr.shape[:2] == (bh, bw) and expected_hr.shape[:2] == (SCALE * bh, SCALE * bw)
        np.testing.assert_allclose(out.lr[i, :, top:top + bh, left:left + bw].permute(1, 2, 0).numpy(), expected_lr, atol=1e-12)
        np.testing.assert_allclose(out.hr[i, :, SCALE * top:SCALE * (top + bh), SCALE * left:SCALE * (left + bw)]
                                   .permute(1, 2, 0).numpy(), expected_hr, atol=1e-12)
    assert torch.equal(_outside((top, left, bh, bw), out.lr), _outside((top, left, bh, bw), lr))
    hr_box = tuple(SCALE * v for v in (top, left, bh, bw))
    assert torch.equal(_outside(hr_box, out.hr), _outside(hr_box, hr))


def test_cutblur_pastes_downscaled_hr_inside_or_outside_the_box_and_keeps_hr():
    lr, hr = _batch()
    lr = (lr + 0.05 * torch.randn(lr.shape, generator=_gen(9), dtype=lr.dtype)).clamp(0, 1)   # a "degraded" LR
    hr_lr = torch.from_numpy(np.stack([np.clip(imresize(h.permute(1, 2, 0).numpy(), 1 / SCALE), 0, 1)
                                       for h in hr])).permute(0, 3, 1, 2)
    seen = set()
    for seed in range(8):
        out = CutBlur()(lr, hr, _gen(seed))
        box, inside = out.info["box"], out.info["inside"]
        top, left, bh, bw = box
        assert abs(bh - 0.7 * 16) <= 1.5 and abs(bw - 0.7 * 16) <= 1.5
        assert out.hr is hr
        inner = (..., slice(top, top + bh), slice(left, left + bw))
        if inside:
            torch.testing.assert_close(out.lr[inner], hr_lr[inner], rtol=0, atol=1e-12)
            assert torch.equal(_outside(box, out.lr), _outside(box, lr))
        else:
            assert torch.equal(out.lr[inner], lr[inner])
            torch.testing.assert_close(_outside(box, out.lr), _outside(box, hr_lr), rtol=0, atol=1e-12)
        seen.add(inside)
    assert seen == {True, False}                                       # both directions of the paper


def test_cutblur_reads_hr_from_the_first_channels_of_stacked_targets():
    lr, hr = _batch()
    stacked = torch.cat([hr, 1.0 - hr], dim=1)                        # e.g. HR and HR-USM
    a = CutBlur()(lr, hr, _gen(3))
    b = CutBlur()(lr, stacked, _gen(3))
    assert torch.equal(a.lr, b.lr) and b.hr is stacked


def test_augmentations_keep_dtype_and_reject_misaligned_pairs():
    lr, hr = _batch(dtype=torch.float32)
    for step in (MixUp(), CutMix(), ResizeMix(), CutBlur()):
        out = step(lr, hr, _gen(0))
        assert out.lr.dtype == out.hr.dtype == torch.float32
        assert out.lr.shape == lr.shape and out.hr.shape == hr.shape
        with pytest.raises(ValueError, match="not an integer multiple"):
            step(lr, hr[..., :63, :], _gen(0))


# ---------------------------------------------------------------- selector
def test_same_seed_iteration_rank_give_identical_batches_and_others_differ():
    lr, hr = _batch(dtype=torch.float32)
    moa = BatchAugment(augs=["mixup", "cutmix", "resizemix", "cutblur"], seed=7)
    runs = {}
    for it in range(6):
        a, b = moa(lr, hr, it), BatchAugment(augs=["mixup", "cutmix", "resizemix", "cutblur"], seed=7)(lr, hr, it)
        assert torch.equal(a.lr, b.lr) and torch.equal(a.hr, b.hr) and a.info == b.info
        runs[it] = a
    assert len({repr(r.info) for r in runs.values()}) == 6              # every iteration draws anew
    assert moa(lr, hr, 3, rank=1).info != runs[3].info                  # ranks draw apart
    assert BatchAugment(augs=["mixup", "cutmix", "resizemix", "cutblur"], seed=8)(lr, hr, 3).info != runs[3].info
    g1, g2 = augmentation_generator(7, 3, 0), augmentation_generator(7, 3, 0)
    assert torch.equal(torch.rand(4, generator=g1), torch.rand(4, generator=g2))


def test_selection_follows_the_weights():
    moa = BatchAugment(augs=["none", "mixup", "cutblur"], probs=[3, 0, 1], seed=0)
    picks = [moa.pick(augmentation_generator(0, it)) for it in range(400)]
    assert picks.count("mixup") == 0
    assert 0.68 < picks.count("none") / 400 < 0.82                     # 3/4 expected
    lr, hr = _batch(n=2, dtype=torch.float32)
    out = BatchAugment(augs=["none"])(lr, hr, 5)
    assert out.info == {"aug": "none"} and out.lr is lr and out.hr is hr


def test_augment_batch_moves_hr_usm_with_hr():
    lr, hr = _batch(dtype=torch.float32)
    usm = (hr * 1.1).clamp(0, 1)
    moa = BatchAugment(augs=["cutmix"], seed=1)
    batch, info = moa.augment_batch({"lr": lr, "hr": hr, "hr_usm": usm, "key": ["a", "b", "c", "d"]}, iteration=2)
    top, left, bh, bw = info["box"]
    perm = info["perm"]
    s = SCALE
    for i, j in enumerate(perm):
        assert torch.equal(batch["hr_usm"][i, :, s * top:s * (top + bh), s * left:s * (left + bw)],
                           usm[j, :, s * top:s * (top + bh), s * left:s * (left + bw)])
    same, _ = BatchAugment(augs=["cutmix"], seed=1).augment_batch({"lr": lr, "hr": hr}, iteration=2)
    assert torch.equal(same["hr"], batch["hr"]) and torch.equal(same["lr"], batch["lr"])
    assert batch["key"] == ["a", "b", "c", "d"] and "hr_usm" not in same


@pytest.mark.parametrize("kwargs, start", [
    ({"augs": ["mixpu"]}, "train.batch_augment.augs: unknown batch augmentation 'mixpu' (did you mean 'mixup'?)"),
    ({"augs": []}, "train.batch_augment.augs: expected at least one"),
    ({"augs": ["mixup", "mixup"]}, "train.batch_augment.augs: each name may appear once"),
    ({"augs": ["mixup", "none"], "probs": [1.0]}, "train.batch_augment.probs: expected 2 weights"),
    ({"augs": ["mixup", "none"], "probs": [1.0, -1.0]}, "train.batch_augment.probs: expected numbers >= 0"),
    ({"augs": ["mixup"], "probs": [0.0]}, "train.batch_augment.probs: expected numbers >= 0 with a positive sum"),
    ({"augs": ["mixup"], "options": {"cutmix": {"alpha": 0.5}}}, "train.batch_augment.options: unknown entry"),
    ({"augs": ["mixup"], "options": {"mixup": {"alpah": 0.5}}},
     "train.batch_augment.options.mixup: unknown option 'alpah' (did you mean 'alpha'?)"),
    ({"augs": ["mixup"], "options": {"mixup": 0.5}}, "train.batch_augment.options.mixup: expected a mapping"),
    ({"augs": ["mixup"], "options": {"mixup": {"alpha": 0}}}, "train.batch_augment.options.mixup.alpha: expected a value > 0"),
    ({"augs": ["cutmix"], "options": {"cutmix": {"alpha": 1.5}}}, "train.batch_augment.options.cutmix.alpha: expected a number in [0, 1]"),
    ({"augs": ["cutblur"], "options": {"cutblur": {"alpha": "big"}}}, "train.batch_augment.options.cutblur.alpha: expected a number"),
    ({"augs": ["resizemix"], "options": {"resizemix": {"min_ratio": 0.6, "max_ratio": 0.5}}},
     "train.batch_augment.options.resizemix.max_ratio: must be >= min_ratio"),
])
def test_bad_options_are_one_line_errors(kwargs, start):
    with pytest.raises(OptionError) as err:
        BatchAugment(**kwargs)
    assert str(err.value).startswith(start) and "\n" not in str(err.value)
