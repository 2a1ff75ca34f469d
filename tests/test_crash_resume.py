"""A run killed at any moment and resumed with --auto-resume ends bit-for-bit where an uninterrupted
run ends (CPU, same seed): G, D and EMA weights are torch.equal, and no checkpoint on disk is ever
unloadable. SIGINT/SIGTERM save, exit 130/143 and say how to resume.

Each test starts the uninterrupted reference run in a subprocess first and lets it run alongside the
interrupted chain, so the file costs about as much wall time as the chain alone.
"""
from __future__ import annotations

import os
import re
import signal
import time

import torch

from reliability_utils import (kill_schedule, naming_seed, run_cli, start_cli, tiny_options, write_options,
                               write_photos)
from sr_gan.utils import checkpoint as ckpt

TOTAL = 40


def _wait_for(condition, proc, timeout: float = 90.0, what: str = ""):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        if proc.poll() is not None:
            raise AssertionError(f"run ended (exit {proc.returncode}) before {what}:\n{proc.stderr.read()[-3000:]}")
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def _temp_files(folder) -> list[str]:
    return [f for f in os.listdir(folder) if ckpt._TEMP.match(f)] if os.path.isdir(folder) else []


def _newest_iter(folder) -> int:
    found = ckpt.list_checkpoints(str(folder))
    return int(re.search(r"(\d+)", os.path.basename(found[0])).group(1)) if found else 0


def _assert_every_checkpoint_loads(folder) -> None:
    files = ckpt.list_checkpoints(str(folder))
    for path in files:
        state = ckpt.load_checkpoint(path)          # raises on a truncated / half-written file
        assert state["iter"] == int(re.search(r"(\d+)", os.path.basename(path)).group(1))
    marker = os.path.join(folder, ckpt.LATEST)
    if os.path.exists(marker):
        ckpt.load_checkpoint(ckpt.resolve_checkpoint(str(folder)))


def _kill(proc) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL


def _assert_same_final_weights(ref_dir, run_dir, nets: tuple[str, ...], total: int = TOTAL) -> dict:
    a = ckpt.load_checkpoint(os.path.join(ref_dir, "checkpoints", ckpt.checkpoint_name(total)))
    b = ckpt.load_checkpoint(os.path.join(run_dir, "checkpoints", ckpt.checkpoint_name(total)))
    assert sorted(a["nets"]) == sorted(nets) == sorted(b["nets"])
    for net in nets:
        for key, value in a["nets"][net].items():
            assert torch.equal(value, b["nets"][net][key]), f"{net}.{key} differs after resume"
    assert any(not torch.equal(v, a["nets"]["g"][k]) for k, v in a["nets"]["g_ema"].items())  # EMA is not G
    return b


def _kill_chain(crash_yml: str, ckdir: str, modes: tuple[str, ...], rnd) -> list[int]:
    """Start the run with --auto-resume and SIGKILL it once per mode: 'save' inside a checkpoint write,
    'step' between training steps. Returns the iteration each run started from."""
    resumed_at = []
    for mode in modes:
        start = _newest_iter(ckdir)
        resumed_at.append(start)
        slow = {"SR_GAN_TEST_SLOW_SAVE": "0.4"} if mode == "save" else {}
        proc = start_cli(["-opt", crash_yml, "--auto-resume"], **slow)
        if mode == "save":     # SIGKILL while a checkpoint's temp file is written but not yet renamed
            # a fresh run must complete one checkpoint first, or the next run starts over instead of resuming
            target = start + 2 * rnd.randint(1 if start else 2, 3)
            # only this process's temp files: a stale one left by an earlier kill must not count
            _wait_for(lambda: any(int(re.search(r"(\d+)", f).group(1)) >= target for f in _temp_files(ckdir)
                                  if f.startswith(".iter_") and f.endswith(f".tmp{proc.pid}")),
                      proc, what=f"a checkpoint write >= {target}")
        else:                  # SIGKILL somewhere in the middle of training steps
            _wait_for(lambda: _newest_iter(ckdir) > start, proc, what="training progress")
            time.sleep(rnd.uniform(0.0, 0.3))
        _kill(proc)
        if mode == "save":
            assert _temp_files(ckdir), "the kill did not land inside a checkpoint write"
        _assert_every_checkpoint_loads(ckdir)
    return resumed_at


def test_sigkill_during_steps_and_saves_then_auto_resume_is_bit_exact(tmp_path):
    """srgan (vgg D, wgan_gp: its interpolation draws from torch's RNG, perceptual loss, EMA, warm-up +
    cosine lr): killed twice inside a checkpoint write and once between, with 1 loader worker, vs an
    uninterrupted run with 0 workers."""
    seed, rnd = kill_schedule("test_sigkill_during_steps_and_saves_then_auto_resume_is_bit_exact")
    with naming_seed(seed):
        exp, ckdir, resumes, resumed_at = _chain_against_reference(tmp_path, rnd, 48, ("save", "step", "save"),
                                                                   model="srgan")
        assert len(resumes) == 3 and resumes == sorted(resumes) and resumes[0] > 0, (resumes, resumed_at)
        assert not _temp_files(ckdir)                  # stale temp files of killed writes are cleaned up
        _assert_every_checkpoint_loads(ckdir)
        assert len(ckpt.list_checkpoints(ckdir)) == 2  # save.keep
        _assert_same_final_weights(os.path.join(exp, "ref"), os.path.join(exp, "crash"), ("d", "g", "g_ema"))


def _chain_against_reference(tmp_path, rnd, size: int, modes: tuple[str, ...], total: int = TOTAL, **common):
    """Start the uninterrupted reference run, kill the crash run once per mode, finish it with
    --auto-resume; returns (experiments folder, checkpoint folder, iterations resumed from per the log,
    iterations each killed run started from)."""
    hr = os.path.dirname(write_photos(tmp_path / "hr", count=3, size=size)[0])
    exp = str(tmp_path / "exp")
    common = dict(train__total_iter=total, save__freq=2, save__keep=2, **common)
    ref_yml = write_options(tmp_path / "ref.yml", tiny_options(hr, exp, name="ref", **common))
    crash_yml = write_options(tmp_path / "crash.yml", tiny_options(hr, exp, name="crash", **common,
                                                                    datasets__train__workers=1))
    reference = start_cli(["-opt", ref_yml])
    ckdir = os.path.join(exp, "crash", "checkpoints")
    resumed_at = _kill_chain(crash_yml, ckdir, modes, rnd)
    final = run_cli(["-opt", crash_yml, "--auto-resume"])
    assert final.returncode == 0, final.stderr[-3000:]
    assert reference.wait(timeout=120) == 0, reference.stderr.read()[-3000:]
    reference.stderr.close()
    log = open(os.path.join(exp, "crash", "train.log"), encoding="utf-8").read()
    resumes = [int(n) for n in re.findall(r"resumed from .* at iteration (\d+)", log)]
    return exp, ckdir, resumes, resumed_at


def test_sigint_and_sigterm_save_exit_cleanly_and_resume_exactly(tmp_path):
    """sr model: SIGINT -> checkpoint + exit 130, SIGTERM -> checkpoint + exit 143, each with the
    resume command; resuming twice still matches the uninterrupted run bit for bit."""
    hr = os.path.dirname(write_photos(tmp_path / "hr", count=3, size=48)[0])
    exp = str(tmp_path / "exp")
    common = dict(train__total_iter=TOTAL, save__freq=5, save__keep=3)
    ref_yml = write_options(tmp_path / "ref.yml", tiny_options(hr, exp, name="ref", **common))
    yml = write_options(tmp_path / "stop.yml", tiny_options(hr, exp, name="stop", **common))
    reference = start_cli(["-opt", ref_yml])
    ckdir = os.path.join(exp, "stop", "checkpoints")
    for sig, code, name in ((signal.SIGINT, 130, "SIGINT"), (signal.SIGTERM, 143, "SIGTERM")):
        start = _newest_iter(ckdir)
        proc = start_cli(["-opt", yml, "--auto-resume"])
        _wait_for(lambda: _newest_iter(ckdir) > start, proc, what="a first checkpoint")
        proc.send_signal(sig)
        assert proc.wait(timeout=60) == code
        err = proc.stderr.read()
        proc.stderr.close()
        assert "Traceback" not in err, err
        m = re.search(rf"{name} received: checkpoint saved at iteration (\d+) \((.+?)\)\. "
                      rf"Resume with: python train_sr.py -opt (\S+) --auto-resume", err)
        assert m, err[-2000:]
        assert m.group(3) == yml and 0 < int(m.group(1)) < TOTAL
        assert ckpt.load_checkpoint(m.group(2))["iter"] == int(m.group(1)) == _newest_iter(ckdir)
    final = run_cli(["-opt", yml, "--auto-resume"])
    assert final.returncode == 0, final.stderr[-3000:]
    assert reference.wait(timeout=120) == 0, reference.stderr.read()[-3000:]
    reference.stderr.close()
    _assert_same_final_weights(os.path.join(exp, "ref"), os.path.join(exp, "stop"), ("g", "g_ema"))


def test_sigkill_with_degradations_pool_and_batch_augment_then_auto_resume_is_bit_exact(tmp_path):
    """sr model on 64 px HR crops degraded on the device by the realesrgan pipeline to 32 px GT (pool of
    4 pairs = 2 batches, so every resume point has a full pool to restore), batch augmentations on:
    killed once inside a checkpoint write and once between steps, with 1 loader worker (HR crops only),
    vs an uninterrupted run with 0 workers."""
    seed, rnd = kill_schedule("test_sigkill_with_degradations_pool_and_batch_augment_then_auto_resume_is_bit_exact")
    total = 24
    with naming_seed(seed):
        exp, _, resumes, resumed_at = _chain_against_reference(
            tmp_path, rnd, 64, ("save", "step"), total, datasets__train__crop=64,
            degradation={"type": "realesrgan", "gt_size": 32, "queue_size": 4},
            train__batch_augment={"augs": ["none", "mixup", "cutmix", "cutblur"]})
        assert len(resumes) == 2 and resumes[0] >= 2, (resumes, resumed_at)     # the pool is full from 2 on
        last = _assert_same_final_weights(os.path.join(exp, "ref"), os.path.join(exp, "crash"), ("g", "g_ema"), total)
        assert last["per_rank"][0]["pool"]["filled"] == 4
