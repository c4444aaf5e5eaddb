"""Prune a model to a budget: sensitivity -> allocate -> shrink -> fine-tune -> measure.

The end-to-end job "make it fit": :func:`to_budget` measures the channel sensitivity
once, allocates per-group sparsities that meet the target, removes the channels
(shrink, so the figure measured is the real one), fine-tunes, measures the real MACs
or the real full-int8 .tflite size, and tightens the internal target and repeats when
the measurement misses (at most ``max_rounds``). The result says whether the budget
was met (``.met``) and writes a JSON + Markdown + PNG report.

Example:
    >>> import numpy as np
    >>> from tfprune.compat import keras
    >>> m = keras.Sequential([keras.Input((6,)), keras.layers.Dense(32, activation="relu"),
    ...                       keras.layers.Dense(3, activation="softmax")])
    >>> m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    >>> x, y = np.random.rand(64, 6).astype("float32"), np.arange(64) % 3
    >>> r = to_budget(m, (x, y), target=("macs", 0.5), fine_tune=0, progress=False)
    >>> r.met, r.achieved <= 0.5 * r.dense
    (True, True)
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
import warnings

import numpy as np

from tfprune import deprecations, errors, export, structured
from tfprune.analysis.allocate import Costs, allocate, given_targets
from tfprune.analysis.profiles import float_latency_ms, micro_arena
from tfprune.analysis.sensitivity import sensitivity
from tfprune.compat import compile_like, keras, keras3_io
from tfprune.export.atomic import write_bytes
from tfprune.graph.macs import count_macs

__all__ = ["to_budget", "BudgetResult", "BUDGET_TARGETS"]

BUDGET_TARGETS = ("macs", "bytes", "flash", "latency_ms", "arena")
_KEYWORDS = ("target", "fine_tune", "validation_data", "max_rounds", "progress")


@dataclasses.dataclass
class BudgetResult:
    """What :func:`to_budget` did.

    Attributes:
        model: the shrunk, fine-tuned model of the best round (the one that met the
            budget, else the smallest one measured).
        met: True if the measured figure is within the budget.
        target: ``(name, value in the user's units, absolute value)``.
        achieved: the measured figure of ``model`` (MACs, bytes of the int8 .tflite,
            LiteRT ms or TFLM arena bytes).
        dense: the same figure for the original model.
        accuracy: the model's accuracy on ``validation_data`` (``None`` without metrics).
        dense_accuracy: the original model's.
        rounds: one dict per round (internal target, predicted, measured, accuracy).
        allocation: the :class:`~tfprune.analysis.allocate.Allocation` of the best round.
        sensitivity: the :class:`~tfprune.analysis.sensitivity.SensitivityResult`.
    """

    model: object
    met: bool
    target: tuple
    achieved: float
    dense: float
    accuracy: float | None
    dense_accuracy: float | None
    rounds: list
    allocation: object
    sensitivity: object

    def to_dict(self) -> dict:
        """JSON-ready summary (no model)."""
        return {"met": self.met, "target": list(self.target), "achieved": self.achieved,
                "dense": self.dense, "accuracy": self.accuracy,
                "dense_accuracy": self.dense_accuracy, "rounds": self.rounds,
                "allocation": self.allocation.to_dict() if self.allocation else None,
                "sensitivity": self.sensitivity.to_dict() if self.sensitivity else None}

    def to_markdown(self) -> str:
        """A short Markdown report: verdict, figures and one row per round."""
        name, value, goal = self.target
        verdict = "MET" if self.met else "**NOT MET**"
        acc = "n/a" if self.accuracy is None else f"{self.accuracy:.4f}"
        dacc = "n/a" if self.dense_accuracy is None else f"{self.dense_accuracy:.4f}"
        lines = [f"# to_budget: {name} <= {_fmt(name, goal)} — {verdict}", "",
                 f"- dense {name}: {_fmt(name, self.dense)}; achieved: "
                 f"{_fmt(name, self.achieved)} "
                 f"({self.achieved / self.dense:.1%} of dense)",
                 f"- accuracy: dense {dacc} -> {acc}", "",
                 "| round | internal target | predicted | measured | accuracy | met |",
                 "|---|---|---|---|---|---|"]
        for r in self.rounds:
            a = "n/a" if r["accuracy"] is None else f"{r['accuracy']:.4f}"
            lines.append(f"| {r['round']} | {_fmt(name, r['internal_target'])} | "
                         f"{_fmt(name, r['predicted'])} | {_fmt(name, r['measured'])} | {a} | "
                         f"{'yes' if r['met'] else 'no'} |")
        return "\n".join(lines) + "\n"

    def save(self, out_dir: str) -> dict:
        """Write ``budget.json``, ``budget.md`` and ``sensitivity.png`` atomically; return paths."""

        os.makedirs(out_dir, exist_ok=True)
        paths = {"json": os.path.join(out_dir, "budget.json"),
                 "markdown": os.path.join(out_dir, "budget.md"),
                 "png": os.path.join(out_dir, "sensitivity.png")}
        write_bytes(paths["json"], json.dumps(self.to_dict(), indent=1).encode())
        write_bytes(paths["markdown"], self.to_markdown().encode())
        self.sensitivity.plot(paths["png"])
        return paths


def _target(target, deprecated):
    given = given_targets(target, BUDGET_TARGETS, deprecated)
    if len(given) != 1:
        raise errors.ConfigError(
            f"to_budget() needs exactly one budget target=(name, value), name one of "
            f"{', '.join(BUDGET_TARGETS)}; got {sorted(given) or 'none'}.")
    (name, value), = given.items()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 \
            or not math.isfinite(value):
        raise errors.ConfigError(f"{name} must be a positive number, got {name}={value!r}.")
    return name, float(value)


def _int8_bytes(model, x) -> int:
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "m.tflite")
        export.tflite(model, path, quantize="int8", representative_data=x[:128])
        return os.path.getsize(path)


def _measure(name, model, x):
    if name == "macs":
        return float(count_macs(model))
    if name == "latency_ms":
        return float(float_latency_ms(model))
    if name == "arena":
        return float(micro_arena(model))
    return float(_int8_bytes(model, x))


_HEADS_NOTE = (
    "to_budget() removes channels only (granularity='channel'); for the heads of "
    "MultiHeadAttention layers use allocate(sensitivity(model, data, granularity='head'), "
    "target=('params', ...) or ('macs', ...)), then one_shot(model, scope=allocation, "
    "granularity='head'), strip and shrink.")


def _fmt(name, v) -> str:
    return f"{v:.3f}" if name == "latency_ms" else f"{v:,.0f}"


def _accuracy(model, val):
    if not getattr(model, "compiled_metrics", None) or val is None:
        return None
    out = model.evaluate(*val, batch_size=64, verbose=0, return_dict=True)
    for k, v in out.items():
        if "acc" in k:
            return float(v)
    return None


def _check_fine_tune(fine_tune):
    if fine_tune is None or callable(fine_tune):
        return
    if isinstance(fine_tune, bool) or not isinstance(fine_tune, int) or fine_tune < 0:
        raise errors.ConfigError(
            f"fine_tune must be a number of epochs (int >= 0) or a callable model -> model, "
            f"got {fine_tune!r}.")


@keras3_io(returns="record")
def to_budget(model, data, *, target: tuple | None = None, fine_tune=1, validation_data=None,
              max_rounds: int = 3, progress=None, **deprecated) -> BudgetResult:
    """Channel-prune ``model`` until a measured budget holds (returns a new, smaller model).

    Channels only: attention heads are not removed here. For heads run the steps
    yourself: ``allocate(sensitivity(model, data, granularity="head"), target=("params",
    ...))`` (or ``"macs"``), ``one_shot(model, scope=allocation, granularity="head")``, ``strip``,
    ``shrink``.

    Args:
        model: a compiled tf_keras model (loss and optimizer; an ``accuracy`` metric
            makes the report show accuracy). Not modified.
        data: ``(x, y)`` arrays: the first 256 samples calibrate the sensitivity scan and
            the int8 conversion; all of them fine-tune.
        target: the budget, a pair ``(name, value)``, e.g. ``("macs", 0.5)``.
            ``"macs"``, ``"bytes"``, ``"flash"``, ``"arena"``: absolute or (when in (0, 1))
            a fraction of the dense figure. ``bytes``/``flash``: size of the full-int8
            .tflite (the model data a microcontroller keeps in flash), measured by
            converting. ``arena``: TFLM tensor arena bytes, measured by a real
            ``export.micro``. ``"latency_ms"``: LiteRT 1-thread median latency (ms, always
            absolute) of the float .tflite, measured with ``export.latency`` (noisy on a
            loaded machine).
        fine_tune: epochs of ``model.fit`` on ``data`` after each shrink (0: none) or a
            callable ``small_model -> model`` (compiled like the original).
        validation_data: ``(x, y)`` for the reported accuracy (default: the first 1024
            samples of ``data``, i.e. training accuracy).
        max_rounds: at most this many allocate/shrink/fine-tune/measure rounds.
        progress: show the sensitivity progress bar (default: on a terminal).
        **deprecated: ``macs=``, ``bytes=``, ``flash=``, ``arena=``, ``latency_ms=`` (tfprune
            0.2, until 0.4, with a DeprecationWarning): use ``target=(name, value)``. Any
            other keyword is refused.

    Returns:
        A :class:`BudgetResult`; ``.met`` is False (with a warning) if no round met the
        budget, and ``.model`` is then the smallest model measured.

    Raises:
        ConfigError: no or several budgets, an unknown keyword, an uncompiled
            model, bad ``fine_tune`` or ``max_rounds``, an unreachable budget — before
            the fine-tuning starts.
    """
    deprecated = deprecations.keywords("analysis.to_budget", deprecated, valid=_KEYWORDS,
                                       stacklevel=5)  # past keras3_io's two frames
    name, value = _target(target, deprecated)
    x, y = _check_inputs(model, data, fine_tune, max_rounds)
    b = _start(model, name, value, x, y, progress)
    b.fine_tune = fine_tune
    b.val = validation_data if validation_data is not None else (x[:1024], _head(y, 1024))
    dense_acc = _accuracy(model, b.val)
    rounds, best = [], None
    for i in range(1, max_rounds + 1):
        try:
            alloc = allocate(b.res, target=(b.alloc_name, b.internal))
        except errors.ConfigError:
            break
        row, small = _round(b, model, alloc, i)
        rounds.append(row)
        met, measured = row["met"], row["measured"]
        if best is None or (met and not best[0]) or (met == best[0] and measured < best[1]):
            best = (met, measured, small, row["accuracy"], alloc)
        if met:
            break
        b.internal -= (measured - b.goal) + 0.01 * b.goal  # tighten by the miss, a little more
    met, measured, small, acc, alloc = best
    if not met:
        warnings.warn(
            f"to_budget: {name} budget {b.goal:,.0f} NOT met after {len(rounds)} round(s); the "
            f"smallest model measures {measured:,.0f}. Raise max_rounds or relax the budget.",
            stacklevel=2)
    return BudgetResult(small, met, (name, value, b.goal), measured, b.dense, acc, dense_acc,
                        rounds, alloc, b.res)


@dataclasses.dataclass
class _Budget:
    """One to_budget() search: the target in the user's and in allocate()'s units."""

    name: str  # the user's budget
    value: float
    goal: float  # absolute
    dense: float  # measured on the dense model
    alloc_name: str  # the allocate() target that models it
    internal: float  # what allocate() is asked for (tightened after each miss)
    res: object  # the SensitivityResult
    x: np.ndarray
    y: object  # an array, or one per output (dict or list)
    fine_tune: object = 1
    val: tuple | None = None


def _check_inputs(model, data, fine_tune, max_rounds):
    """``(x, y)`` of ``data``, after refusing bad options and an uncompiled model."""
    _check_fine_tune(fine_tune)
    if isinstance(max_rounds, bool) or not isinstance(max_rounds, int) or max_rounds < 1:
        raise errors.ConfigError(f"max_rounds must be an int >= 1, got {max_rounds!r}.")
    if not isinstance(model, keras.Model) or getattr(model, "loss", None) is None:
        raise errors.ConfigError(
            "to_budget() needs a compiled tf_keras model: model.compile(optimizer, loss, "
            "metrics=['accuracy']) first (the loss drives the sensitivity scan and fine-tuning).")
    if not (isinstance(data, tuple) and len(data) == 2):
        raise errors.ConfigError("to_budget() takes data=(x, y) arrays.")
    y = data[1]
    if isinstance(y, dict) or (isinstance(y, (list, tuple)) and len(model.outputs) > 1):
        return np.asarray(data[0]), y  # one label array per output (a dict or a list)
    return np.asarray(data[0]), np.asarray(y)


def _head(y, n):
    """The first ``n`` labels: an array, or one array per output (dict or list)."""
    if isinstance(y, dict):
        return {k: np.asarray(v)[:n] for k, v in y.items()}
    if isinstance(y, (list, tuple)):
        return [np.asarray(v)[:n] for v in y]
    return y[:n]


def _start(model, name, value, x, y, progress) -> _Budget:
    """Measure the dense model, scan its sensitivity and refuse an unreachable budget."""
    dense = _measure(name, model, x)
    goal = value * dense if value < 1 and name != "latency_ms" else value
    alloc_name = "flash" if name in ("flash", "bytes") else name
    try:
        res = sensitivity(model, (x[:256], _head(y, 256)), granularity="channel",
                          progress=progress)
    except errors.NothingToPruneError as e:
        raise errors.NothingToPruneError(f"{e} {_HEADS_NOTE}") from None
    allocate(res, target=(alloc_name, goal))  # refuses an unreachable budget before any training
    internal = goal
    if alloc_name == "flash":  # calibrate the int8 size estimate on the dense model
        estimate = Costs(model, "channel").totals(np.ones(len(res.curves)))[2]
        internal = goal - max(dense - estimate, 0.0)
    return _Budget(name, value, goal, dense, alloc_name, internal, res, x, y)


def _round(b: _Budget, model, alloc, i):
    """Shrink by ``alloc``, fine-tune, measure: ``(the round's report row, small model)``."""
    small = structured.shrink(model, alloc.plan(model))
    compile_like(small, model)  # fresh optimizer, same loss, metrics and loss weights
    if callable(b.fine_tune):
        small = b.fine_tune(small) or small
    elif b.fine_tune:
        small.fit(b.x, b.y, epochs=int(b.fine_tune), batch_size=64, verbose=0)
    measured = _measure(b.name, small, b.x)
    predicted = alloc.predicted["bytes" if b.alloc_name == "flash" else b.name]
    row = {"round": i, "internal_target": b.internal, "predicted": predicted,
           "measured": measured, "accuracy": _accuracy(small, b.val), "met": measured <= b.goal}
    return row, small
