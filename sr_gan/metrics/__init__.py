"""sr_gan.metrics: per-image metrics (registry METRICS) and the one place that builds them from a list.

A metric list entry is a name ('psnr') or a section ({type: lpips, net: vgg, name: lpips_vgg, ...}), as
`val.metrics`, `scripts/test_sr.py` and benchmark files write it (validated by sr_gan.options.validate_metrics).
"""
from __future__ import annotations


def metric_label(spec) -> str:
    """The column a list entry fills: its `name`, else its type."""
    return spec if isinstance(spec, str) else (spec.get("name") or spec["type"])


def higher_is_better(spec) -> bool:
    """Whether a larger value of this metric (a type name or list entry) is better: read from the metric
    class's `higher_is_better`, the one place the direction is declared (tables, bolding, plots read it)."""
    from sr_gan.registry import METRICS
    return bool(METRICS.get(spec if isinstance(spec, str) else spec["type"]).higher_is_better)


def direction(spec) -> str:
    """'↑' or '↓' after a metric's name in tables and plots."""
    return "↑" if higher_is_better(spec) else "↓"


def better_sentence(specs) -> str:
    """e.g. 'higher PSNR/SSIM, lower LPIPS/NIQE': what 'better' means for the listed metrics."""
    names = [s if isinstance(s, str) else s["type"] for s in specs]
    parts = [f"{word} {'/'.join(n.upper() for n in names if higher_is_better(n) == up)}"
             for word, up in (("higher", True), ("lower", False)) if any(higher_is_better(n) == up for n in names)]
    return ", ".join(parts)


def build_metrics(specs, crop_border: int, y_channel: bool, device: str) -> tuple[dict, dict]:
    """(label -> metric object, label -> reason) for every entry; a metric whose pretrained weights
    cannot be had lands in the second dict with the one-line reason instead of stopping the run."""
    import inspect

    from sr_gan.errors import MissingWeightsError
    from sr_gan.registry import METRICS
    built, missing = {}, {}
    for spec in specs:
        args = {"type": spec} if isinstance(spec, str) else {k: v for k, v in spec.items() if k != "name"}
        cls = METRICS.get(args.pop("type"))
        accepted = inspect.signature(cls).parameters
        given = {"crop_border": crop_border, "y_channel": y_channel, "device": device}
        args.update({k: v for k, v in given.items() if k in accepted})
        try:
            built[metric_label(spec)] = cls(**args)
        except MissingWeightsError as e:
            missing[metric_label(spec)] = str(e)
    return built, missing
