"""scripts/convert_options.py on BasicSR's and Real-ESRGAN's published training option files, written here key by
key from their documented content (BasicSR options/train/ESRGAN/train_ESRGAN_x4.yml, Real-ESRGAN
options/train_realesrgan_x4plus.yml): every key converted, noted or listed, never dropped; the ESRGAN file
passes validation and trains 2 iterations."""
import os
import re
import subprocess
import sys

import numpy as np
import yaml

from reliability_utils import REPO, cli_env, write_photos
from sr_gan.convert import convert
from sr_gan.utils.checkpoint import load_checkpoint

ESRGAN_X4 = {
    "name": "052_ESRGAN_x4_f64b23_DIV2K_400k_B16G1_051pretrain_wandb",
    "model_type": "ESRGANModel",
    "scale": 4,
    "num_gpu": 1,
    "manual_seed": 0,
    "datasets": {
        "train": {"name": "DIV2K", "type": "PairedImageDataset",
                  "dataroot_gt": "datasets/DIV2K/DIV2K_train_HR_sub",
                  "dataroot_lq": "datasets/DIV2K/DIV2K_train_LR_bicubic/X4_sub",
                  "filename_tmpl": "{}", "io_backend": {"type": "disk"},
                  "gt_size": 128, "use_flip": True, "use_rot": True,
                  "use_shuffle": True, "num_worker_per_gpu": 6, "batch_size_per_gpu": 16,
                  "dataset_enlarge_ratio": 100, "prefetch_mode": None},
        "val": {"name": "Set14", "type": "PairedImageDataset", "dataroot_gt": "datasets/Set14/GTmod12",
                "dataroot_lq": "datasets/Set14/LRbicx4", "io_backend": {"type": "disk"}},
    },
    "network_g": {"type": "RRDBNet", "num_in_ch": 3, "num_out_ch": 3, "num_feat": 64, "num_block": 23},
    "network_d": {"type": "VGGStyleDiscriminator", "num_in_ch": 3, "num_feat": 64},
    "path": {"pretrain_network_g":
             "experiments/051_RRDBNet_PSNR_x4_f64b23_DIV2K_1000k_B16G1_wandb/models/net_g_1000000.pth",
             "strict_load_g": True, "resume_state": None},
    "train": {
        "ema_decay": 0.999,
        "optim_g": {"type": "Adam", "lr": 1e-4, "weight_decay": 0, "betas": [0.9, 0.99]},
        "optim_d": {"type": "Adam", "lr": 1e-4, "weight_decay": 0, "betas": [0.9, 0.99]},
        "scheduler": {"type": "MultiStepLR", "milestones": [50000, 100000, 200000, 300000], "gamma": 0.5},
        "total_iter": 400000,
        "warmup_iter": -1,
        "pixel_opt": {"type": "L1Loss", "loss_weight": 1e-2, "reduction": "mean"},
        "perceptual_opt": {"type": "PerceptualLoss", "layer_weights": {"conv5_4": 1}, "vgg_type": "vgg19",
                           "use_input_norm": True, "range_norm": False, "perceptual_weight": 1.0,
                           "style_weight": 0, "criterion": "l1"},
        "gan_opt": {"type": "GANLoss", "gan_type": "vanilla", "real_label_val": 1.0, "fake_label_val": 0.0,
                    "loss_weight": 5e-3},
        "net_d_iters": 1,
        "net_d_init_iters": 0,
    },
    "val": {"val_freq": 5e3, "save_img": True,
            "metrics": {"psnr": {"type": "calculate_psnr", "crop_border": 4, "test_y_channel": False}}},
    "logger": {"print_freq": 100, "save_checkpoint_freq": 5e3, "use_tb_logger": True,
               "wandb": {"project": None, "resume_id": None}},
    "dist_params": {"backend": "nccl", "port": 29500},
}

KERNELS = ["iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso"]
KERNEL_PROB = [0.45, 0.25, 0.12, 0.03, 0.12, 0.03]
REALESRGAN_X4PLUS = {
    "name": "train_RealESRGANx4plus_400k_B12G4_fromRealESRNet",
    "model_type": "RealESRGANModel",
    "scale": 4,
    "num_gpu": 4,
    "manual_seed": 0,
    "l1_gt_usm": True, "percep_gt_usm": True, "gan_gt_usm": False,
    "resize_prob": [0.2, 0.7, 0.1], "resize_range": [0.15, 1.5], "gaussian_noise_prob": 0.5,
    "noise_range": [1, 30], "poisson_scale_range": [0.05, 3], "gray_noise_prob": 0.4, "jpeg_range": [30, 95],
    "second_blur_prob": 0.8, "resize_prob2": [0.3, 0.4, 0.3], "resize_range2": [0.3, 1.2],
    "gaussian_noise_prob2": 0.5, "noise_range2": [1, 25], "poisson_scale_range2": [0.05, 2.5],
    "gray_noise_prob2": 0.4, "jpeg_range2": [30, 95],
    "gt_size": 256, "queue_size": 180,
    "datasets": {"train": {
        "name": "DF2K+OST", "type": "RealESRGANDataset", "dataroot_gt": "datasets/DF2K",
        "meta_info": "datasets/DF2K/meta_info/meta_info_DF2Kmultiscale+OST_sub.txt", "io_backend": {"type": "disk"},
        "blur_kernel_size": 21, "kernel_list": KERNELS, "kernel_prob": KERNEL_PROB, "sinc_prob": 0.1,
        "blur_sigma": [0.2, 3], "betag_range": [0.5, 4], "betap_range": [1, 2],
        "blur_kernel_size2": 21, "kernel_list2": KERNELS, "kernel_prob2": KERNEL_PROB, "sinc_prob2": 0.1,
        "blur_sigma2": [0.2, 1.5], "betag_range2": [0.5, 4], "betap_range2": [1, 2],
        "final_sinc_prob": 0.8,
        "gt_size": 256, "use_hflip": True, "use_rot": False,
        "use_shuffle": True, "num_worker_per_gpu": 5, "batch_size_per_gpu": 12, "dataset_enlarge_ratio": 1,
        "prefetch_mode": None}},
    "network_g": {"type": "RRDBNet", "num_in_ch": 3, "num_out_ch": 3, "num_feat": 64, "num_block": 23,
                  "num_grow_ch": 32},
    "network_d": {"type": "UNetDiscriminatorSN", "num_in_ch": 3, "num_feat": 64, "skip_connection": True},
    "path": {"pretrain_network_g": "experiments/pretrained_models/RealESRNet_x4plus.pth", "param_key_g": "params_ema",
             "strict_load_g": True, "resume_state": None},
    "train": {
        "ema_decay": 0.999,
        "optim_g": {"type": "Adam", "lr": 1e-4, "weight_decay": 0, "betas": [0.9, 0.99]},
        "optim_d": {"type": "Adam", "lr": 1e-4, "weight_decay": 0, "betas": [0.9, 0.99]},
        "scheduler": {"type": "MultiStepLR", "milestones": [400000], "gamma": 0.5},
        "total_iter": 400000,
        "warmup_iter": -1,
        "pixel_opt": {"type": "L1Loss", "loss_weight": 1.0, "reduction": "mean"},
        "perceptual_opt": {"type": "PerceptualLoss",
                           "layer_weights": {"conv1_2": 0.1, "conv2_2": 0.1, "conv3_4": 1, "conv4_4": 1, "conv5_4": 1},
                           "vgg_type": "vgg19", "use_input_norm": True, "perceptual_weight": 1.0, "style_weight": 0,
                           "range_norm": False, "criterion": "l1"},
        "gan_opt": {"type": "GANLoss", "gan_type": "vanilla", "real_label_val": 1.0, "fake_label_val": 0.0,
                    "loss_weight": 1e-1},
        "net_d_iters": 1,
        "net_d_init_iters": 0,
    },
    "logger": {"print_freq": 100, "save_checkpoint_freq": 5e3, "use_tb_logger": True,
               "wandb": {"project": None, "resume_id": None}},
    "dist_params": {"backend": "nccl", "port": 29500},
}

ADAM = {"type": "adam", "lr": 1e-4, "betas": [0.9, 0.99], "weight_decay": 0}


def _keys(unmapped):
    return sorted(line.split(":", 1)[0] for line in unmapped)


def test_esrgan_x4_converts_key_by_key():
    out = convert(ESRGAN_X4)
    assert out.options == {
        "name": "052_ESRGAN_x4_f64b23_DIV2K_400k_B16G1_051pretrain_wandb", "model": "srgan", "scale": 4, "seed": 0,
        "datasets": {"train": {"type": "paired", "hr": "datasets/DIV2K/DIV2K_train_HR_sub",
                               "lr": "datasets/DIV2K/DIV2K_train_LR_bicubic/X4_sub", "crop": 128, "flip": True,
                               "rot": True, "batch": 16, "workers": 6},
                     "Set14": {"type": "paired", "hr": "datasets/Set14/GTmod12", "lr": "datasets/Set14/LRbicx4"}},
        "network_g": {"type": "rrdbnet", "num_in_ch": 3, "num_out_ch": 3, "num_feat": 64, "num_block": 23},
        "network_d": {"type": "vgg", "num_in_ch": 3, "num_feat": 64},
        "path": {"pretrain_network_g": ESRGAN_X4["path"]["pretrain_network_g"], "strict_load_g": True},
        "train": {"total_iter": 400000, "optim_g": ADAM, "optim_d": ADAM,
                  "scheduler": {"warmup_iter": 0, "type": "multistep", "milestones": [50000, 100000, 200000, 300000],
                                "gamma": 0.5},
                  "ema_decay": 0.999,
                  "losses": [{"type": "l1", "weight": 0.01, "reduction": "mean"},
                             {"type": "perceptual", "weight": 1.0, "layers": {"conv5_4": 1.0}, "use_input_norm": True,
                              "criterion": "l1"}],
                  "gan": {"type": "vanilla", "weight": 0.005, "real_label": 1.0, "fake_label": 0.0, "gen_label": 1.0,
                          "relativistic": True, "detach_mean": True},
                  "d_update": {"ratio": 1.0, "init_iters": 0}},
        "val": {"freq": 5000, "save_images": True, "metrics": ["psnr"], "crop_border": 4, "y_channel": False},
        "logger": {"print_freq": 100, "use_tb": True},
        "save": {"freq": 5000},
    }
    assert _keys(out.unmapped) == ["datasets.train.name", "dist_params", "logger.wandb.project",
                                   "logger.wandb.resume_id", "path.resume_state"]
    assert "logger.wandb.project: null -- null in the source: nothing lost" in out.unmapped
    assert [n.split(" ", 1)[0] for n in out.notes] == ["datasets.train.dataset_enlarge_ratio", "path.param_key_g"]


def test_realesrgan_x4plus_converts_key_by_key():
    out = convert(REALESRGAN_X4PLUS)
    opt = out.options
    degradation = {k: REALESRGAN_X4PLUS[k] for k in (
        "resize_prob", "resize_range", "gaussian_noise_prob", "noise_range", "poisson_scale_range", "gray_noise_prob",
        "jpeg_range", "second_blur_prob", "resize_prob2", "resize_range2", "gaussian_noise_prob2", "noise_range2",
        "poisson_scale_range2", "gray_noise_prob2", "jpeg_range2", "gt_size", "queue_size")}
    degradation.update({k: v for k, v in REALESRGAN_X4PLUS["datasets"]["train"].items() if "kernel" in k or k in (
        "sinc_prob", "blur_sigma", "betag_range", "betap_range", "sinc_prob2", "blur_sigma2", "betag_range2",
        "betap_range2", "final_sinc_prob")})
    assert len(degradation) == 32
    assert opt["degradation"] == {"type": "realesrgan", **degradation}
    assert opt["model"] == "srgan" and opt["scale"] == 4 and opt["seed"] == 0 and "device" not in opt
    assert opt["datasets"] == {"train": {"type": "paired", "hr": "datasets/DF2K", "crop": 400, "flip": True,
                                         "rot": False, "batch": 12, "workers": 5}}
    assert opt["network_g"] == {"type": "rrdbnet", "num_in_ch": 3, "num_out_ch": 3, "num_feat": 64, "num_block": 23,
                                "num_grow_ch": 32}
    assert opt["network_d"] == {"type": "unet_sn", "num_in_ch": 3, "num_feat": 64, "skip_connection": True}
    assert opt["path"] == {"pretrain_network_g": "experiments/pretrained_models/RealESRNet_x4plus.pth",
                           "strict_load_g": True}
    t = opt["train"]
    assert t["losses"] == [
        {"type": "l1", "weight": 1.0, "reduction": "mean", "target": "hr_usm"},
        {"type": "perceptual", "weight": 1.0, "use_input_norm": True, "criterion": "l1", "target": "hr_usm",
         "layers": {"conv1_2": 0.1, "conv2_2": 0.1, "conv3_4": 1.0, "conv4_4": 1.0, "conv5_4": 1.0}}]
    # RealESRGANModel: the standard (not relativistic) GAN, shown the plain HR (gan_gt_usm: False)
    assert t["gan"] == {"type": "vanilla", "weight": 0.1, "real_label": 1.0, "fake_label": 0.0, "gen_label": 1.0}
    assert t["scheduler"] == {"warmup_iter": 0, "type": "multistep", "milestones": [400000], "gamma": 0.5}
    assert (t["total_iter"], t["ema_decay"], t["d_update"]) == (400000, 0.999, {"ratio": 1.0, "init_iters": 0})
    assert opt["logger"] == {"print_freq": 100, "use_tb": True} and opt["save"] == {"freq": 5000}
    assert _keys(out.unmapped) == ["datasets.train.meta_info", "datasets.train.name", "dist_params",
                                   "logger.wandb.project", "logger.wandb.resume_id", "path.resume_state"]
    assert [n.split(" ", 1)[0].rstrip(":") for n in out.notes] == ["num_gpu", "datasets.train"]
    # the written file: the same options, every unmapped key in the comment block at its top
    text = out.text("train_realesrgan_x4plus.yml")
    assert yaml.safe_load(text) == opt
    head = text.split("\n\n", 1)[0]
    assert all(line.startswith("#") for line in head.splitlines())
    assert all(f"#   {u}" in head for u in out.unmapped) and all(f"#   {n}" in head for n in out.notes)


def test_no_key_is_dropped_silently():
    src = yaml.safe_load(yaml.safe_dump(ESRGAN_X4))
    src["train"]["optim_g"]["amsgrad"] = True
    src["network_g"]["upscale"] = 4
    src["network_d"]["num_layers"] = 5
    src["train"]["ldl_opt"] = {"type": "LDLLoss", "loss_weight": 1.0}
    src["datasets"]["val"]["gt_size"] = 96
    src["val"]["metrics"]["niqe"] = {"type": "calculate_niqe", "crop_border": 4, "num_thread": 8}
    src["high_order_degradation"] = True
    out = convert(src)
    assert _keys(out.unmapped) == sorted([
        "datasets.train.name", "dist_params", "logger.wandb.project", "logger.wandb.resume_id", "path.resume_state",
        "train.optim_g.amsgrad", "network_d.num_layers", "train.ldl_opt.type", "train.ldl_opt.loss_weight",
        "datasets.val.gt_size", "val.metrics.niqe.num_thread", "high_order_degradation"])
    assert out.options["val"]["metrics"] == ["psnr", "niqe"]
    assert "network_g.upscale" not in " ".join(out.notes)       # equal to scale: converted, nothing to say


def _pairs(folder, count, size):
    """HR photos and their x4 MATLAB-bicubic LR, as the BasicSR layout has them."""
    from sr_gan.data.bicubic import imresize
    from sr_gan.utils.image_io import read_image, write_image
    hr = folder / "HR"
    for path in write_photos(hr, count=count, size=size):
        img, _ = read_image(path)
        write_image(folder / "LR" / os.path.basename(path), np.clip(imresize(img, 1 / 4), 0, 1))
    return folder / "HR", folder / "LR"


def test_converted_esrgan_x4_validates_and_trains_two_iterations(tmp_path):
    src = tmp_path / "train_ESRGAN_x4.yml"
    src.write_text(yaml.safe_dump(ESRGAN_X4, sort_keys=False))
    train_hr, train_lr = _pairs(tmp_path / "train", 3, 48)
    val_hr, val_lr = _pairs(tmp_path / "val", 1, 48)
    out = tmp_path / "esrgan_sr_gan.yml"
    # the data paths point at the tiny folders; the rest only makes the run CPU-sized (and VGG19 weights
    # cannot be downloaded here): every converted key stays as converted
    sets = [f"datasets.train.hr={train_hr}", f"datasets.train.lr={train_lr}", f"datasets.Set14.hr={val_hr}",
            f"datasets.Set14.lr={val_lr}", f"path.experiments_root={tmp_path / 'exp'}", "path.pretrain_network_g=null",
            "datasets.train.crop=32", "datasets.train.batch=2", "datasets.train.workers=0", "train.total_iter=2",
            "network_g.num_feat=8", "network_g.num_block=1", "network_g.num_grow_ch=8", "network_d.num_feat=8",
            "train.losses.perceptual.pretrained=false", "logger.use_tb=false"]
    env = cli_env()
    conv = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "convert_options.py"), str(src), "-o", str(out),
                           *[a for s in sets for a in ("--set", s)]], capture_output=True, text=True, env=env)
    assert conv.returncode == 0, conv.stderr
    assert "not mapped: datasets.train.name: DIV2K -- " in conv.stderr and f"wrote {out}" in conv.stderr
    written = yaml.safe_load(out.read_text())
    assert written["train"]["gan"]["relativistic"] and written["datasets"]["train"]["crop"] == 32
    run = subprocess.run([sys.executable, os.path.join(REPO, "train_sr.py"), "-opt", str(out)], capture_output=True,
                         text=True, env=env, cwd=tmp_path, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    exp = tmp_path / "exp" / ESRGAN_X4["name"]
    assert (exp / "checkpoints" / "iter_00000002.pth").is_file()
    assert "| Set14 | psnr |" in (exp / "train.log").read_text()


def test_converted_realesrgan_x4plus_validates_and_trains_two_iterations(tmp_path):
    """Real-ESRGAN's file: HR-only data, the degradation section from its keys, USM targets, U-Net SN D."""
    src = tmp_path / "train_realesrgan_x4plus.yml"
    src.write_text(yaml.safe_dump(REALESRGAN_X4PLUS, sort_keys=False))
    hr = os.path.dirname(write_photos(tmp_path / "hr", count=3, size=80)[0])
    out = tmp_path / "realesrgan_sr_gan.yml"
    # data path and CPU-sized overrides only (crop 64 degraded, GT 32 cut, a pool of 2 batches; VGG19 weights
    # cannot be downloaded here): every converted key, the 32 degradation keys included, stays as converted
    sets = [f"datasets.train.hr={hr}", f"path.experiments_root={tmp_path / 'exp'}", "path.pretrain_network_g=null",
            "datasets.train.crop=64", "datasets.train.batch=2", "datasets.train.workers=0", "degradation.gt_size=32",
            "degradation.queue_size=4", "train.total_iter=2", "network_g.num_feat=8", "network_g.num_block=1",
            "network_g.num_grow_ch=8", "network_d.num_feat=8", "train.losses.perceptual.pretrained=false",
            "logger.use_tb=false", "logger.print_freq=1"]
    env = cli_env()
    conv = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "convert_options.py"), str(src), "-o", str(out),
                           *[a for s in sets for a in ("--set", s)]], capture_output=True, text=True, env=env)
    assert conv.returncode == 0, conv.stderr
    written = yaml.safe_load(out.read_text())
    assert written["degradation"]["type"] == "realesrgan" and written["degradation"]["kernel_prob"] == KERNEL_PROB
    assert [t["target"] for t in written["train"]["losses"]] == ["hr_usm", "hr_usm"]
    run = subprocess.run([sys.executable, os.path.join(REPO, "train_sr.py"), "-opt", str(out)], capture_output=True,
                         text=True, env=env, cwd=tmp_path, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    exp = tmp_path / "exp" / REALESRGAN_X4PLUS["name"]
    state = load_checkpoint(str(exp / "checkpoints" / "iter_00000002.pth"))
    assert sorted(state["nets"]) == ["d", "g", "g_ema"] and state["per_rank"][0]["pool"]["filled"] == 4
    log = (exp / "train.log").read_text()
    assert "degradation realesrgan on the device" in log and re.search(r"l_g_gan=\d", log)
