"""The command-line programs: each module's `main(argv=None) -> int` is an `sr-*` entry point
(pyproject.toml) and runs from a clone as the thin wrapper of the same name (scripts/, train_sr.py,
datasets/prepare.py)."""
