"""Bad option files and data stop `train_sr.py` before anything on disk changes (issue 14).

Every case runs against an experiments folder that already holds a finished run of the same name: a
start that fails must leave it exactly as it was (names and bytes; nothing archived, nothing created),
exit 2 and print one `error:` line naming the file or key. train_sr.main runs in this process (the exit
path through a real interpreter is covered in tests/test_bad_input_scripts.py).
"""
from __future__ import annotations

import os
import pickle

import pytest
import torch
import yaml

from bad_input_utils import assert_fails, assert_unchanged, snapshot
from reliability_utils import cli_main, tiny_options, write_options, write_photos
from sr_gan import options
from sr_gan.errors import OptionError
from sr_gan.registry import LOSSES


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    """A finished tiny run `tiny` (checkpoints at 3 and 6, options.yml, train.log) and its option file."""
    root = tmp_path_factory.mktemp("bad_options")
    hr = os.path.dirname(write_photos(root / "hr", count=2, size=48)[0])
    exp = root / "exp"
    yml = write_options(root / "ok.yml", tiny_options(hr, str(exp)))
    assert cli_main(["-opt", yml]) == 0
    assert sorted(os.listdir(exp / "tiny" / "checkpoints")) == ["iter_00000003.pth", "iter_00000006.pth", "latest"]
    return {"root": root, "hr": hr, "exp": exp, "yml": yml}


def _assert_start_fails(capsys, done, argv, *needles) -> str:
    return assert_fails(capsys, "sr_gan.commands.train", argv, *needles, guard=[done["exp"]])


def _variant(done, name: str, **over) -> str:
    """An option file like ok.yml with some sections replaced (raw dict, written as YAML)."""
    return write_options(done["root"] / name, tiny_options(done["hr"], str(done["exp"]), **over))


# ----------------------------------------------------------------------------- element types and lengths

@pytest.mark.parametrize("override, needles", [
    ("train.optim_g.betas=[0.9]", ["train.optim_g.betas", "expected a list of 2 values, got 1: [0.9]"]),
    ("train.optim_g.betas=[0.9, 1.0]", ["train.optim_g.betas[1]", "must be < 1, got 1.0"]),
    ("train.optim_d.betas=[high, 0.9]", ["train.optim_d.betas[0]", "expected float, got str 'high'"]),
    ("train.scheduler.milestones=[300, 200]", ["train.scheduler.milestones", "strictly increasing",
                                               "milestones[1] = 200 after 300"]),
    ("train.scheduler.milestones=[0, 5]", ["train.scheduler.milestones[0]", "must be >= 1, got 0"]),
    ("train.scheduler.milestones=[1.5]", ["train.scheduler.milestones[0]", "expected int, got float 1.5"]),
    ("train.feature_matching.layers=[x]", ["train.feature_matching.layers[0]", "expected int, got str 'x'"]),
    ("train.total_iter=null", ["train.total_iter", "must not be empty (expected int)"]),
    ("imports=[3]", ["imports[0]", "got 3"]),
    ("train.losses=[{type: perceptual, pretrained: false, layers: {conv5_4: high}}]",
     ["train.losses[0].layers.conv5_4", "expected float, got str 'high'"]),
    ("train.losses=[{type: perceptual, pretrained: false, layers: [conv5_4]}]",
     ["train.losses[0].layers", "expected dict of float, got list [conv5_4]"]),
])
def test_element_types_and_lengths(capsys, done, override, needles):
    _assert_start_fails(capsys, done, ["-opt", done["yml"], override], done["yml"], *needles)


class _Shapes(torch.nn.Module):
    """A plugin loss whose constructor annotations declare element types and a length."""

    def __init__(self, pair: tuple[float, float] = (0.1, 0.2), many: list[int] | None = None,
                 table: dict[str, float] | None = None):
        super().__init__()

    def forward(self, sr, target):
        return (sr - target).abs().mean()


if "test_shapes14" not in LOSSES:
    LOSSES.register("test_shapes14", kind="generator")(_Shapes)


@pytest.mark.parametrize("args, problem", [
    ({"pair": [0.5]}, "train.losses[0].pair: expected a list of 2 values, got 1: [0.5]"),
    ({"pair": [0.5, "x"]}, "train.losses[0].pair[1]: expected float, got str 'x'"),
    ({"many": [1, 2.5]}, "train.losses[0].many[1]: expected int, got float 2.5"),
    ({"table": {"a": [1]}}, "train.losses[0].table.a: expected float, got list [1]"),
    ({"pair": None}, "train.losses[0].pair: must not be empty (expected list of 2 float)"),
])
def test_constructor_annotations_give_element_types_and_lengths(args, problem):
    raw = {"name": "t", "scale": 4, "network_g": {"type": "msrresnet"},
           "train": {"losses": [{"type": "test_shapes14", **args}]}}
    with pytest.raises(OptionError) as info:
        options.validate(raw)
    assert str(info.value) == problem
    good = options.validate({**raw, "train": {"losses": [{"type": "test_shapes14", "pair": [1, 0], "many": [3],
                                                          "table": {"a": 2}}]}})
    assert good["train"]["losses"][0]["pair"] == [1.0, 0.0] and good["train"]["losses"][0]["table"] == {"a": 2.0}
    assert all(isinstance(v, float) for v in good["train"]["losses"][0]["pair"])


# ----------------------------------------------------------------------------- rules across sections

@pytest.mark.parametrize("override, needles", [
    ("datasets.train.crop=30", ["datasets.train.crop", "30 is not a multiple of scale 4"]),
    ("scale=3", ["datasets.train.crop", "32 is not a multiple of scale 3"]),
    ("scale=5", ["network_g.scale: msrresnet supports 2, 3, 4, 8; got 5"]),
    ("network_g=null", ["network_g: missing"]),
    ("datasets.train=null", ["datasets.train: empty"]),
    ("datasets.val=null", ["datasets.val: empty"]),
    ("datasets={}", ["datasets.train: missing: training needs a dataset named 'train'"]),
    ("name=../escape", ["name: '../escape' is not a usable experiment name"]),
    ("name=.", ["name: '.' is not a usable experiment name"]),
    ("name=a/b", ["name: 'a/b'"]),
    ("name=", ["name: must not be empty"]),
    ("model=srgan", ["network_d: missing (required by model: srgan)"]),
])
def test_rules_across_sections(capsys, done, override, needles):
    _assert_start_fails(capsys, done, ["-opt", done["yml"], override], *needles)


def test_only_validation_sets_is_not_a_training_run(capsys, done):
    yml = _variant(done, "val_only.yml", datasets={"val": {"type": "paired", "hr": done["hr"]}})
    _assert_start_fails(capsys, done, ["-opt", yml], yml, "datasets.train: missing", "found only validation sets: val")


def test_experiment_folder_path_of_the_wrong_kind(capsys, done):
    blocker = done["exp"] / "blocked"
    blocker.write_text("a file where the experiment folder would go")
    try:
        _assert_start_fails(capsys, done, ["-opt", done["yml"], "name=blocked"], "name:", str(blocker), "is a file")
        _assert_start_fails(capsys, done, ["-opt", done["yml"], f"path.experiments_root={blocker / 'runs'}"],
                     "path.experiments_root:", str(blocker), "is a file")
    finally:
        blocker.unlink()


# ----------------------------------------------------------------------------- duplicate keys

def test_duplicate_keys_name_both_lines(capsys, done):
    text = open(done["yml"]).read()
    dup = done["root"] / "dup.yml"
    dup.write_text(text + "train:\n  total_iter: 2\n")       # a second `train:` would drop the first silently
    first = 1 + next(i for i, line in enumerate(text.splitlines()) if line.startswith("train:"))
    last = len(text.splitlines()) + 1
    _assert_start_fails(capsys, done, ["-opt", dup], str(dup), f"key 'train' appears twice, at line {first} and line {last}")
    nested = done["root"] / "nested.yml"
    nested.write_text(text.replace("  total_iter: 6\n", "  total_iter: 6\n  total_iter: 7\n"))
    _assert_start_fails(capsys, done, ["-opt", nested], str(nested), "key 'total_iter' appears twice")


def test_duplicate_keys_in_a_base_file_and_an_override(capsys, done):
    base = done["root"] / "dup_base.yml"
    base.write_text(open(done["yml"]).read().replace("seed: 7\n", "seed: 7\nseed: 8\n"))
    child = done["root"] / "child.yml"
    child.write_text("base: dup_base.yml\nseed: 1\n")
    _assert_start_fails(capsys, done, ["-opt", child], str(base), "key 'seed' appears twice")
    _assert_start_fails(capsys, done, ["-opt", done["yml"], "train.optim_g={lr: 0.1, lr: 0.2}"],
                 "override 'train.optim_g={lr: 0.1, lr: 0.2}'", "key 'lr' appears twice")


def test_duplicate_keys_in_a_benchmark_file(capsys, done, tmp_path):
    bench = tmp_path / "bench.yml"
    bench.write_text(f"scale: 4\nsets:\n  A: {{hr: {done['hr']}}}\nscale: 2\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("earlier result")
    ckpt = done["exp"] / "tiny" / "checkpoints" / "latest"
    assert_fails(capsys, "sr_gan.commands.test_sr", ["--model", ckpt, "-opt", bench, "--out", out], str(bench),
          "key 'scale' appears twice, at line 1 and line 4", guard=[out, done["exp"]])


# ----------------------------------------------------------------------------- data, weights, plugins, resume

def _bad_val_folder(root) -> str:
    folder = root / "bad_val"
    if not folder.exists():
        paths = write_photos(folder, count=2, size=48)
        data = open(paths[1], "rb").read()
        open(paths[1], "wb").write(data[: len(data) // 2])
    return str(folder)


def test_bad_validation_data_is_found_before_the_folder_changes(capsys, done):
    _assert_start_fails(capsys, done, ["-opt", done["yml"], f"datasets.val.hr={_bad_val_folder(done['root'])}"],
                 "datasets.val.hr", "1 unreadable images", "img1.png (truncated or corrupt)")
    fake = done["root"] / "fake.lmdb"
    fake.mkdir(exist_ok=True)
    (fake / "data.mdb").write_bytes(b"not an lmdb")
    _assert_start_fails(capsys, done, ["-opt", done["yml"], f"datasets.val.hr={fake}"], "datasets.val.hr",
                 str(fake), "has no meta_info.txt")


def test_pretrained_weights_are_loaded_before_the_folder_changes(capsys, done):
    text = done["root"] / "notes.pth"
    text.write_text("these are not weights\n")
    _assert_start_fails(capsys, done, ["-opt", done["yml"], f"path.pretrain_network_g={text}"],
                 "path.pretrain_network_g", str(text), "not a PyTorch checkpoint (text: 'these are not weights')")
    noise = done["root"] / "noise.pth"
    noise.write_bytes(bytes(range(256)) * 8)
    srgan = _variant(done, "srgan.yml", model="srgan")
    _assert_start_fails(capsys, done, ["-opt", srgan, f"path.pretrain_network_d={noise}"],
                 "path.pretrain_network_d", str(noise), "not a PyTorch checkpoint (unrecognised binary data)")
    # the perceptual loss's VGG19 weights (downloads are off in the test suite)
    _assert_start_fails(capsys, done, ["-opt", done["yml"], "train.losses=[{type: perceptual}]"],
                 "train.losses[0].pretrained", "vgg19")


def test_plugins_are_imported_before_the_folder_changes(capsys, done):
    plugin = done["root"] / "broken_plugin.py"
    plugin.write_text("import a_module_that_is_not_installed_14\n")
    _assert_start_fails(capsys, done, ["-opt", done["yml"], f"imports=[{plugin}]"], "imports[0]",
                 "ModuleNotFoundError", "a_module_that_is_not_installed_14")
    _assert_start_fails(capsys, done, ["-opt", done["yml"], "imports=[no_such_plugin_14.py]"], "imports[0]",
                 "'no_such_plugin_14.py' not found")


def test_resume_checkpoints_are_checked_before_the_folder_changes(capsys, done):
    ckpts = done["exp"] / "tiny" / "checkpoints"
    # a checkpoint of this experiment that does not fit another generator size
    _assert_start_fails(capsys, done, ["-opt", done["yml"], "network_g.num_feat=16", "--resume", "latest"],
                 str(ckpts / "iter_00000006.pth"), "does not fit msrresnet")
    _assert_start_fails(capsys, done, ["-opt", done["yml"], "network_g.num_feat=16", "--auto-resume"],
                 str(ckpts / "iter_00000006.pth"), "does not fit msrresnet")
    empty = done["root"] / "empty.pth"
    empty.write_bytes(b"")
    _assert_start_fails(capsys, done, ["-opt", done["yml"], "--resume", empty], str(empty),
                 "not a PyTorch checkpoint (empty file)")


def test_a_cuda_device_that_is_not_there(capsys, done):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    _assert_start_fails(capsys, done, ["-opt", done["yml"], "device=cuda"], "device: cuda requested")


def test_flags_of_train_sr(capsys, done):
    _assert_start_fails(capsys, done, ["-opt", done["root"]], "argument -opt/--opt", "is a folder, expected a file")
    _assert_start_fails(capsys, done, ["-opt", done["yml"], "--resume", done["root"] / "absent.pth"], "argument --resume",
                 "absent.pth' does not exist")
    _assert_start_fails(capsys, done, ["-opt", done["yml"], "--auto_resume"], "unrecognized arguments: --auto_resume",
                 "--help)")


def test_a_good_start_after_all_this_archives_as_before(done):
    """The guard above is not vacuous: a valid start of the same name does archive the old folder."""
    before = snapshot(done["exp"])
    assert cli_main(["-opt", done["yml"], "train.total_iter=1"]) == 0
    archived = [n for n in os.listdir(done["exp"]) if n.startswith("tiny_archived_")]
    assert len(archived) == 1
    moved = {p.replace(os.path.join(str(done["exp"]), archived[0]), os.path.join(str(done["exp"]), "tiny")): v
             for p, v in snapshot(done["exp"] / archived[0]).items()}
    assert moved == {p: v for p, v in before.items() if p != str(done["exp"])}
    # restore the module's experiment for any test that runs after this one
    os.rename(done["exp"] / "tiny", done["exp"] / "tiny_new")
    os.rename(done["exp"] / archived[0], done["exp"] / "tiny")
    import shutil
    shutil.rmtree(done["exp"] / "tiny_new")
    assert_unchanged(before, done["exp"])


def test_a_plain_pickle_is_still_refused_without_running(capsys, done):
    marker = done["root"] / "payload_ran"

    class Payload:
        def __reduce__(self):
            return (os.makedirs, (str(marker),))
    evil = done["root"] / "evil.pkl"
    with open(evil, "wb") as f:
        pickle.dump({"params": Payload()}, f)
    _assert_start_fails(capsys, done, ["-opt", done["yml"], f"path.pretrain_network_g={evil}"], str(evil),
                 "a Python pickle written by pickle.dump, not torch.save; not unpickled")
    assert not marker.exists()


def test_yaml_loader_keeps_merge_keys():
    """`<<:` merges are YAML's own override mechanism, not a duplicate."""
    from sr_gan.utils.yaml_io import load_text
    assert load_text("a: &x {lr: 1, b: 2}\nc:\n  <<: *x\n  lr: 3\n") == {"a": {"lr": 1, "b": 2}, "c": {"lr": 3, "b": 2}}
    assert yaml.safe_load("a: 1\na: 2\n") == {"a": 2}          # what plain safe_load would have done
