"""PNG plots of a report (matplotlib, Agg backend: no display needed).

Every function takes the report dict and a folder and returns the file names written
(relative to the folder); a plot whose data is absent is skipped.

Example:
    >>> import tempfile
    >>> rep = {"variants": {"dense": {"accuracy": 0.9, "macs": 10, "layers": {"a": {"params": 4,
    ...        "nonzero_params": 4}}}, "pruned": {"accuracy": 0.8, "macs": 5, "layers": {"a":
    ...        {"params": 4, "nonzero_params": 2}}}}}
    >>> all_plots(rep, tempfile.mkdtemp())
    ['plots/sparsity_per_layer.png', 'plots/accuracy_vs_cost.png']
"""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from tfprune.app.reports import lookup  # noqa: E402

__all__ = ["all_plots", "sparsity_per_layer", "accuracy_vs_cost", "sensitivity_curves", "pareto"]

_DIR = "plots"


def _save(fig, folder, name) -> str:
    os.makedirs(os.path.join(folder, _DIR), exist_ok=True)
    rel = f"{_DIR}/{name}"
    fig.tight_layout()
    fig.savefig(os.path.join(folder, rel), dpi=100)
    plt.close(fig)
    return rel


def sparsity_per_layer(report: dict, folder: str) -> list:
    """Bars: fraction of each layer's weights removed, one bar per pruned variant."""
    variants = report["variants"]
    names = list(variants)
    base = variants[names[0]].get("layers") or {}
    layers = [n for n, v in base.items() if v["params"]]
    if len(names) < 2 or not layers:
        return []
    fig, ax = plt.subplots(figsize=(max(5, 0.5 * len(layers) + 2), 3.5))
    width = 0.8 / (len(names) - 1)
    for i, n in enumerate(names[1:]):
        lv = variants[n].get("layers") or {}
        vals = [1 - (lv[lay]["nonzero_params"] if lay in lv else 0) / base[lay]["params"]
                for lay in layers]
        ax.bar([j + i * width for j in range(len(layers))], vals, width, label=n)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(layers))], layers, rotation=60,
                  ha="right", fontsize=7)
    ax.set_ylabel("weights removed")
    ax.set_ylim(0, 1)
    ax.legend()
    ax.set_title("Per-layer sparsity (vs " + names[0] + ")")
    return [_save(fig, folder, "sparsity_per_layer.png")]


def accuracy_vs_cost(report: dict, folder: str) -> list:
    """The run's metric (accuracy; MAE for regression) against .tflite bytes, MACs and LiteRT
    latency, one point per variant."""
    axes_keys = [("macs", "MACs per sample"), ("tflite.float.bytes", ".tflite float32 bytes"),
                 ("tflite.int8.bytes", ".tflite int8 bytes"),
                 ("tflite.float.latency_ms", "LiteRT float32 latency (ms)")]
    variants = report["variants"]
    present = [(k, label) for k, label in axes_keys
               if any(lookup(v, k) is not None for v in variants.values())]
    metric = next((v["metric"] for v in variants.values() if v.get("metric")), "accuracy")
    if not present or all(v.get(metric) is None for v in variants.values()):
        return []
    fig, axes = plt.subplots(1, len(present), figsize=(3.2 * len(present), 3.2), squeeze=False)
    for ax, (key, label) in zip(axes[0], present, strict=True):
        for name, v in variants.items():
            x, y = lookup(v, key), v.get(metric)
            if x is not None and y is not None:
                ax.scatter([x], [y], s=40)
                ax.annotate(name, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
        ax.set_xlabel(label)
        ax.set_ylabel(metric)
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4))
        ax.margins(0.2)
    fig.suptitle(f"{metric} vs cost")
    return [_save(fig, folder, "accuracy_vs_cost.png")]


def sensitivity_curves(report: dict, folder: str) -> list:
    """Metric vs sparsity per layer/group (``report["sensitivity"] = {name: [[s, m], ...]}``)."""
    curves = report.get("sensitivity")
    if not curves:
        return []
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for name, pts in curves.items():
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=".", label=name)
    ax.set_xlabel("sparsity")
    ax.set_ylabel(report.get("sensitivity_metric", "metric"))
    if len(curves) <= 12:
        ax.legend(fontsize=6)
    ax.set_title("Sensitivity")
    return [_save(fig, folder, "sensitivity.png")]


def pareto(report: dict, folder: str) -> list:
    """Trials of a sweep as cost vs quality, the Pareto set highlighted
    (``report["sweep"] = {"cost": name, "quality": name, "trials": [{...}], "pareto": [i]}``)."""
    sweep = report.get("sweep")
    if not sweep or not sweep.get("trials"):
        return []
    c, q = sweep["cost"], sweep["quality"]
    pts = [(t[c], t[q]) for t in sweep["trials"] if t.get(c) is not None and t.get(q) is not None]
    front = sorted((sweep["trials"][i][c], sweep["trials"][i][q]) for i in sweep.get("pareto", []))
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=15, alpha=0.6, label="trials")
    if front:
        ax.plot([p[0] for p in front], [p[1] for p in front], "r-o", ms=4, label="Pareto set")
    ax.set_xlabel(c)
    ax.set_ylabel(q)
    ax.legend()
    ax.set_title("Sweep")
    return [_save(fig, folder, "pareto.png")]


def all_plots(report: dict, folder: str) -> list:
    """Every plot the report has data for; returns their relative paths."""
    out = []
    for fn in (sparsity_per_layer, accuracy_vs_cost, sensitivity_curves, pareto):
        out += fn(report, folder)
    return out
