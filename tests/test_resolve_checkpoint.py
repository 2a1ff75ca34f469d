"""One checkpoint resolver (sr_gan.utils.checkpoint.resolve_checkpoint) behind training resume, pretrain
paths, upscale/test/export loading and network interpolation: the same argument means the same file everywhere,
and a bad one is one line naming the argument and the path."""
import os

import pytest
import torch

from reliability_utils import cli_main, tiny_options, write_options, write_photos
from sr_gan.errors import CheckpointError
from sr_gan.utils import checkpoint as ckpt


def _experiment(tmp_path, iters=(2, 4, 6), marker=6):
    folder = tmp_path / "exp" / "run" / "checkpoints"
    folder.mkdir(parents=True)
    for i in iters:
        (folder / ckpt.checkpoint_name(i)).write_bytes(b"x")
    if marker is not None:
        (folder / ckpt.LATEST).write_text(ckpt.checkpoint_name(marker) + "\n")
    return tmp_path / "exp" / "run", folder


def test_every_spelling_of_latest_names_the_same_file(tmp_path):
    exp, folder = _experiment(tmp_path)
    want = str(folder / "iter_00000006.pth")
    for target in (exp, folder, folder / "latest", str(folder / "iter_00000006.pth")):
        assert ckpt.resolve_checkpoint(str(target)) == want, target
    assert ckpt.resolve_checkpoint("latest", experiment_dir=str(exp)) == want
    assert ckpt.resolve_checkpoint(str(folder / "iter_00000002.pth")) == str(folder / "iter_00000002.pth")


def test_marker_names_the_file_and_a_stale_marker_falls_back_to_the_newest(tmp_path):
    exp, folder = _experiment(tmp_path, marker=4)            # a marker may name an older file: it wins
    assert ckpt.resolve_checkpoint(str(exp)) == str(folder / "iter_00000004.pth")
    assert ckpt.candidates(str(folder)) == [str(folder / f"iter_0000000{i}.pth") for i in (4, 6, 2)]
    (folder / "iter_00000004.pth").unlink()                   # names a file that is gone
    assert ckpt.resolve_checkpoint(str(exp)) == str(folder / "iter_00000006.pth")
    (folder / ckpt.LATEST).unlink()                           # no marker at all
    assert ckpt.resolve_checkpoint(str(folder)) == str(folder / "iter_00000006.pth")


def test_errors_name_the_argument_and_the_path(tmp_path):
    with pytest.raises(CheckpointError) as err:
        ckpt.resolve_checkpoint(str(tmp_path / "nope.pth"), what="--model")
    assert str(err.value) == f"--model: {tmp_path / 'nope.pth'}: no such checkpoint file or experiment folder"
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError) as err:
        ckpt.resolve_checkpoint("latest", experiment_dir=str(tmp_path / "empty"), what="--resume")
    assert str(err.value) == f"--resume: latest: no checkpoint (iter_*.pth) in {tmp_path / 'empty' / 'checkpoints'}"


def test_pretrain_resume_model_and_interpolation_all_take_an_experiment_folder(tmp_path, capsys):
    from sr_gan.ablation.interpolation import load_ema_generator
    from sr_gan.inference import load_generator
    hr = os.path.dirname(write_photos(tmp_path / "hr", count=2, size=40)[0])
    exp_root = str(tmp_path / "exp")
    yml = write_options(tmp_path / "a.yml", tiny_options(hr, exp_root, name="a", train__total_iter=4, save__freq=2))
    assert cli_main(["-opt", yml]) == 0
    run_a = os.path.join(exp_root, "a")
    final = torch.load(os.path.join(run_a, "checkpoints", "iter_00000004.pth"), weights_only=True)
    ema = final["nets"]["g_ema"]
    # upscale/test/export and interpolation: the folder means its latest checkpoint, EMA weights
    net, scale, info = load_generator(run_a)
    assert scale == 4 and "iter 4 (g_ema)" in info
    assert all(torch.equal(v, ema[k]) for k, v in net.state_dict().items())
    sd, raw = load_ema_generator(run_a)
    assert raw["iter"] == 4 and all(torch.equal(sd[k], ema[k]) for k in ema)
    from sr_gan.commands import export            # export names its output after the file the folder resolves to
    assert export.main(["--model", run_a, "--format", "safetensors"]) == 0
    assert os.path.isfile(os.path.join(run_a, "checkpoints", "iter_00000004.safetensors"))
    # path.pretrain_network_g: the same folder starts a new run from those weights
    yml_b = write_options(tmp_path / "b.yml", tiny_options(hr, exp_root, name="b", train__total_iter=1,
                                                           path={"experiments_root": exp_root,
                                                                 "pretrain_network_g": run_a}))
    from sr_gan import options
    from sr_gan.models.sr_model import SRModel
    model = SRModel(options.load(yml_b), torch.device("cpu"))
    assert all(torch.equal(v, ema[k]) for k, v in model.net_g.state_dict().items())
    # --resume with the experiment folder of another run is accepted like a file
    assert cli_main(["-opt", yml, "train.total_iter=6", "--resume", run_a]) == 0
    assert "resumed from " + os.path.join(run_a, "checkpoints", "iter_00000004.pth") in open(
        os.path.join(run_a, "train.log")).read()


def test_bad_pretrain_folder_is_one_line_naming_the_option(tmp_path, capsys):
    hr = os.path.dirname(write_photos(tmp_path / "hr", count=2, size=40)[0])
    (tmp_path / "empty_run").mkdir()
    yml = write_options(tmp_path / "c.yml", tiny_options(hr, str(tmp_path / "exp"), name="c", train__total_iter=1,
                                                         path={"experiments_root": str(tmp_path / "exp"),
                                                               "pretrain_network_g": str(tmp_path / "empty_run")}))
    assert cli_main(["-opt", yml]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (f"error: path.pretrain_network_g: {tmp_path / 'empty_run'}: no checkpoint (iter_*.pth) in "
                       f"{tmp_path / 'empty_run'}")
