"""Issue 10 wired into training: the `degradation:` / `train.batch_augment` sections and their checks, the
model's input step (degrade_step + pool, hr_usm, batch augmentation), HR-only loading, exact resume with the
pool, fixed degraded validation sets, and the Real-ESRGAN option files."""
import math
import os

import numpy as np
import pytest
import torch
from conftest import tiny_options

from sr_gan import options
from sr_gan.augmentations.moa import BatchAugment
from sr_gan.data.bicubic import imresize
from sr_gan.data.paired import PairedDataset
from sr_gan.degradations.pipelines import degrade_step
from sr_gan.degradations.usm import usm_sharp
from sr_gan.errors import OptionError
from sr_gan.registry import DEGRADATIONS, MODELS
from sr_gan.train import build_val_sets, run
from sr_gan.utils import checkpoint as ckpt
from sr_gan.utils.image_io import read_image, tensor_to_img

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REAL = {"type": "realesrgan", "gt_size": 32, "queue_size": 4}
AUG = {"augs": ["none", "mixup", "cutmix", "cutblur"], "probs": [0.1, 0.3, 0.3, 0.3]}


def _real(data, exp, **over):
    """A tiny sr run on 64 px HR crops degraded to 32 px GT / 8 px LR, pool of 4 (2 batches), augmentations."""
    base = dict(degradation=dict(REAL), datasets__train__crop=64, datasets__train__batch=2,
                train__batch_augment=dict(AUG), train__ema_decay=0.9, train__total_iter=6, save__freq=3)
    base.update(over)
    return tiny_options(data, exp, **base)


# ----------------------------------------------------------------------------- options

def test_sections_default_off_and_fill_what_ran(tiny_sr_data, tmp_path):
    plain = tiny_options(tiny_sr_data, str(tmp_path))
    assert plain["degradation"] is None and plain["train"]["batch_augment"] is None
    opt = tiny_options(tiny_sr_data, str(tmp_path), degradation={"type": "realesrgan", "gt_size": 32, "queue_size": 0},
                       train__batch_augment={}, datasets__train__crop=64)
    assert opt["degradation"] == {"type": "realesrgan", "gt_size": 32, "queue_size": 0}
    assert opt["train"]["batch_augment"] == {"augs": ["none", "mixup", "cutmix", "resizemix", "cutblur"],
                                             "probs": None, "options": None}
    assert opt["datasets"]["val"]["degrade"] is False and opt["datasets"]["val"]["degrade_seed"] == 0


@pytest.mark.parametrize("over, message", [
    (dict(degradation={"type": "realesrgan", "gt_size": 48}),
     "degradation.gt_size: 48 is larger than datasets.train.crop 32"),
    (dict(degradation={"type": "realesrgan", "gt_size": 32, "queue_size": 12}),
     "degradation.queue_size: 12 must be a multiple of datasets.train.batch 8"),
    (dict(degradation={"type": "realesrgan", "gt_size": None}, datasets__train__crop=None),
     "datasets.train.crop: needed with a degradation: pipeline"),
    (dict(degradation={"type": "realesrgan", "gt_size": 32}, datasets__train__lr="/somewhere"),
     "datasets.train.lr: not used with a degradation: pipeline"),
    (dict(degradation={"type": "realesrgan", "jpeg_range": [95, 30]}),
     "degradation.jpeg_range: low must be <= high"),
    (dict(degradation={"type": "realesrgan", "jpeg_rnage": [30, 95]}),
     "degradation.jpeg_rnage: unknown option (did you mean 'jpeg_range'?)"),
    (dict(degradation={"type": "realesrgn"}), "degradation.type: unknown degradation pipeline 'realesrgn' (did you mean"),
    (dict(datasets__val__degrade=True), "datasets.val.degrade: needs a top-level degradation: section"),
    (dict(degradation={"type": "bsrgan", "gt_size": 32}, datasets__train__degrade=True),
     "datasets.train.degrade: only for validation sets"),
    (dict(degradation={"type": "bsrgan", "gt_size": 32}, datasets__val__degrade=True, datasets__val__lr="/x"),
     "datasets.val.lr: not used with degrade: true"),
    (dict(train__batch_augment={"augs": ["mixup", "cutblr"]}),
     "train.batch_augment.augs: unknown batch augmentation 'cutblr' (did you mean 'cutblur'?)"),
    (dict(train__batch_augment={"aug": ["mixup"]}), "train.batch_augment.aug: unknown option (did you mean 'augs'?)"),
    (dict(train__batch_augment={"augs": ["mixup"], "probs": [0.5, 0.5]}), "train.batch_augment.probs: expected 1 weights"),
    (dict(train__batch_augment={"augs": "mixup"}), "train.batch_augment.augs: expected list, got str"),
    (dict(train__batch_augment={"seed": 3}), "train.batch_augment.seed: unknown option"),
])
def test_combination_errors_are_one_line_naming_the_key(tiny_sr_data, tmp_path, over, message):
    with pytest.raises(OptionError) as e:
        tiny_options(tiny_sr_data, str(tmp_path), **over)
    assert message in str(e.value) and "\n" not in str(e.value), str(e.value)


def test_usm_target_is_valid_with_and_without_a_pipeline(tiny_sr_data, tmp_path):
    terms = [{"type": "l1", "weight": 1.0, "target": "hr_usm"}]
    plain = tiny_options(tiny_sr_data, str(tmp_path), train__losses=terms)
    piped = tiny_options(tiny_sr_data, str(tmp_path), train__losses=terms, datasets__train__crop=64,
                         degradation={"type": "bsrgan", "gt_size": 32})
    assert plain["degradation"] is None and piped["degradation"]["type"] == "bsrgan"
    assert plain["train"]["losses"][0]["target"] == piped["train"]["losses"][0]["target"] == "hr_usm"


def test_an_option_file_error_names_the_file(tmp_path):
    path = tmp_path / "bad.yml"
    path.write_text("name: x\nscale: 4\ndatasets: {train: {hr: /h, crop: 64, batch: 4}}\n"
                    "network_g: {type: msrresnet}\ndegradation: {type: realesrgan, gt_size: 128}\n")
    with pytest.raises(OptionError, match=rf"^{path}: degradation.gt_size: 128 is larger than datasets.train.crop 64"):
        options.load(str(path), check_paths=False)


# ----------------------------------------------------------------------------- HR-only loading

def test_hr_only_items_are_the_paired_crops_without_computing_an_lr(tiny_sr_data, monkeypatch):
    folder = f"{tiny_sr_data}/train/HR"
    paired, hr_only = PairedDataset(folder, crop=64), PairedDataset(folder, crop=64, hr_only=True)
    expected = [paired[(i, 100 + i)]["hr"] for i in range(4)]
    import sr_gan.data.paired as paired_mod

    def no_resize(*a, **k):
        raise AssertionError("hr_only must not compute a bicubic LR")
    monkeypatch.setattr(paired_mod, "imresize", no_resize)
    for i in range(4):
        item = hr_only[(i, 100 + i)]
        assert set(item) == {"hr", "key"}
        assert torch.equal(item["hr"], expected[i])         # the same crop and flips, drawn alike


# ----------------------------------------------------------------------------- the model's input step

def _hr_batches(n: int, size: int = 64) -> list[torch.Tensor]:
    from skimage import data
    photo = torch.from_numpy(data.astronaut()).permute(2, 0, 1).float() / 255
    return [torch.stack([photo[:, 40 * k + 9 * j:40 * k + 9 * j + size, 30 * j + 60:30 * j + 60 + size]
                         for j in range(2)]) for k in range(n)]


def test_feed_data_is_degrade_step_then_usm_then_batch_augment(tiny_sr_data, tmp_path):
    opt = _real(tiny_sr_data, str(tmp_path), train__losses=[{"type": "l1", "weight": 1.0, "target": "hr_usm"}],
                train__batch_augment={"augs": ["cutblur", "mixup"]})
    model = MODELS.get("sr")(opt, torch.device("cpu"))
    pipe = DEGRADATIONS.build(opt["degradation"], scale=4)
    pool = pipe.make_pool()
    aug = BatchAugment(augs=["cutblur", "mixup"], seed=opt["seed"])
    for it, hr in enumerate(_hr_batches(4), start=1):        # the pool (4 pairs) fills at 2, swaps at 3 and 4
        model.feed_data({"hr": hr}, it)
        d = degrade_step(pipe, hr, opt["seed"], it, 0, pool)
        ref, _ = aug.augment_batch({"lr": d.lr, "hr": d.hr, "hr_usm": d.hr_usm}, it, 0)
        assert model.lr.shape == (2, 3, 8, 8) and model.hr.shape == model.hr_usm.shape == (2, 3, 32, 32)
        for k in ("lr", "hr", "hr_usm"):
            assert torch.equal(getattr(model, k), ref[k]), (it, k)
    assert pool.filled == 4 and model.input_stage.pool.filled == 4


def test_usm_off_in_the_pipeline_still_gives_a_sharpened_target(tiny_sr_data, tmp_path):
    opt = _real(tiny_sr_data, str(tmp_path), degradation={**REAL, "usm": False, "queue_size": 0},
                train__batch_augment=None, train__losses=[{"type": "l1", "weight": 1.0, "target": "hr_usm"}])
    model = MODELS.get("sr")(opt, torch.device("cpu"))
    model.feed_data({"hr": _hr_batches(1)[0]}, 1)
    torch.testing.assert_close(model.hr_usm, usm_sharp(model.hr), rtol=0, atol=0)
    assert not torch.equal(model.hr_usm, model.hr)


def test_the_pool_travels_in_rank_state(tiny_sr_data, tmp_path):
    """A model given another's rank_state() continues its stream exactly; without it, it does not."""
    opt = _real(tiny_sr_data, str(tmp_path))
    batches = _hr_batches(5)
    a = MODELS.get("sr")(opt, torch.device("cpu"))
    for it in (1, 2, 3):
        a.feed_data({"hr": batches[it - 1]}, it)
    state = a.rank_state()
    assert state["pool"]["filled"] == 4
    b, fresh = MODELS.get("sr")(opt, torch.device("cpu")), MODELS.get("sr")(opt, torch.device("cpu"))
    b.load_rank_state(state)
    for m in (a, b, fresh):
        m.feed_data({"hr": batches[4]}, 5)
    assert torch.equal(a.lr, b.lr) and torch.equal(a.hr, b.hr)
    assert not torch.equal(a.lr, fresh.lr)      # the fresh pool passes the new batch through instead


def _nets(root, name, it):
    return ckpt.load_checkpoint(str(root / name / "checkpoints" / f"iter_{it:08d}.pth"))


def test_three_plus_three_iterations_equal_six_with_degradations_pool_and_augmentations(tiny_sr_data, tmp_path):
    exp = str(tmp_path / "exp")
    run(_real(tiny_sr_data, exp, name="full"))
    run(_real(tiny_sr_data, exp, name="part", train__total_iter=3))
    run(_real(tiny_sr_data, exp, name="part"), resume="latest")
    # the same resume with the pool dropped from the checkpoint must differ (the pool is real state)
    run(_real(tiny_sr_data, exp, name="nopool", train__total_iter=3))
    path = str(tmp_path / "exp" / "nopool" / "checkpoints" / ckpt.checkpoint_name(3))
    state = ckpt.load_checkpoint(path)
    assert state["per_rank"][0]["pool"]["filled"] == 4
    state["per_rank"][0].pop("pool")
    torch.save(state, path)
    run(_real(tiny_sr_data, exp, name="nopool"), resume="latest")
    run(_real(tiny_sr_data, exp, name="plain", degradation=None, train__batch_augment=None))
    root = tmp_path / "exp"
    full, part, nopool, plain = (_nets(root, n, 6) for n in ("full", "part", "nopool", "plain"))
    for net in ("g", "g_ema"):
        for k, v in full["nets"][net].items():
            assert torch.equal(v, part["nets"][net][k]), (net, k)
    for k, v in full["per_rank"][0]["pool"].items():
        other = part["per_rank"][0]["pool"][k]
        assert (torch.equal(v["u8"], other["u8"]) if isinstance(v, dict) else v == other), k
    assert any(not torch.equal(v, nopool["nets"]["g"][k]) for k, v in full["nets"]["g"].items())
    assert any(not torch.equal(v, plain["nets"]["g"][k]) for k, v in full["nets"]["g"].items())


# ----------------------------------------------------------------------------- degraded validation

def _y_psnr(a: np.ndarray, b: np.ndarray, border: int) -> float:
    """Independent: MATLAB BT.601 Y (16 + 65.481 R + 128.553 G + 24.966 B), border cropped, peak 255."""
    y = lambda im: 16.0 + im[..., 0] * 65.481 + im[..., 1] * 128.553 + im[..., 2] * 24.966  # noqa: E731
    d = (y(a.astype(np.float64)) - y(b.astype(np.float64)))[border:-border, border:-border]
    return 10 * math.log10(255.0 ** 2 / float(np.mean(d ** 2)))


def test_degraded_validation_set_is_fixed_and_scored_against_bicubic_of_its_lr(tiny_sr_data, tmp_path):
    opt = tiny_options(tiny_sr_data, str(tmp_path), degradation=dict(REAL), datasets__train__crop=64,
                       datasets__train__batch=2, datasets__val__degrade=True, datasets__val__degrade_seed=5)
    ds = build_val_sets(opt)["val"]
    item = ds[0]
    hr, _ = read_image(f"{tiny_sr_data}/val/HR/coffee.png")
    hr_t = torch.from_numpy(np.ascontiguousarray(hr.transpose(2, 0, 1))).float()
    assert torch.equal(item["hr"], hr_t)
    pipe = DEGRADATIONS.build({**REAL, "gt_size": None}, scale=4)
    ref = degrade_step(pipe, hr_t[None], 5, 0).lr[0]
    assert item["lr"].shape == (3, 24, 24) and torch.equal(item["lr"], ref)
    assert torch.equal(torch.round(item["lr"] * 255) / 255, item["lr"])              # 8-bit grid
    assert ds[0]["lr"] is item["lr"] and torch.equal(build_val_sets(opt)["val"][0]["lr"], item["lr"])
    other_seed = tiny_options(tiny_sr_data, str(tmp_path), degradation=dict(REAL), datasets__train__crop=64,
                              datasets__train__batch=2, datasets__val__degrade=True, datasets__val__degrade_seed=6)
    assert not torch.equal(build_val_sets(other_seed)["val"][0]["lr"], item["lr"])

    from sr_gan.validation import build_metrics, evaluate
    model = MODELS.get("sr")(opt, torch.device("cpu"))
    result = evaluate(model, ds, build_metrics(["psnr"], 4, True, "cpu"), 4, baseline_cache={})
    lr = tensor_to_img(item["lr"])
    expected = _y_psnr(np.clip(imresize(lr, 4), 0, 1), hr, 4)
    clean = _y_psnr(np.clip(imresize(np.clip(imresize(hr, 1 / 4), 0, 1), 4), 0, 1), hr, 4)
    assert abs(result["bicubic"]["psnr"] - expected) < 0.02, (result["bicubic"]["psnr"], expected)
    assert clean - expected > 1.0            # it is the degraded LR that was upsampled, not the clean one


# ----------------------------------------------------------------------------- Real-ESRGAN option files

# Transcribed from xinntao/Real-ESRGAN options/train_realesrgan_x4plus.yml (model part and dataset part).
REAL_ESRGAN_KEYS = {
    "resize_prob": [0.2, 0.7, 0.1], "resize_range": [0.15, 1.5], "gaussian_noise_prob": 0.5, "noise_range": [1, 30],
    "poisson_scale_range": [0.05, 3], "gray_noise_prob": 0.4, "jpeg_range": [30, 95], "second_blur_prob": 0.8,
    "resize_prob2": [0.3, 0.4, 0.3], "resize_range2": [0.3, 1.2], "gaussian_noise_prob2": 0.5, "noise_range2": [1, 25],
    "poisson_scale_range2": [0.05, 2.5], "gray_noise_prob2": 0.4, "jpeg_range2": [30, 95], "gt_size": 256,
    "queue_size": 180, "blur_kernel_size": 21,
    "kernel_list": ["iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso"],
    "kernel_prob": [0.45, 0.25, 0.12, 0.03, 0.12, 0.03], "sinc_prob": 0.1, "blur_sigma": [0.2, 3],
    "betag_range": [0.5, 4], "betap_range": [1, 2], "blur_kernel_size2": 21,
    "kernel_list2": ["iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso"],
    "kernel_prob2": [0.45, 0.25, 0.12, 0.03, 0.12, 0.03], "sinc_prob2": 0.1, "blur_sigma2": [0.2, 1.5],
    "betag_range2": [0.5, 4], "betap_range2": [1, 2], "final_sinc_prob": 0.8,
}


def test_realesrnet_and_realesrgan_option_files_carry_real_esrgans_values():
    net = options.load(os.path.join(ROOT, "options", "realesrnet_x4plus.yml"), check_paths=False)
    gan = options.load(os.path.join(ROOT, "options", "realesrgan_x4plus.yml"), check_paths=False)
    for opt in (net, gan):
        assert opt["degradation"]["type"] == "realesrgan" and opt["degradation"]["usm"] is True
        for k, v in REAL_ESRGAN_KEYS.items():
            assert opt["degradation"][k] == v, k
        assert opt["network_g"] == {"type": "rrdbnet", "num_feat": 64, "num_block": 23, "num_grow_ch": 32}
        assert opt["datasets"]["train"]["batch"] == 12 and opt["datasets"]["train"]["rot"] is False
        assert opt["train"]["ema_decay"] == 0.999 and opt["train"]["scheduler"]["gamma"] == 0.5
        assert opt["train"]["scheduler"]["warmup_iter"] == 0
    assert net["model"] == "sr" and net["train"]["optim_g"]["lr"] == 2e-4 and net["train"]["total_iter"] == 1_000_000
    assert net["train"]["scheduler"]["milestones"] == [1_000_000]
    assert [(t["type"], t["weight"], t["target"]) for t in net["train"]["losses"]] == [("l1", 1.0, "hr_usm")]
    assert gan["model"] == "srgan" and gan["network_d"] == {"type": "unet_sn", "num_feat": 64, "skip_connection": True,
                                                            "conditional": False}
    assert gan["train"]["optim_g"]["lr"] == gan["train"]["optim_d"]["lr"] == 1e-4
    assert gan["train"]["total_iter"] == 400_000 and gan["train"]["scheduler"]["milestones"] == [400_000]
    l1, percep = gan["train"]["losses"]
    assert (l1["type"], l1["weight"], l1["target"]) == ("l1", 1.0, "hr_usm")
    assert (percep["type"], percep["weight"], percep["target"]) == ("perceptual", 1.0, "hr_usm")
    assert percep["layers"] == {"conv1_2": 0.1, "conv2_2": 0.1, "conv3_4": 1.0, "conv4_4": 1.0, "conv5_4": 1.0}
    assert percep["criterion"] == "l1" and percep["before_relu"] is True and percep["use_input_norm"] is True
    g = gan["train"]["gan"]
    assert (g["type"], g["weight"], g["target"], g["relativistic"]) == ("vanilla", 0.1, "hr", False)
    assert gan["train"]["d_update"] == {"ratio": 1.0, "init_iters": 0}
    assert gan["path"]["pretrain_network_g"] == "experiments/realesrnet_x4plus/checkpoints/latest"


def test_realesrgan_option_file_trains_end_to_end_on_cpu(tiny_sr_data, tmp_path):
    """The real file, shrunk by overrides only (networks, sizes, iterations, paths): D, losses, targets and
    the pipeline's keys are the file's."""
    over = [f"datasets.train.hr={tiny_sr_data}/train/HR", "datasets.train.crop=64", "datasets.train.batch=2",
            "datasets.train.workers=0", f"datasets.val.hr={tiny_sr_data}/val/HR",
            "degradation.gt_size=32", "degradation.queue_size=4", "network_g.num_feat=8", "network_g.num_block=1",
            "network_g.num_grow_ch=4", "network_d.num_feat=8", "train.losses.perceptual.pretrained=false",
            "train.total_iter=2", "path.pretrain_network_g=null", f"path.experiments_root={tmp_path}",
            "logger.use_tb=false", "logger.print_freq=1", "val.save_images=false", "device=cpu"]
    opt = options.load(os.path.join(ROOT, "options", "realesrgan_x4plus.yml"), over)
    with pytest.warns(UserWarning, match="random"):       # perceptual loss without ImageNet weights
        result = run(opt)
    log = (tmp_path / opt["name"] / "train.log").read_text()
    for key in ("l_g_l1", "l_g_perceptual", "l_g_gan", "l_d_gan"):
        assert f"{key}=" in log
    assert math.isfinite(result["val"]["model"]["psnr"]) and math.isfinite(result["val"]["bicubic"]["psnr"])


def test_demo_real_option_file_trains_and_validates_on_degraded_photos(tiny_sr_data, tmp_path):
    """options/demo_real.yml as shipped (pipeline ranges, pool, degraded validation), on the tiny photos and
    for 2 iterations: the validation LR comes from the pipeline with the file's fixed seed."""
    over = [f"datasets.train.hr={tiny_sr_data}/train/HR", "datasets.train.crop=64", "datasets.train.batch=2",
            "datasets.train.workers=0", f"datasets.val.hr={tiny_sr_data}/val/HR", "degradation.gt_size=32",
            "degradation.queue_size=4", "train.total_iter=2", f"path.experiments_root={tmp_path}",
            "logger.use_tb=false", "val.save_images=false"]
    opt = options.load(os.path.join(ROOT, "options", "demo_real.yml"), over)
    assert opt["datasets"]["val"]["degrade"] is True and opt["degradation"]["type"] == "realesrgan"
    result = run(opt)
    assert math.isfinite(result["val"]["model"]["psnr"])
    # bicubic of the degraded LR, not of a clean MATLAB-bicubic LR: the score is far below the clean one
    clean = run(options.load(os.path.join(ROOT, "options", "demo_real.yml"),
                             over + ["datasets.val.degrade=false", "name=demo_real_clean"]))
    assert result["val"]["bicubic"]["psnr"] < clean["val"]["bicubic"]["psnr"] - 0.5
