"""User-facing errors. Each one's str() is a single line that names the file or option key at fault;
the command-line entry points print it (no traceback) and exit with status 2."""


class SRGanError(Exception):
    """Base class: a problem with the user's input, options, files or environment."""


class OptionError(SRGanError):
    """Invalid option file, key, type or value."""


class DataError(SRGanError):
    """A dataset folder or image that cannot be used."""


class ImageError(DataError):
    """One image file that cannot be read (corrupt, truncated, empty, not an image)."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class CheckpointError(SRGanError):
    """A checkpoint that cannot be loaded into the network it is meant for."""


class MissingWeightsError(SRGanError):
    """Pretrained weights (VGG19, LPIPS backbone, Inception) that are not on this machine."""


class UsageError(SRGanError):
    """A command-line flag that is unknown, missing or refused by its type or choices (from argparse)."""
