"""Checkpoints survive crashes and full disks: atomic write, newest K kept, `latest` written after the
rename, auto-resume skips unreadable files by name, a full disk leaves the previous checkpoint intact."""
from __future__ import annotations

import errno
import os
import re
import warnings

import pytest
import torch

from reliability_utils import cli_main, tiny_options, write_options, write_photos
from sr_gan import options
from sr_gan.errors import CheckpointError
from sr_gan.utils import checkpoint as ckpt


def _state(it: int) -> dict:
    return {"iter": it, "nets": {"g": {"w": torch.full((64, 64), float(it))}}}


def _names(folder) -> list[str]:
    return sorted(os.listdir(folder))


def test_save_is_atomic_keeps_newest_k_and_updates_latest(tmp_path, monkeypatch):
    order = []
    real_write, real_replace = ckpt._write_bytes, os.replace
    monkeypatch.setattr(ckpt, "_write_bytes", lambda p, d: (order.append(("write", os.path.basename(p))),
                                                            real_write(p, d))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (order.append(("rename", os.path.basename(b))),
                                                     real_replace(a, b))[1])
    for it in (1, 2, 3, 4):
        ckpt.save_checkpoint(_state(it), str(tmp_path), it, keep=2)
    assert _names(tmp_path) == ["iter_00000003.pth", "iter_00000004.pth", "latest"]
    assert (tmp_path / "latest").read_text() == "iter_00000004.pth\n"
    assert ckpt.load_checkpoint(str(tmp_path / "iter_00000004.pth"))["nets"]["g"]["w"][0, 0] == 4.0
    # per save: temp file written, renamed onto the checkpoint name, and only then the marker
    assert [(op, re.sub(r"tmp\d+$", "tmpPID", n)) for op, n in order[:4]] == [
        ("write", ".iter_00000001.pth.tmpPID"), ("rename", "iter_00000001.pth"),
        ("write", ".latest.tmpPID"), ("rename", "latest")]


def test_disk_full_keeps_previous_checkpoint_and_says_how_much_space(tmp_path, monkeypatch):
    ckpt.save_checkpoint(_state(1), str(tmp_path), 1, keep=3)
    size = len(open(tmp_path / "iter_00000001.pth", "rb").read())

    def full_disk(path, data):          # half the bytes land, then the disk is full
        with open(path, "wb") as f:
            f.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(ckpt, "_write_bytes", full_disk)
    with pytest.raises(CheckpointError) as info:
        ckpt.save_checkpoint(_state(2), str(tmp_path), 2, keep=3)
    msg = str(info.value)
    assert "\n" not in msg and "iter_00000002.pth" in msg and "disk full" in msg
    needed = float(re.search(r"needed ([\d.]+) MiB", msg).group(1))
    assert needed == pytest.approx(size / 2**20, abs=0.05)
    assert _names(tmp_path) == ["iter_00000001.pth", "latest"]          # no temp file, no half checkpoint
    assert (tmp_path / "latest").read_text() == "iter_00000001.pth\n"
    assert ckpt.load_checkpoint(str(tmp_path / "iter_00000001.pth"))["iter"] == 1


def test_other_write_errors_are_not_swallowed(tmp_path, monkeypatch):
    def denied(path, data):
        raise PermissionError(errno.EACCES, "Permission denied")
    monkeypatch.setattr(ckpt, "_write_bytes", denied)
    with pytest.raises(PermissionError):
        ckpt.save_checkpoint(_state(1), str(tmp_path), 1)
    assert _names(tmp_path) == []


def test_newest_loadable_skips_truncated_and_corrupt_with_a_warning_naming_them(tmp_path):
    for it in (1, 2, 3, 4):
        ckpt.save_checkpoint(_state(it), str(tmp_path), it, keep=10)
    data = open(tmp_path / "iter_00000004.pth", "rb").read()
    (tmp_path / "iter_00000004.pth").write_bytes(data[: len(data) // 2])       # truncated
    (tmp_path / "iter_00000003.pth").write_bytes(os.urandom(2000))            # garbage
    torch.save({"weights": torch.zeros(1)}, tmp_path / "iter_00000002.pth")   # loads, but not ours
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path, state = ckpt.newest_loadable(str(tmp_path))
    assert os.path.basename(path) == "iter_00000001.pth" and state["iter"] == 1
    text = [str(w.message) for w in caught]
    assert len(text) == 3 and all(len(t.splitlines()) == 1 for t in text)
    for name, t in zip(("iter_00000004.pth", "iter_00000003.pth", "iter_00000002.pth"), text):
        assert name in t
    assert ckpt.newest_loadable(str(tmp_path / "nothing_here")) is None


def test_stale_temp_files_of_a_killed_write_are_removed_on_next_save(tmp_path):
    (tmp_path / ".iter_00000005.pth.tmp4242").write_bytes(b"half")
    (tmp_path / ".latest.tmp4242").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("mine")
    ckpt.save_checkpoint(_state(6), str(tmp_path), 6)
    assert _names(tmp_path) == ["iter_00000006.pth", "latest", "notes.txt"]


def test_slow_save_hook_pauses_between_write_and_rename(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setenv("SR_GAN_TEST_SLOW_SAVE", "0.01")
    monkeypatch.setattr(ckpt.time, "sleep", lambda s: seen.append((s, _names(tmp_path))))
    ckpt.atomic_write_bytes(str(tmp_path / "x.bin"), b"abc")
    assert seen[0][0] == 0.01 and seen[0][1][0].startswith(".x.bin.tmp")  # temp file there, not renamed
    assert _names(tmp_path) == ["x.bin"]


def test_weights_only_loading_refuses_a_malicious_pickle(tmp_path):
    marker = tmp_path / "payload_ran"

    class Evil:
        def __reduce__(self):
            return (os.makedirs, (str(marker),))
    torch.save({"iter": 1, "nets": Evil()}, tmp_path / "iter_00000001.pth")
    with pytest.raises(CheckpointError) as info:
        ckpt.load_checkpoint(str(tmp_path / "iter_00000001.pth"))
    assert "iter_00000001.pth" in str(info.value) and "\n" not in str(info.value)
    assert not marker.exists()


# ----------------------------------------------------------------------------- the real loop

@pytest.fixture
def tiny(tmp_path):
    hr = os.path.dirname(write_photos(tmp_path / "hr", count=2, size=40)[0])
    return hr, str(tmp_path / "exp")


def test_auto_resume_skips_a_truncated_newest_checkpoint_and_starts_fresh_when_none(tiny, tmp_path, capsys):
    hr, exp = tiny
    opt = tiny_options(hr, exp, name="auto", train__total_iter=6, save__freq=2, save__keep=3)
    yml = write_options(tmp_path / "auto.yml", opt)
    assert cli_main(["-opt", yml, "--auto-resume"]) == 0          # nothing to resume: fresh start
    log_file = os.path.join(exp, "auto", "train.log")
    assert "iterations 0 -> 6" in open(log_file).read() and "resumed" not in open(log_file).read()
    folder = os.path.join(exp, "auto", "checkpoints")
    newest = os.path.join(folder, "iter_00000006.pth")
    data = open(newest, "rb").read()
    open(newest, "wb").write(data[: len(data) // 3])
    opt["train"]["auto_resume"] = True                                  # the option, not the flag
    write_options(yml, opt)
    with pytest.warns(UserWarning, match="iter_00000006.pth"):
        assert cli_main(["-opt", yml, "train.total_iter=8"]) == 0
    assert "resumed from " + os.path.join(folder, "iter_00000004.pth") + " at iteration 4" in open(log_file).read()
    assert ckpt.load_checkpoint(os.path.join(folder, "iter_00000008.pth"))["iter"] == 8


def test_disk_full_in_the_loop_exits_2_with_one_line_and_earlier_checkpoints_intact(tiny, tmp_path, capsys,
                                                                                    monkeypatch):
    hr, exp = tiny
    yml = write_options(tmp_path / "full.yml", tiny_options(hr, exp, name="full", train__total_iter=8,
                                                             save__freq=2, save__keep=5))
    real_write = ckpt._write_bytes

    def disk_fills_up_at_iteration_6(path, data):
        if "iter_00000006" in path:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(path, data)
    monkeypatch.setattr(ckpt, "_write_bytes", disk_fills_up_at_iteration_6)
    assert cli_main(["-opt", yml]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and err.rstrip().endswith(errors[0]) and "Traceback" not in err
    assert "iter_00000006.pth: disk full while saving: needed" in errors[0] and "MiB" in errors[0]
    folder = os.path.join(exp, "full", "checkpoints")
    assert _names(folder) == ["iter_00000002.pth", "iter_00000004.pth", "latest"]
    assert ckpt.load_checkpoint(ckpt.resolve_checkpoint(folder))["iter"] == 4
    assert ckpt.load_checkpoint(os.path.join(folder, "iter_00000002.pth"))["iter"] == 2
    assert options.load(yml)["save"]["keep"] == 5
