"""The README's option reference is generated from the schema; this keeps it true.

Every row README shows must be exactly a row the code generates, in the same order, and every row of
the fixed schema must be there. A registry type's own row (`key` (type)) may be missing: a new loss or
network is one new file, and must not fail `make test` until someone regenerates the README
(`python scripts/update_readme_options.py`); such rows are printed.
"""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TYPE_ROW = re.compile(r"^\| `[^`]+` \([A-Za-z0-9_.\-]+\) \|")


def _rows(text: str) -> list[str]:
    return [line.strip() for line in text.strip().splitlines() if line.strip()]


def test_option_reference_in_readme_is_current():
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    block = re.search(r"<!-- options:begin -->\n(.*?)<!-- options:end -->", text, re.S)
    assert block, "README.md lacks the options markers"
    # a fresh process: other tests register throw-away losses in this process's registries
    doc = subprocess.run([sys.executable, "-m", "sr_gan.options"], capture_output=True, text=True, check=True,
                         cwd=ROOT).stdout
    shown, generated = _rows(block.group(1)), _rows(doc)
    stale = [row for row in shown if row not in generated]
    assert not stale, f"README rows the code does not generate (run scripts/update_readme_options.py): {stale}"
    positions = [generated.index(row) for row in shown]
    assert positions == sorted(positions), "README rows are out of order (run scripts/update_readme_options.py)"
    missing = [row for row in generated if row not in shown]
    fixed = [row for row in missing if not TYPE_ROW.match(row)]
    assert not fixed, f"README lacks rows of the option schema (run scripts/update_readme_options.py): {fixed}"
    for row in missing:
        print(f"registry type not yet in README: {row}")


def test_type_rows_are_recognised():
    assert TYPE_ROW.match("| `train.losses[]` (l1) | | | reduction='mean' |")
    assert TYPE_ROW.match("| `datasets.<name>` (paired) | | | hr, lr=None |")
    assert not TYPE_ROW.match("| `train.losses[].weight` | float | `1.0` | weight |")
    assert not TYPE_ROW.match("| `train.gan.type` | str | `'vanilla'` | GAN objective; one of the `train.gan` (type) rows |")


def test_readme_starts_with_the_two_commands():
    head = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read().splitlines()[:12]
    assert any(line.startswith("make demo") for line in head) and any(line.startswith("make test") for line in head)
