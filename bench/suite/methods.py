"""Pruning methods of the suite: each turns the dense checkpoint into a plain pruned model.

Every method gets the same fine-tuning budget: ``epochs`` epochs of Adam 1e-3 at batch
``batch`` from the same dense weights, with an AGP (Zhu & Gupta) ramp 0 -> target ending at
75 % of the fine-tune steps (TF-MOT's ``PolynomialDecay`` for TF-MOT, the identical
``tfprune.schedules.AGP`` for tfprune).

Weight methods take a compression ratio ``r`` and prune a fraction ``1 - 1/r`` of the
prunable weights; channel methods take a MAC ratio ``r`` (MACs kept ``1/r``), remove whole
channels with ``prune(granularity="channel")`` and ``shrink`` the result.
"""

from __future__ import annotations

import numpy as np

import tfprune
from tfprune.compat import keras

from . import nets

# name -> (label in the report, tfprune criterion, scope, kind)
WEIGHT = {
    "tfmot": ("TF-MOT prune_low_magnitude (layer)", None, "layer", "baseline"),
    "random": ("random (layer)", "random", "layer", "baseline"),
    "magnitude": ("magnitude (layer)", "magnitude", "layer", "baseline"),
    "magnitude_global": ("tfprune magnitude (global)", "magnitude", "global", "tfprune"),
    "taylor_global": ("tfprune taylor (global)", "taylor", "global", "tfprune"),
    "sensitivity": ("tfprune sensitivity allocation + magnitude", "magnitude", "allocation",
                    "tfprune"),
}
# name -> (label, criterion, allocation method, kind)
CHANNEL = {
    "random": ("random channels (uniform)", "random", "uniform", "baseline"),
    "l2": ("L2 filter norm (uniform)", "l2", "uniform", "baseline"),
    "taylor": ("tfprune taylor (uniform)", "taylor", "uniform", "tfprune"),
    "sensitivity": ("tfprune sensitivity allocation + L2", "l2", "sensitivity", "tfprune"),
}
# sensitivity levels: up to the highest weight sparsity of the grid (r = 32 -> 0.969)
WEIGHT_LEVELS = (0.5, 0.75, 0.875, 0.9375, 0.96875, 0.99)
CHANNEL_LEVELS = (0.25, 0.5, 0.75, 0.9)


def _steps(train, epochs, batch):
    return epochs * int(np.ceil(len(train[0]) / batch))


def _schedule_args(train, epochs, batch):
    steps = _steps(train, epochs, batch)
    end = max(1, int(0.75 * steps))
    return end, max(1, end // 12)


def _fit(model, train, epochs, batch, callbacks, seed):
    keras.utils.set_random_seed(seed)
    nets.compile_model(model).fit(*train, epochs=epochs, batch_size=batch, verbose=0,
                                  shuffle=True, callbacks=list(callbacks))
    return model


def weight(method, dense, ratio, train, *, epochs, batch, seed, context):
    """Prune ``1 - 1/ratio`` of the weights with ``method``; fine-tune; strip."""
    if method not in WEIGHT:
        raise SystemExit(f"unknown weight method {method!r}; choose from {sorted(WEIGHT)}")
    sparsity = 1.0 - 1.0 / ratio
    end, freq = _schedule_args(train, epochs, batch)
    _, criterion, scope, _ = WEIGHT[method]
    if method == "tfmot":
        import tensorflow_model_optimization as tfmot

        sk = tfmot.sparsity.keras
        sched = sk.PolynomialDecay(0.0, sparsity, begin_step=0, end_step=end, frequency=freq)
        wrapped = sk.prune_low_magnitude(nets.clone(dense), pruning_schedule=sched)
        _fit(wrapped, train, epochs, batch, [sk.UpdatePruningStep()], seed)
        return sk.strip_pruning(wrapped), {}
    info = {}
    if scope == "allocation":
        alloc = tfprune.allocate(context.sensitivity("weight"), sparsity=sparsity,
                                 method="sensitivity")
        scope = dict(alloc)
        info["allocation"] = {k: round(v, 4) for k, v in scope.items()}
        sparsity = max(scope.values())
    sched = tfprune.schedules.AGP(sparsity, end_step=end, frequency=freq)
    wrapped = tfprune.prune(dense, schedule=sched, criterion=criterion, scope=scope)
    _fit(wrapped, train, epochs, batch, [tfprune.PruningCallback()], seed)
    return tfprune.strip(wrapped), info


def channel(method, dense, ratio, train, *, epochs, batch, seed, context):
    """Remove channels until MACs are ``1/ratio`` of dense; fine-tune; strip; shrink."""
    if method not in CHANNEL:
        raise SystemExit(f"unknown channel method {method!r}; choose from {sorted(CHANNEL)}")
    _, criterion, how, _ = CHANNEL[method]
    if how == "sensitivity":
        alloc = tfprune.allocate(context.sensitivity("channel"), target=("macs", 1.0 / ratio),
                                 method="sensitivity")
    else:
        alloc = tfprune.allocate(dense, target=("macs", 1.0 / ratio), method=how,
                                 granularity="channel")
    scope = {k: float(v) for k, v in alloc.items() if v > 0}
    end, freq = _schedule_args(train, epochs, batch)
    sched = tfprune.schedules.AGP(max(scope.values()), end_step=end, frequency=freq)
    wrapped = tfprune.prune(dense, schedule=sched, criterion=criterion, scope=scope,
                            granularity="channel")
    _fit(wrapped, train, epochs, batch, [tfprune.PruningCallback()], seed)
    small = tfprune.shrink(tfprune.strip(wrapped))
    info = {"allocation": {k: round(v, 4) for k, v in scope.items()},
            "predicted_macs": alloc.predicted.get("macs")}
    return small, info


class Context:
    """Per (network, seed) state shared by its cells: the sensitivity scans, computed once."""

    def __init__(self, dense, calib):
        self.dense, self.calib, self._scans, self.seconds = dense, calib, {}, {}

    def sensitivity(self, granularity):
        if granularity not in self._scans:
            import time

            t0 = time.perf_counter()
            levels = WEIGHT_LEVELS if granularity == "weight" else CHANNEL_LEVELS
            self._scans[granularity] = tfprune.sensitivity(
                self.dense, self.calib, granularity=granularity, levels=levels, progress=False)
            self.seconds[granularity] = round(time.perf_counter() - t0, 1)
        return self._scans[granularity]
