"""Run a sweep's experiments as `python -m sr_gan.commands.train --auto-resume` subprocesses, one or `jobs`
at a time. The child imports the sr_gan this process runs (its folder leads the child's PYTHONPATH), so a
sweep started from a clone trains with that clone's code, not with an installed copy.

A subprocess per run keeps runs independent (a crash, a NaN stop or an out-of-memory kill ends one
run, not the sweep) and makes the sweep resumable for free: a finished run (newest checkpoint at
train.total_iter) is skipped, an interrupted one continues from its newest loadable checkpoint.
Each run is pinned: on CPU to cores // jobs threads (unless the user set num_threads or OMP_NUM_THREADS),
on CUDA to one GPU (round-robin).
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import sr_gan
from sr_gan import options as options_mod
from sr_gan.utils import checkpoint as ckpt

from .grid import Run

PACKAGE_ROOT = str(Path(sr_gan.__file__).resolve().parents[1])   # the folder that holds this sr_gan
_ITER = re.compile(r"iter_(\d+)\.pth$")


@dataclass
class Outcome:
    name: str
    status: str               # skipped | finished | failed
    returncode: int | None = None
    last_line: str = ""
    seconds: float = 0.0
    start_iter: int = 0


def run_dir(out: str, name: str) -> str:
    return os.path.join(out, "runs", name)


def newest_iteration(folder: str) -> int:
    """Iteration of the newest checkpoint file in an experiment folder (0 when none)."""
    found = ckpt.list_checkpoints(os.path.join(folder, "checkpoints"))
    return int(_ITER.search(found[0]).group(1)) if found else 0


def final_checkpoint(folder: str, total_iter: int) -> str | None:
    """The checkpoint at train.total_iter, if this run got there."""
    path = os.path.join(folder, "checkpoints", ckpt.checkpoint_name(total_iter))
    return path if os.path.isfile(path) else None


def is_finished(folder: str, total_iter: int) -> bool:
    return newest_iteration(folder) >= total_iter and final_checkpoint(folder, total_iter) is not None


def write_options(run: Run, out: str) -> str:
    """<out>/runs/<name>/options.yml: the run's resolved options (rewritten only when they changed)."""
    folder = run_dir(out, run.name)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "options.yml")
    tmp = path + ".new"
    options_mod.save(run.opt, tmp)
    with open(tmp, encoding="utf-8") as f:
        new = f.read()
    old = open(path, encoding="utf-8").read() if os.path.isfile(path) else None
    if old == new:
        os.remove(tmp)
    else:
        os.replace(tmp, path)
    return path


def uses_cuda(opt: dict) -> bool:
    if opt["device"] == "cpu":
        return False
    import torch
    return torch.cuda.is_available()


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def gpu_ids() -> list[str]:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible:
        return [g.strip() for g in visible.split(",") if g.strip()]
    import torch
    return [str(i) for i in range(torch.cuda.device_count())]


def command(options_path: str, threads: int | None) -> list[str]:
    cmd = [sys.executable, "-m", "sr_gan.commands.train", "-opt", options_path, "--auto-resume"]
    if threads:
        cmd.append(f"num_threads={threads}")
    return cmd


def thread_setting(opt: dict, auto: int | None, env: dict) -> tuple[int | None, str]:
    """(num_threads to pass the run, or None; how the run is pinned, for the log). The user's choice wins:
    `num_threads` in the options (file, override or grid), else OMP_NUM_THREADS in the environment;
    only when neither is set does the sweep share the cores out (`auto`), setting OMP/MKL to match."""
    if opt.get("num_threads"):
        return None, f"{opt['num_threads']} thread(s), num_threads from the options"
    if env.get("OMP_NUM_THREADS"):
        return None, f"OMP_NUM_THREADS={env['OMP_NUM_THREADS']} from the environment"
    if not auto:
        return None, "torch's default threads"
    env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(auto)
    return auto, f"{auto} thread(s)"


class _Job:
    """One training subprocess: stdout straight to stdout.log, stderr teed there line by line so the
    last stderr line (the `error: ...` or the exception) can be reported when it fails."""

    def __init__(self, run: Run, out: str, env: dict, threads: int | None):
        self.run, self.folder = run, run_dir(out, run.name)
        self.start_iter = newest_iteration(self.folder)
        self.t0 = time.time()
        self.log = open(os.path.join(self.folder, "stdout.log"), "ab", buffering=0)
        self.log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(command('options.yml', threads))}\n".encode())
        self.proc = subprocess.Popen(command(os.path.join(self.folder, "options.yml"), threads),
                                     stdout=self.log, stderr=subprocess.PIPE, env=env)
        self.last_line = ""
        self.reader = threading.Thread(target=self._tee, daemon=True)
        self.reader.start()

    def _tee(self) -> None:
        """Copy stderr to the log as it comes (progress bars end lines with \r, not \n)."""
        fd, tail = self.proc.stderr.fileno(), b""
        while chunk := os.read(fd, 65536):
            self.log.write(chunk)
            tail = (tail + chunk)[-4096:]
            lines = [t.strip() for t in re.split(rb"[\r\n]", tail) if t.strip()]
            if lines:
                self.last_line = lines[-1].decode("utf-8", "replace")

    def finish(self) -> Outcome:
        self.reader.join(timeout=10)
        self.log.close()
        code = self.proc.returncode
        done = code == 0 and is_finished(self.folder, self.run.opt["train"]["total_iter"])
        if code == 0 and not done:
            self.last_line = "exited 0 but no checkpoint at train.total_iter"
        return Outcome(self.run.name, "finished" if done else "failed", code,
                       "" if done else self.last_line, time.time() - self.t0, self.start_iter)


def execute(runs: list[Run], out: str, jobs: int = 1, say: Callable[[str], None] = print) -> list[Outcome]:
    """Train every unfinished run; never stops on a failure. Returns one Outcome per run, in order."""
    jobs = max(1, min(jobs, len(runs) or 1))
    outcomes: dict[str, Outcome] = {}
    todo: list[Run] = []
    for run in runs:
        write_options(run, out)
        folder = run_dir(out, run.name)
        if is_finished(folder, run.opt["train"]["total_iter"]):
            outcomes[run.name] = Outcome(run.name, "skipped", 0, "", 0.0, newest_iteration(folder))
            say(f"[skip]   {run.name}: finished ({run.opt['train']['total_iter']} iterations)")
        else:
            todo.append(run)
    cuda = any(uses_cuda(r.opt) for r in todo)
    gpus = gpu_ids() if cuda else []
    auto_threads = None if cuda else max(1, cpu_count() // jobs)
    running: list[tuple[_Job, str | None]] = []
    free_gpus = list(gpus)
    queue = list(todo)
    try:
        while queue or running:
            while queue and len(running) < jobs:
                run = queue.pop(0)
                env = dict(os.environ, PYTHONPATH=os.pathsep.join(
                    [PACKAGE_ROOT] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
                gpu = None
                if cuda and free_gpus:
                    gpu = free_gpus.pop(0)
                    env["CUDA_VISIBLE_DEVICES"] = gpu
                threads, pin = thread_setting(run.opt, auto_threads, env)
                job = _Job(run, out, env, threads)
                what = f"resume from iteration {job.start_iter}" if job.start_iter else "start"
                pin = f"GPU {gpu}" if gpu is not None else pin
                say(f"[run]    {run.name}: {what} ({pin}); log: {os.path.join(job.folder, 'stdout.log')}")
                running.append((job, gpu))
            time.sleep(0.2)
            for item in list(running):
                job, gpu = item
                if job.proc.poll() is None:
                    continue
                running.remove(item)
                if gpu is not None:
                    free_gpus.append(gpu)
                res = job.finish()
                outcomes[res.name] = res
                if res.status == "finished":
                    say(f"[done]   {res.name}: {res.seconds:.0f} s")
                else:
                    say(f"[FAILED] {res.name}: exit code {res.returncode}: {res.last_line}")
    except KeyboardInterrupt:   # let every run save its checkpoint (train_sr handles SIGINT), then stop
        for job, _ in running:
            if job.proc.poll() is None:
                job.proc.send_signal(signal.SIGINT)
        for job, _ in running:
            try:
                job.proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                job.proc.kill()
        raise
    return [outcomes[r.name] for r in runs]


def summary(outcomes: list[Outcome]) -> str:
    counts = {s: sum(o.status == s for o in outcomes) for s in ("finished", "skipped", "failed")}
    lines = [f"sweep: {len(outcomes)} runs: {counts['finished']} trained, {counts['skipped']} skipped "
             f"(already finished), {counts['failed']} failed"]
    lines += [f"  failed: {o.name}: exit code {o.returncode}: {o.last_line}" for o in outcomes if o.status == "failed"]
    return "\n".join(lines)
