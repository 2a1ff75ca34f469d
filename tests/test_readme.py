"""The README's option reference is generated from the schema; this keeps it current."""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_option_reference_in_readme_is_current():
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    block = re.search(r"<!-- options:begin -->\n(.*?)<!-- options:end -->", text, re.S)
    assert block, "README.md lacks the options markers"
    # a fresh process: other tests register throw-away losses in this process's registries
    doc = subprocess.run([sys.executable, "-m", "sr_gan.options"], capture_output=True, text=True, check=True,
                         cwd=ROOT).stdout
    assert block.group(1).strip() == doc.strip(), "run `make docs` to regenerate"


def test_readme_starts_with_the_two_commands():
    head = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read().splitlines()[:12]
    assert any(line.startswith("make demo") for line in head) and any(line.startswith("make test") for line in head)
