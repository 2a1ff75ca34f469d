"""`sr-*` entry points and their wrappers: every wrapper runs from a clone that is not installed (PYTHONPATH
unset, another working directory) and imports that clone's sr_gan -- even where an editable install of another
checkout is on the interpreter's path -- and scripts/ablate.py trains with that clone's code too."""
import os
import re
import shutil
import subprocess
import sys
import tomllib

import pytest

from reliability_utils import REPO, tiny_options, write_options, write_photos

# wrapper (relative to the checkout) -> the entry point that runs the same main
WRAPPERS = {"train_sr.py": "sr-train", "scripts/upscale.py": "sr-upscale", "scripts/test_sr.py": "sr-test",
            "scripts/export.py": "sr-export", "scripts/ablate.py": "sr-ablate",
            "scripts/interpolate.py": "sr-interpolate", "datasets/prepare.py": "sr-prepare",
            "scripts/convert_options.py": "sr-convert", "scripts/degrade.py": "sr-degrade"}
IMPORT_LOG = "SR_GAN_TEST_IMPORT_LOG"


def _entry_points() -> dict:
    with open(os.path.join(REPO, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)["project"]["scripts"]


def test_every_wrapper_has_an_entry_point_into_the_package():
    import importlib
    scripts = _entry_points()
    for wrapper, entry in WRAPPERS.items():
        module, _, func = scripts[entry].partition(":")
        assert module.startswith("sr_gan.") and callable(getattr(importlib.import_module(module), func)), entry
        text = open(os.path.join(REPO, wrapper), encoding="utf-8").read()
        assert f"from {module} import {func}" in text and not re.search(r"sys\.path\s*(\.|\[|=|\+)", text), wrapper
    assert scripts["sr-weights"] == "sr_gan.weights:main"


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    """A copy of this checkout's files whose sr_gan/__init__.py logs `<pid> <its path>` when imported."""
    root = tmp_path_factory.mktemp("clone") / "repo"
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        if os.path.isfile(os.path.join(REPO, rel)):
            os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
            shutil.copy2(os.path.join(REPO, rel), os.path.join(root, rel))
    init = root / "sr_gan" / "__init__.py"
    init.write_text(init.read_text() + f"\nimport os as _os\nif _os.environ.get('{IMPORT_LOG}'):\n"
                    f"    with open(_os.environ['{IMPORT_LOG}'], 'a') as _f:\n"
                    f"        _f.write(f'{{_os.getpid()}} {{_os.path.realpath(__file__)}}\\n')\n")
    return root


def _env(log) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update({IMPORT_LOG: str(log), "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"})
    return env


def _imports(log) -> list[tuple[str, str]]:
    return [tuple(line.split(" ", 1)) for line in open(log).read().splitlines()] if os.path.exists(log) else []


def test_wrappers_run_the_clone_without_install(clone, tmp_path):
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    procs = {}
    for wrapper in WRAPPERS:
        log = tmp_path / f"{wrapper.replace('/', '_')}.log"
        procs[wrapper] = (log, subprocess.Popen([sys.executable, str(clone / wrapper), "--help"], cwd=elsewhere,
                                                env=_env(log), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                                text=True))
    own = os.path.realpath(clone / "sr_gan" / "__init__.py")
    for wrapper, (log, proc) in procs.items():
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0 and "usage:" in out, (wrapper, err[-2000:])
        assert [path for _, path in _imports(log)] == [own], wrapper


def test_ablate_trains_with_the_clone(clone, tmp_path):
    hr = os.path.dirname(write_photos(tmp_path / "hr", count=2, size=40)[0])
    opt = tiny_options(hr, str(tmp_path / "exp"), name="abl", train__total_iter=2, save__freq=2,
                       datasets={"train": {"type": "paired", "hr": hr, "crop": 32, "batch": 2, "workers": 0},
                                 "val": {"type": "paired", "hr": hr}})
    yml = write_options(tmp_path / "abl.yml", opt)
    log = tmp_path / "imports.log"
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    run = subprocess.run([sys.executable, str(clone / "scripts" / "ablate.py"), "-opt", yml, "--grid",
                          "train.losses.l1.weight=1", "--out", str(tmp_path / "sweep"), "--no-report"],
                         cwd=elsewhere, env=_env(log), capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert os.path.isfile(tmp_path / "sweep" / "runs" / "abl__losses.l1.weight=1__seed7" / "checkpoints" /
                          "iter_00000002.pth")
    imports = _imports(log)
    assert {path for _, path in imports} == {os.path.realpath(clone / "sr_gan" / "__init__.py")}
    assert len({pid for pid, _ in imports}) == 2          # the sweep and the training run it launched
