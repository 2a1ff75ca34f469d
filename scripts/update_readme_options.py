#!/usr/bin/env python
"""Regenerate the README's option reference from the schema (`make docs`)."""
import os
import re

import _checkout  # noqa: F401  (this checkout's sr_gan: see scripts/_checkout.py)
from sr_gan.options import options_doc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

path = os.path.join(ROOT, "README.md")
text = open(path, encoding="utf-8").read()
new = re.sub(r"(<!-- options:begin -->\n).*?(<!-- options:end -->)",
             lambda m: m.group(1) + options_doc() + "\n" + m.group(2), text, flags=re.S)
open(path, "w", encoding="utf-8").write(new)
print("README.md option reference updated")
