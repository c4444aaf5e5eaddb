"""The result of :func:`tfprune.analysis.sensitivity.sensitivity`: curves, table, JSON, plot.

Example:
    >>> r = SensitivityResult("weight", (0.5,), "loss", False, 1.0, {"d": [1.5]},
    ...                       {"d": 12}, {"d": ["d"]}, "magnitude", 64, 0.1)
    >>> r.degradation("d").tolist(), r.ranking()
    ([0.5], ['d'])
"""

from __future__ import annotations

import dataclasses
import io
import json

import numpy as np

from tfprune.export.atomic import write_bytes

__all__ = ["SensitivityResult"]


@dataclasses.dataclass
class SensitivityResult:
    """Measured metric per unit (layer or group) and level.

    Attributes:
        granularity: ``"weight"``, ``"channel"`` or ``"head"`` (units are
            MultiHeadAttention layers, their sizes ``num_heads``).
        levels: the sparsities measured (increasing, in (0, 1)).
        metric: metric name (``"loss"``, ``"accuracy"`` or the callable's name).
        higher_is_better: True for accuracy-like metrics.
        baseline: the metric of the unpruned model.
        curves: unit name -> metric at each level.
        sizes: unit name -> weights (weight), channels (channel) or heads (head) in the
            unit.
        members: unit name -> layer names the unit touches.
        criterion: criterion used to choose what is removed at each level.
        samples: number of samples evaluated.
        seconds: wall time of the scan (working copy, one trace, every evaluation).
        recalibrate_bn: whether BatchNormalization statistics were re-estimated per point.
        model: the model analysed (not serialised; needed by ``allocate``).
    """

    granularity: str
    levels: tuple
    metric: str
    higher_is_better: bool
    baseline: float
    curves: dict
    sizes: dict
    members: dict
    criterion: str
    samples: int
    seconds: float
    recalibrate_bn: bool = False
    model: object = dataclasses.field(default=None, repr=False, compare=False)

    def degradation(self, unit: str) -> np.ndarray:
        """How much worse than the baseline each level is (positive = worse)."""
        v = np.asarray(self.curves[unit], dtype=np.float64)
        return (self.baseline - v) if self.higher_is_better else (v - self.baseline)

    def ranking(self) -> list:
        """Unit names from the least to the most sensitive (degradation at the top level)."""
        return sorted(self.curves, key=lambda u: float(self.degradation(u)[-1]))

    def table(self) -> str:
        """A text table: one row per unit, the metric at every level.

        Example:
            >>> r = SensitivityResult("weight", (0.5,), "loss", False, 1.0, {"d": [1.5]},
            ...                       {"d": 12}, {"d": ["d"]}, "magnitude", 64, 0.1)
            >>> print(r.table().splitlines()[1])
            d       12   1.5000
        """
        name_w = max([len(u) for u in self.curves] + [4])
        head = f"{'unit':<{name_w}} {'size':>5} " + " ".join(f"{s:>8.0%}" for s in self.levels)
        rows = [head]
        for u, vals in self.curves.items():
            rows.append(f"{u:<{name_w}} {self.sizes[u]:>5} " + " ".join(f"{v:>8.4f}" for v in vals))
        what = {"channel": "groups", "head": "attention layers (heads)"}.get(self.granularity,
                                                                          "layers")
        rows.append(f"baseline {self.metric} = {self.baseline:.4f} on {self.samples} samples, "
                    f"{len(self.curves)} {what}, {self.seconds:.1f} s")
        return "\n".join(rows)

    def to_dict(self) -> dict:
        """JSON-ready dict (the model is left out); :meth:`from_dict` inverts it."""
        d = dataclasses.asdict(dataclasses.replace(self, model=None))
        d.pop("model")
        d["levels"] = list(self.levels)
        return d

    @classmethod
    def from_dict(cls, d: dict, model=None) -> SensitivityResult:
        """Inverse of :meth:`to_dict` (pass ``model`` to use the result with ``allocate``)."""
        d = dict(d)
        d["levels"] = tuple(d["levels"])
        return cls(**d, model=model)

    def to_json(self, path: str | None = None) -> str:
        """The :meth:`to_dict` as JSON text; written atomically to ``path`` if given."""
        text = json.dumps(self.to_dict(), indent=1)
        if path is not None:
            write_bytes(str(path), text.encode())
        return text

    def plot(self, path: str, *, top: int | None = 20) -> str:
        """PNG of metric vs level, one line per unit (the ``top`` most sensitive), atomically.

        Returns the path written.
        """
        import matplotlib

        matplotlib.use("Agg", force=False)
        from matplotlib.figure import Figure


        units = self.ranking()[::-1][:top] if top else list(self.curves)
        fig = Figure(figsize=(7, 4.5))
        ax = fig.add_subplot(111)
        xs = [0.0] + list(self.levels)
        for u in units:
            ax.plot(xs, [self.baseline] + list(self.curves[u]), marker="o", ms=3, lw=1, label=u)
        ax.axhline(self.baseline, color="k", lw=0.8, ls="--")
        what = {"channel": "channels of the group", "head": "heads of the layer"}.get(
            self.granularity, "weights of the layer")
        ax.set_xlabel(f"sparsity ({what})")
        ax.set_ylabel(self.metric)
        ax.set_title(f"Sensitivity ({self.granularity}, {self.criterion})")
        if len(units) <= 20:
            ax.legend(fontsize=6, ncol=2)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110)
        write_bytes(str(path), buf.getvalue())
        return str(path)
