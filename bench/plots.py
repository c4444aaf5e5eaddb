"""The suite's plots (matplotlib PNGs), drawn from the aggregated rows of bench/report.py."""

from __future__ import annotations

from pathlib import Path

STYLE = {"tfmot": dict(ls="--", marker="s"), "random": dict(ls=":", marker="x"),
         "dense": dict(ls="", marker="*", ms=12)}


def _axes(nets, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(nets), figsize=(6 * len(nets), 4.2), squeeze=False)
    fig.suptitle(title)
    return fig, {n: ax for n, ax in zip(nets, axes[0], strict=True)}


def _finish(fig, axes, path, xlabel, logx=False):
    for net, ax in axes.items():
        ax.set_title(net)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("test accuracy % (mean ± std over seeds)")
        ax.grid(alpha=0.3)
        if logx:
            ax.set_xscale("log", base=2)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def _errorbar(ax, rows, x_of, label, method):
    rows = sorted((r for r in rows if x_of(r) is not None), key=x_of)
    if rows:
        ax.errorbar([x_of(r) for r in rows], [100 * r["acc"] for r in rows],
                    yerr=[100 * r["std"] for r in rows], label=label, capsize=3,
                    **STYLE.get(method, dict(marker="o")))


def draw(agg, labels, out_dir: Path) -> list[Path]:
    """agg: rows with net/kind/method/ratio/acc/std/compression/macs/latency_ms."""
    nets = list(dict.fromkeys(r["net"] for r in agg))
    if not nets:
        return []
    paths = []
    dense = {r["net"]: r for r in agg if r["kind"] == "dense"}

    def each(kind):
        for net in nets:
            for method in dict.fromkeys(r["method"] for r in agg if r["kind"] == kind):
                rows = [r for r in agg if r["net"] == net and r["kind"] == kind
                        and r["method"] == method]
                yield net, method, rows

    fig, axes = _axes(nets, "Weight pruning: accuracy vs compression (params / non-zeros)")
    for net, method, rows in each("weight"):
        _errorbar(axes[net], rows, lambda r: r["compression"], labels["weight"][method], method)
    for net, d in dense.items():
        _errorbar(axes[net], [d], lambda r: 1.0, "dense", "dense")
    paths.append(_finish(fig, axes, out_dir / "accuracy_vs_compression.png",
                         "compression ratio (log2)", logx=True))

    fig, axes = _axes(nets, "Channel pruning + shrink: accuracy vs MACs")
    for net, method, rows in each("channel"):
        _errorbar(axes[net], rows, lambda r: r["macs"] / 1e6, labels["channel"][method], method)
    for net, d in dense.items():
        _errorbar(axes[net], [d], lambda r: r["macs"] / 1e6, "dense", "dense")
    paths.append(_finish(fig, axes, out_dir / "accuracy_vs_macs.png", "MACs (millions)"))

    fig, axes = _axes(nets, "Accuracy vs LiteRT latency (1 thread, float .tflite)")
    for kind in ("weight", "channel"):
        for net, method, rows in each(kind):
            _errorbar(axes[net], rows, lambda r: r.get("latency_ms"),
                      f"{kind}: {labels[kind][method]}", method)
    for net, d in dense.items():
        _errorbar(axes[net], [d], lambda r: r.get("latency_ms"), "dense", "dense")
    paths.append(_finish(fig, axes, out_dir / "accuracy_vs_latency.png", "latency ms"))
    return paths
