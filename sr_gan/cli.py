"""What every command-line entry point shares: a user-facing error is one line and exit status 2."""
from __future__ import annotations

import sys
from typing import Callable

from .errors import SRGanError


def run_cli(body: Callable[[], int | None]) -> int:
    """Run `body`; an SRGanError becomes `error: <one line>` on stderr and exit code 2 (no traceback)."""
    try:
        return int(body() or 0)
    except SRGanError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
