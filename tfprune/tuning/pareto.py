"""Pareto sets over named measures, a small printable table, and the Pareto plot.

A row *dominates* another when it is at least as good on every axis and strictly
better on one ("good" follows each axis' direction, ``"max"`` or ``"min"``).

Example:
    >>> rows = [{"trial_id": "0", "acc": 0.9, "macs": 100}, {"trial_id": "1", "acc": 0.8, "macs": 50},
    ...         {"trial_id": "2", "acc": 0.7, "macs": 80}]
    >>> [r["trial_id"] for r in front(rows, [("acc", "max"), ("macs", "min")])]
    ['1', '0']
"""

from __future__ import annotations

import math
import os
import tempfile

__all__ = ["Table", "front", "plot", "format_value"]


def format_value(v) -> str:
    """A cell of a table or a progress line: floats to 4 significant digits (whole above
    10,000), ``None`` as an empty string.

    Example:
        >>> format_value(0.912345), format_value(123456.7), format_value(None), format_value(True)
        ('0.9123', '123457', '', 'True')
    """
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e4 else f"{v:.0f}"
    return "" if v is None else str(v)


class Table(list):
    """A list of row dicts that prints as an aligned text table.

    Example:
        >>> print(Table([{"trial_id": "0", "acc": 0.91234}]))
        trial_id  acc
        0         0.9123
    """

    @property
    def columns(self) -> list:
        cols = []
        for row in self:
            cols += [k for k in row if k not in cols]
        return cols

    @staticmethod
    def _fmt(v) -> str:
        return format_value(v)

    def __str__(self) -> str:
        cols = self.columns
        cells = [[self._fmt(r.get(c)) for c in cols] for r in self]
        widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(cols)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip()]
        lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
                  for row in cells]
        return "\n".join(lines)

    def to_markdown(self) -> str:
        """The table in GitHub markdown."""
        cols = self.columns
        out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        out += ["| " + " | ".join(self._fmt(r.get(c)) for c in cols) + " |" for r in self]
        return "\n".join(out)


def _better_or_equal(a, b, axes):
    return all((a[n] >= b[n]) if d == "max" else (a[n] <= b[n]) for n, d in axes)


def _strictly_better(a, b, axes):
    return any((a[n] > b[n]) if d == "max" else (a[n] < b[n]) for n, d in axes)


def front(rows, axes) -> Table:
    """The non-dominated rows for ``axes = [(name, "max"|"min"), ...]``.

    Rows missing an axis or holding a NaN there are left out. The result is sorted by
    the second axis (the first cost), then the first, best first.
    """
    ok = [r for r in rows if all(isinstance(r.get(n), (int, float)) and not math.isnan(r[n])
                                 for n, _ in axes)]
    keep = [a for a in ok if not any(_better_or_equal(b, a, axes) and _strictly_better(b, a, axes)
                                     for b in ok if b is not a)]

    def key(r):
        return tuple(r[n] if d == "min" else -r[n] for n, d in axes[1:] + axes[:1])

    return Table(sorted(keep, key=key))


def plot(rows, path, *, quality, cost, title=None) -> str:
    """Write a PNG: every trial as a grey dot, the Pareto front as a red step line.

    ``quality`` and ``cost`` are ``(name, direction)`` pairs. Written atomically.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    axes = [quality, cost]
    pts = [r for r in rows if all(isinstance(r.get(n), (int, float)) for n, _ in axes)]
    best = front(pts, axes)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    ax.scatter([r[cost[0]] for r in pts], [r[quality[0]] for r in pts], c="0.6", s=18,
               label="trials")
    ordered = sorted(best, key=lambda r: r[cost[0]])
    ax.step([r[cost[0]] for r in ordered], [r[quality[0]] for r in ordered], where="post",
            c="tab:red", lw=1.2)
    ax.scatter([r[cost[0]] for r in ordered], [r[quality[0]] for r in ordered], c="tab:red",
               s=28, label="Pareto front", zorder=3)
    for r in ordered:
        ax.annotate(str(r.get("trial_id", "")), (r[cost[0]], r[quality[0]]), fontsize=7,
                    xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel(f"{cost[0]} ({'lower' if cost[1] == 'min' else 'higher'} is better)")
    ax.set_ylabel(f"{quality[0]} ({'higher' if quality[1] == 'max' else 'lower'} is better)")
    ax.set_title(title or f"{quality[0]} vs {cost[0]}: {len(best)} of {len(pts)} trials on the front")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".png", dir=folder)
    os.close(fd)
    try:
        fig.savefig(tmp, format="png")
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.remove(tmp)
    return path
