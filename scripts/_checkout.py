"""Makes the scripts next to this file run the sr_gan package of their own checkout, installed or not.

`python scripts/x.py` puts scripts/, not the checkout, first on sys.path: a bare `import sr_gan` would
find nothing in a fresh clone, or silently an installed copy, e.g. an editable install of another
checkout. sys.path is left alone; instead ../sr_gan/__init__.py is loaded by its file location (the
importlib recipe for importing a source file directly) and registered as `sr_gan`, so every later
`sr_gan.x` import resolves inside this checkout through the package's own __path__. Importing this
module is all a wrapper does before `from sr_gan.commands.x import main`; installed, the same mains
are the `sr-*` entry points of pyproject.toml.
"""
import importlib.util
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "sr_gan" / "__init__.py"

if "sr_gan" not in sys.modules:      # a process that imported sr_gan already keeps its choice
    _spec = importlib.util.spec_from_file_location("sr_gan", PACKAGE)
    _module = importlib.util.module_from_spec(_spec)
    sys.modules["sr_gan"] = _module
    try:
        _spec.loader.exec_module(_module)
    except BaseException:
        del sys.modules["sr_gan"]
        raise
