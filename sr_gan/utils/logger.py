"""Where training talks: a text log in the experiment folder, the console, TensorBoard, a progress bar.

Only rank 0 writes; other ranks get a logger that discards everything.
"""
from __future__ import annotations

import logging
import os
import sys


class EarlyRecords(logging.Handler):
    """Holds what is logged before train.log exists (the run checks everything before it creates the
    experiment folder), so get_logger(..., earlier=records) can write it to the file too."""

    def __init__(self):
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def get_logger(log_file: str | None = None, enabled: bool = True,
               earlier: list[logging.LogRecord] | None = None) -> logging.Logger:
    log = logging.getLogger("sr_gan")
    log.setLevel(logging.INFO if enabled else logging.CRITICAL + 1)
    log.propagate = False
    for h in list(log.handlers):
        log.removeHandler(h)
        h.close()
    if enabled:
        fmt = logging.Formatter("%(asctime)s %(levelname)s: %(message)s", "%Y-%m-%d %H:%M:%S")
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(console)
        if log_file:
            os.makedirs(os.path.dirname(log_file), exist_ok=True)
            fh = logging.FileHandler(log_file, encoding="utf-8")
            fh.setFormatter(fmt)
            for record in earlier or []:      # already shown on the console
                fh.handle(record)
            log.addHandler(fh)
    return log


class TensorBoard:
    """SummaryWriter when enabled and installed; a no-op otherwise (imported lazily: it is slow)."""

    def __init__(self, folder: str, enabled: bool):
        self.writer = None
        if enabled:
            try:
                from torch.utils.tensorboard import SummaryWriter
                self.writer = SummaryWriter(folder)
            except Exception as e:  # tensorboard missing or broken: keep training
                logging.getLogger("sr_gan").warning(f"logger.use_tb: TensorBoard disabled ({e})")

    def scalars(self, values: dict, step: int, prefix: str = "") -> None:
        if self.writer:
            for k, v in values.items():
                if v == v and abs(v) != float("inf"):
                    self.writer.add_scalar(prefix + k, v, step)

    def close(self) -> None:
        if self.writer:
            self.writer.close()


def format_losses(losses: dict) -> str:
    return " ".join(f"{k}={v:.4g}" for k, v in losses.items())


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """Rows of already formatted cells (numbers: sr_gan.scoring.format_score) as a Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)
