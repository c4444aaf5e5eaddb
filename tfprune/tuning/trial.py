"""One trial of a sweep: prune, fine-tune with PruningCallback, strip (and shrink for channels).

:func:`run` is the path of DESIGN.md with one setting per stop; it never modifies the
model it is given and returns the plain (stripped or shrunk) model. With ``distill=True``
the fine-tuning is :func:`tfprune.distill` with the dense model (the one given) as teacher.

Example:
    >>> import numpy as np
    >>> from tfprune.compat import keras
    >>> m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
    ...                       keras.layers.Dense(3, activation="softmax")])
    >>> x, y = np.random.rand(32, 4).astype("float32"), np.arange(32) % 3
    >>> s = {"sparsity": 0.5, "mac_fraction": None, "criterion": "magnitude",
    ...      "granularity": "channel", "scope": "layer", "schedule": "one_shot",
    ...      "epochs": 1, "learning_rate": 1e-3, "distill": False}
    >>> plain, info = run(m, s, x=x, y=y, loss="sparse_categorical_crossentropy")
    >>> plain.layers[0].units, info["pruned_fraction"]
    (4, 0.5)
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np

from tfprune import callbacks, errors, structured
from tfprune import data as data_lib
from tfprune.analysis.summary import summary
from tfprune.callbacks.pruning import PruningCallback
from tfprune.compat import keras
from tfprune.core import criteria as criteria_lib
from tfprune.core import schedules
from tfprune.graph.macs import count_macs
from tfprune.masking import api as masking_api
from tfprune.masking.arguments import Calibration

__all__ = ["run", "TrialOptions", "sparsity_for_macs", "AGP_END", "CALIBRATION_SAMPLES"]

AGP_END = 0.75  # the AGP ramp ends at 75% of the fine-tune steps (FACTS.md reference schedule)
CALIBRATION_SAMPLES = 256


@dataclasses.dataclass(frozen=True)
class TrialOptions:
    """How a trial fine-tunes (what does not vary from trial to trial).

    Attributes:
        loss: fine-tuning loss; metrics: compiled metrics (a tuple or ``{output: [...]}``).
        batch_size: fine-tuning batch size.
        log_dir: TensorBoard directory for :class:`tfprune.PruningCallback` (None: none).
        verbose: Keras ``fit`` verbosity.
        distill_task: what a distilling trial imitates: ``"classification"`` (soft targets)
            or ``"regression"`` (output matching), see :data:`tfprune.callbacks.distill.TASKS`.
        loss_weights: per-output loss weights (``{output: w}`` or a list; None: all 1).

    Example:
        >>> TrialOptions(loss="mse").distill_task
        'classification'
    """

    loss: object = None
    metrics: tuple | dict = ()
    batch_size: int = 32
    log_dir: str | None = None
    verbose: int = 0
    distill_task: str = "classification"
    loss_weights: object = None


def _cost_at(model, s, settings):
    g = settings["granularity"]
    pruned = masking_api.one_shot(model, s, criterion="magnitude", scope=settings["scope"],
                                  granularity=g)
    if g == "channel":
        return count_macs(structured.shrink(masking_api.strip(pruned)))
    return summary(pruned, print_fn=None)["sparse_macs"]


def sparsity_for_macs(model, fraction: float, settings: dict, *, iters: int = 10) -> float:
    """Smallest sparsity whose one-shot result keeps at most ``fraction`` of the dense MACs.

    Channel granularity counts the MACs of the shrunk model; weight granularity counts
    sparse MACs (MACs scaled by kernel density). Both after one-shot magnitude pruning
    (the trial's criterion may pick other units, never a different count). Bisection
    over [0, 0.99].

    Raises:
        ConfigError: the target is below what 99% sparsity reaches (the closest is named).

    Example:
        >>> from tfprune.compat import keras
        >>> m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(8),
        ...                       keras.layers.Dense(2)])
        >>> round(sparsity_for_macs(m, 0.5, {"granularity": "weight", "scope": "layer"}), 1)
        0.5
    """
    dense = count_macs(model)
    target = fraction * dense
    if fraction >= 1.0 or dense == 0:
        return 0.0
    hi, lo = 0.99, 0.0
    best = _cost_at(model, hi, settings)
    if best > target:
        raise errors.ConfigError(
            f"mac_fraction={fraction!r} is unreachable with granularity="
            f"{settings['granularity']!r}: 99% sparsity keeps {best / dense:.3f} of the MACs. "
            "Use a larger mac_fraction.")
    for _ in range(iters):
        mid = (lo + hi) / 2
        if _cost_at(model, mid, settings) <= target:
            hi = mid
        else:
            lo = mid
    return hi


def _calibration(x, y):
    """The first samples of ``x`` (and ``y``): arrays, or lists/dicts of them (several
    inputs or outputs)."""
    n = CALIBRATION_SAMPLES
    return (data_lib.head(x, n), data_lib.head(y, n)) if y is not None else data_lib.head(x, n)


def _compile(model, settings, opts):
    model.compile(optimizer=keras.optimizers.Adam(settings["learning_rate"]), loss=opts.loss,
                  metrics=opts.metrics if isinstance(opts.metrics, dict) else list(opts.metrics),
                  loss_weights=opts.loss_weights)


def _prune(model, settings, s, x, y, opts):
    crit = criteria_lib.get(settings["criterion"])
    kwargs = {"criterion": crit, "scope": settings["scope"], "granularity": settings["granularity"]}
    if settings["schedule"] == "one_shot":
        data = _calibration(x, y) if crit.needs_data else None
        return masking_api.one_shot(model, s, data=Calibration(data, loss=opts.loss), **kwargs)
    steps = settings["epochs"] * math.ceil(data_lib.length(x) / opts.batch_size)
    end = max(1, int(AGP_END * steps))
    sched = schedules.AGP(s, end_step=end, begin_step=0, frequency=max(1, end // 10))
    return masking_api.prune(model, schedule=sched, **kwargs)


def _prune_and_fit(model, settings, s, x, y, opts):
    pruned = _prune(model, settings, s, x, y, opts)
    fitted = pruned
    if settings.get("distill"):  # the dense model given is the teacher; it is never trained
        fitted = callbacks.distill(pruned, model, temperature=settings["temperature"],
                                     alpha=settings["alpha"], task=opts.distill_task)
    _compile(fitted, settings, opts)
    if settings["epochs"] > 0:
        fitted.fit(x, y, batch_size=opts.batch_size, epochs=settings["epochs"],
                   verbose=opts.verbose, callbacks=[PruningCallback(log_dir=opts.log_dir)])
    plain = masking_api.strip(pruned)
    return structured.shrink(plain) if settings["granularity"] == "channel" else plain


def run(model, settings: dict, *, x, y, loss=None, batch_size: int | None = None,
        options: TrialOptions | None = None):
    """Prune ``model`` with ``settings``, fine-tune, and return ``(plain_model, info)``.

    ``options`` (:class:`TrialOptions`) says how to fine-tune; ``loss`` and ``batch_size``,
    when given, replace its fields. ``info``: ``pruned_fraction`` (the sparsity used: given,
    or found for ``mac_fraction``) and ``fine_tune_seconds`` (wall time of the whole trial
    path).
    """
    t0 = time.perf_counter()
    opts = options or TrialOptions()
    opts = dataclasses.replace(opts, **{k: v for k, v in (("loss", loss), ("batch_size", batch_size))
                                        if v is not None})
    s = settings["sparsity"]
    if s is None:
        s = sparsity_for_macs(model, settings["mac_fraction"], settings)
    plain = _prune_and_fit(model, settings, s, x, y, opts)
    return plain, {"pruned_fraction": float(np.round(s, 6)),
                   "fine_tune_seconds": time.perf_counter() - t0}
