"""Name -> class tables, one per concept (generators, discriminators, losses, datasets, models).

A registry knows the package its entries live in and imports that package's modules only the
first time a name is looked up, so ``import sr_gan.archs`` never pulls in the data stack and a new
network is one new file with ``@ARCHS.register('name')`` -- nothing else to edit.
"""
from __future__ import annotations

import difflib
import importlib
import inspect
import pkgutil
from typing import Any, Callable

from .errors import OptionError


class RegistryError(KeyError, OptionError):
    """Unknown name; str() is a one-line message with a suggestion. An OptionError too: a name comes from
    the user (an option, a flag, a checkpoint's options), so every command reports it as one line."""

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


class Registry:
    def __init__(self, concept: str, package: str):
        self.concept = concept
        self.package = package
        self._table: dict[str, Any] = {}
        self._kinds: dict[str, str] = {}
        self._scanned = False

    def register(self, name: str, kind: str = "") -> Callable[[Any], Any]:
        def deco(obj):
            if name in self._table and self._table[name] is not obj:
                raise ValueError(f"{self.concept} '{name}' is registered twice")
            self._table[name] = obj
            self._kinds[name] = kind
            return obj
        return deco

    def _scan(self) -> None:
        if self._scanned:
            return
        self._scanned = True
        pkg = importlib.import_module(self.package)
        for info in pkgutil.iter_modules(pkg.__path__):
            if not info.name.startswith("_"):
                importlib.import_module(f"{self.package}.{info.name}")

    def names(self, kind: str | None = None) -> list[str]:
        self._scan()
        return sorted(n for n in self._table if kind is None or self._kinds[n] == kind)

    def kind(self, name: str) -> str:
        self.get(name)
        return self._kinds[name]

    def __contains__(self, name: str) -> bool:
        self._scan()
        return name in self._table

    def get(self, name: str) -> Any:
        self._scan()
        if name not in self._table:
            close = difflib.get_close_matches(str(name), list(self._table), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise RegistryError(f"unknown {self.concept} type '{name}'{hint}; known: {', '.join(sorted(self._table))}")
        return self._table[name]

    def build(self, cfg: dict, **extra) -> Any:
        """Build from ``{'type': name, **kwargs}``; ``extra`` fills arguments the YAML leaves out."""
        cfg = dict(cfg)
        cls = self.get(cfg.pop("type"))
        params = inspect.signature(cls).parameters
        for k, v in extra.items():
            if k in params and k not in cfg:
                cfg[k] = v
        return cls(**cfg)

    def signature(self, name: str) -> inspect.Signature:
        return inspect.signature(self.get(name))


ARCHS = Registry("network", "sr_gan.archs")          # kind: 'generator' | 'discriminator'
LOSSES = Registry("loss", "sr_gan.losses")            # kind: 'generator' (train.losses) | 'gan' (train.gan)
DATASETS = Registry("dataset", "sr_gan.data")
MODELS = Registry("model", "sr_gan.models")
METRICS = Registry("metric", "sr_gan.metrics")      # per-image metrics used in validation
DEGRADATIONS = Registry("degradation pipeline", "sr_gan.degradations")   # HR batch -> realistic LR, on device
AUGMENTATIONS = Registry("batch augmentation", "sr_gan.augmentations")   # (lr, hr, generator) -> mixed batch, on device


def list_archs(kind: str | None = None) -> list[str]:
    return ARCHS.names(kind)
