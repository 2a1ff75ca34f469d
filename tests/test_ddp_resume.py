"""Two processes (gloo, CPU) with the WGAN-GP loss, whose interpolation weights each rank draws from its
own RNG: killed with SIGKILL, or stopped with SIGTERM, and resumed with --auto-resume, they end with the
weights (G, D, EMA) of an uninterrupted two-process run, torch.equal. That needs every rank's RNG state
in the checkpoint and every rank restoring its own.

The ranks are forked from this process (torch already imported, as tests/test_ddp.py does) and run
train_sr.main exactly as torchrun would start them: RANK / WORLD_SIZE / MASTER_* in the environment.
"""
from __future__ import annotations

import multiprocessing
import os
import re
import signal
import socket
import time

import numpy as np
import pytest
import torch

from reliability_utils import cli_main, kill_schedule, naming_seed, tiny_options, write_options, write_photos
from sr_gan import train
from sr_gan.utils import checkpoint as ckpt

TOTAL = 12


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_main(rank: int, port: int, argv: list[str], env: dict) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE="2", **env)
    import warnings
    warnings.simplefilter("ignore")
    os._exit(cli_main(argv))        # no pytest teardown in the forked child


def _launch(argv: list[str], **env) -> list:
    port, ctx = _free_port(), multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_rank_main, args=(r, port, argv, env)) for r in (0, 1)]
    for p in procs:
        p.start()
    return procs


def _join(procs, timeout: float = 120.0) -> list[int]:
    for p in procs:
        p.join(timeout)
        if p.exitcode is None:
            p.kill()
            raise AssertionError("a rank did not finish")
    return [p.exitcode for p in procs]


def _wait_for(condition, procs, what: str, timeout: float = 90.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return
        if any(p.exitcode is not None for p in procs):
            raise AssertionError(f"a rank ended (exit {[p.exitcode for p in procs]}) before {what}")
        time.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what}")


def _final(exp: str, name: str) -> dict:
    return ckpt.load_checkpoint(os.path.join(exp, name, "checkpoints", ckpt.checkpoint_name(TOTAL)))


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """The photos, an option writer, and the uninterrupted two-process reference run."""
    # imported once here rather than in every forked rank: Adam's constructor loads torch._dynamo (~2 s)
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    from sr_gan.registry import ARCHS, LOSSES, MODELS
    for registry in (ARCHS, LOSSES, MODELS):
        registry.names()
    tmp = tmp_path_factory.mktemp("ddp_resume")
    hr = os.path.dirname(write_photos(tmp / "hr", count=4, size=48)[0])
    exp = str(tmp / "exp")

    def options(name: str, **over) -> str:
        opt = tiny_options(hr, exp, name=name, model="srgan", **{"train__total_iter": TOTAL, "save__freq": 2,
                                                                 "save__keep": 2, **over})
        return write_options(tmp / f"{name}.yml", opt)
    assert _join(_launch(["-opt", options("ref")])) == [0, 0]
    return {"tmp": tmp, "exp": exp, "options": options, "ref": _final(exp, "ref")}


def _assert_same_weights(ref: dict, run: dict) -> None:
    assert sorted(ref["nets"]) == ["d", "g", "g_ema"] == sorted(run["nets"])
    for net, tensors in ref["nets"].items():
        for key, value in tensors.items():
            assert torch.equal(value, run["nets"][net][key]), f"{net}.{key} differs from the uninterrupted run"
    assert any(not torch.equal(v, run["nets"]["g"][k]) for k, v in run["nets"]["g_ema"].items())   # EMA is not G


def _resumes(exp: str, name: str) -> list[int]:
    log = open(os.path.join(exp, name, "train.log"), encoding="utf-8").read()
    return [int(n) for n in re.findall(r"resumed from .* at iteration (\d+)", log)]


def test_checkpoint_holds_every_ranks_rng_state(setup):
    per_rank = setup["ref"]["per_rank"]
    assert len(per_rank) == 2 and "rng" not in setup["ref"]
    a, b = per_rank[0]["rng"], per_rank[1]["rng"]
    # ranks are seeded seed + rank: their streams differ, so restoring rank 0's on both would show
    assert not torch.equal(a["torch"], b["torch"]) and not torch.equal(a["numpy"], b["numpy"])


def test_sigkill_both_ranks_then_auto_resume_is_bit_exact(setup):
    seed, rnd = kill_schedule("test_sigkill_both_ranks_then_auto_resume_is_bit_exact")
    target = 2 * rnd.randint(2, 5)          # the checkpoint write (iteration 4..10) the kill is aimed at
    with naming_seed(seed):
        exp, yml = setup["exp"], setup["options"]("kill")
        ckdir = os.path.join(exp, "kill", "checkpoints")
        # SR_GAN_TEST_SLOW_SAVE holds every checkpoint write open: the kill lands inside the write of
        # iteration >= target, with the complete checkpoint of iteration target - 2 (or later) on disk
        procs = _launch(["-opt", yml, "--auto-resume"], SR_GAN_TEST_SLOW_SAVE="0.3")
        writer = f".tmp{procs[0].pid}"
        _wait_for(lambda: any(f.startswith(".iter_") and f.endswith(writer) and int(re.search(r"(\d+)", f).group(1))
                              >= target for f in (os.listdir(ckdir) if os.path.isdir(ckdir) else [])),
                  procs, f"a checkpoint write >= {target}")
        for p in procs:
            os.kill(p.pid, signal.SIGKILL)
        assert _join(procs) == [-signal.SIGKILL, -signal.SIGKILL]
        stopped_at = int(re.search(r"(\d+)", os.path.basename(ckpt.list_checkpoints(ckdir)[0])).group(1))
        assert target - 2 <= stopped_at < TOTAL, (target, stopped_at)

        assert _join(_launch(["-opt", yml, "--auto-resume"])) == [0, 0]
        assert _resumes(exp, "kill") == [stopped_at]
        _assert_same_weights(setup["ref"], _final(exp, "kill"))


def test_sigterm_to_one_rank_stops_both_at_one_step_and_resumes_exactly(setup):
    seed, rnd = kill_schedule("test_sigterm_to_one_rank_stops_both_at_one_step_and_resumes_exactly")
    with naming_seed(seed):
        exp, yml = setup["exp"], setup["options"]("term")
        ckdir = os.path.join(exp, "term", "checkpoints")
        procs = _launch(["-opt", yml, "--auto-resume"], SR_GAN_TEST_SLOW_SAVE="0.2")
        _wait_for(lambda: ckpt.list_checkpoints(ckdir), procs, "a first checkpoint")
        time.sleep(rnd.uniform(0.0, 0.2))
        os.kill(procs[1].pid, signal.SIGTERM)           # rank 0 never sees the signal: the ranks agree on it
        assert _join(procs) == [143, 143]
        log = open(os.path.join(exp, "term", "train.log"), encoding="utf-8").read()
        m = re.search(r"SIGTERM received: checkpoint saved at iteration (\d+) \((.+?)\)\. Resume with: .* --auto-resume",
                      log)
        assert m and 0 < int(m.group(1)) < TOTAL, log[-2000:]
        assert ckpt.load_checkpoint(m.group(2))["iter"] == int(m.group(1))

        assert _join(_launch(["-opt", yml, "--auto-resume"])) == [0, 0]
        assert _resumes(exp, "term") == [int(m.group(1))]
        _assert_same_weights(setup["ref"], _final(exp, "term"))


def test_two_rank_checkpoint_resumed_by_one_process_says_what_it_does(setup, caplog):
    """M < N, end to end in this process: rank 0 takes its own state, rank 1's is dropped, one log line."""
    yml = setup["options"]("shrink", train__total_iter=TOTAL + 2)
    ref_ckpt = os.path.join(setup["exp"], "ref", "checkpoints", ckpt.checkpoint_name(TOTAL))
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert cli_main(["-opt", yml, "--resume", ref_ckpt]) == 0
    log = open(os.path.join(setup["exp"], "shrink", "train.log"), encoding="utf-8").read()
    lines = [line for line in log.splitlines() if "checkpoint written by" in line]
    assert len(lines) == 1 and lines[0].endswith(
        "checkpoint written by 2 process(es), resumed with 1: rank 0 restores its own RNG state, the saved state "
        "of rank 1 is dropped; the data is also sharded differently, so this run is not bit-identical to an "
        "uninterrupted 2-process run")


class _PoolModel:
    """Stands in for a model with per-rank state (e.g. a training-pair pool) to check the hook."""

    def __init__(self):
        self.loaded = None

    def rank_state(self) -> dict:
        return {"pool": torch.arange(3)}

    def load_rank_state(self, part: dict) -> None:
        self.loaded = part


@pytest.mark.parametrize("rank", [0, 1])
def test_more_ranks_than_saved_fresh_seed_from_seed_rank_iteration(monkeypatch, rank):
    """N=1 -> M=2 (a unit check: the two-process path is the tests above): rank 0 restores its RNG and the
    model's per-rank entry, rank 1 seeds from (seed, rank, iteration) and keeps its fresh state."""
    from sr_gan.utils import distributed as dist
    model = _PoolModel()
    torch.manual_seed(11)
    saved = train.rank_state(model)
    expected_draw = torch.rand(4)
    monkeypatch.setattr(dist, "world_size", lambda: 2)
    monkeypatch.setattr(dist, "rank", lambda: rank)
    torch.manual_seed(99)
    note = train.restore_rank_state(model, {"per_rank": [saved]}, seed=5, iteration=40)
    assert note == ("checkpoint written by 1 process(es), resumed with 2: rank 0 restores its own RNG state, rank 1 "
                    "starts from a fresh seed derived from (seed, rank, iteration 40); the data is also sharded "
                    "differently, so this run is not bit-identical to an uninterrupted 1-process run")
    if rank == 0:
        assert torch.equal(torch.rand(4), expected_draw) and torch.equal(model.loaded["pool"], torch.arange(3))
        assert set(model.loaded) == {"pool"}
    else:
        fresh = int(np.random.SeedSequence([5, 1, 40]).generate_state(1)[0])
        assert torch.initial_seed() == fresh and model.loaded is None
        assert np.random.get_state()[1][0] == np.random.RandomState(fresh).get_state()[1][0]
