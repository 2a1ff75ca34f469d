"""Every YAML the project reads goes through here: PyYAML's safe loader, but a key given twice in one
mapping is an error naming both lines (plain `yaml.safe_load` keeps the last one silently, so a second
`train:` section would quietly replace the first)."""
from __future__ import annotations

from typing import Any

import yaml

from ..errors import OptionError


class DuplicateKeyError(OptionError):
    """A mapping with the same key twice. Not a yaml.YAMLError, so code that reads a YAMLError as
    'not YAML, keep the text' (override values) still reports it."""


class StrictLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses duplicate keys (merge keys `<<:` still override as YAML says)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.setdefault(key, key_node)
                except TypeError:        # unhashable key: SafeLoader reports it itself below
                    continue
                if first is not key_node:
                    raise DuplicateKeyError(f"key '{key}' appears twice, at line {first.start_mark.line + 1} "
                                            f"and line {key_node.start_mark.line + 1}")
        return super().construct_mapping(node, deep=deep)


def _where(src: str) -> str:
    return f"{src}: " if src else ""


def load_text(text: str, src: str = "") -> Any:
    """Parse YAML text; a syntax error or a duplicate key is one OptionError line (file, line, column)."""
    try:
        return yaml.load(text, Loader=StrictLoader)   # noqa: S506 - a SafeLoader subclass
    except DuplicateKeyError as e:
        raise DuplicateKeyError(f"{_where(src)}{e}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise OptionError(f"{_where(src)}invalid YAML{line}: {problem}") from None


def load_file(path: str) -> Any:
    """A YAML file's content; unreadable, not UTF-8, invalid or with a duplicate key -> one OptionError line."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise OptionError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise OptionError(f"{path}: is a folder, not a YAML file") from None
    except UnicodeDecodeError as e:
        raise OptionError(f"{path}: not a text file (byte {e.start} is not UTF-8)") from None
    except OSError as e:
        raise OptionError(f"{path}: cannot read ({e.strerror})") from None
    return load_text(text, str(path))
