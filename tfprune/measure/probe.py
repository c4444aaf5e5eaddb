"""Measure a metric with channels of dependency groups removed, in place, fast.

The one measuring tool behind ``criterion="sensitivity"`` (the loss change of removing
one channel of a group) and :func:`tfprune.sensitivity` (a group at several levels).
A :class:`ChannelProbe` holds a plain working copy of the model, the variables where
every group's channels live (producer kernel and bias, depthwise slices,
normalization scale/offset, consumer input slices: the same members a channel mask
zeroes, from :mod:`tfprune.graph`) and ONE compiled evaluation over the cached
calibration batches. A measurement point is a handful of variable assigns plus that
evaluation; the original values are restored afterwards. Nothing is retraced and no
Python walk of the model happens per point.

``granularity="head"``: the groups are the heads of every ``MultiHeadAttention``
(``"<layer>/heads"``, one "channel" per head, living in the query/key/value kernels and
biases and the output-projection kernel: the map of :mod:`tfprune.graph.heads`), so the
same probe measures heads removed, for ``sensitivity(granularity="head")`` and
``criterion="sensitivity"`` at head granularity.

Example:
    >>> import numpy as np
    >>> from tfprune.compat import keras
    >>> m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="h"),
    ...                       keras.layers.Dense(2, name="out")])
    >>> x, y = np.random.rand(16, 4).astype("float32"), np.arange(16) % 2
    >>> fn = loss_metric(keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    >>> p = ChannelProbe(m, cache((x, y)), fn)
    >>> p.deltas("h").shape
    (3,)
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from tfprune import data as data_lib
from tfprune import errors
from tfprune import graph as graph_lib
from tfprune.compat import keras
from tfprune.core.criteria import grouping
from tfprune.graph import heads
from tfprune.graph.heads import HeadGroup, head_groups
from tfprune.measure import cutpoints
from tfprune.measure.batchstats import BatchStatsNormalization, has_batch_norm, working_copy
from tfprune.measure.metric import chunk_size, compile_metric, loss_metric

__all__ = ["cache", "compile_metric", "chunk_size", "loss_metric", "ChannelProbe", "HeadGroup",
           "head_groups", "MIN_SAMPLES", "measure_loss_deltas", "BatchStatsNormalization", "working_copy",
           "has_batch_norm"]

MIN_SAMPLES = 8


def cache(data, *, batch_size: int = 64, max_batches=None, max_samples=None, model=None,
          labels=None) -> list:
    """``(x, y)`` numpy batches from arrays, a list of batches, a tf.data.Dataset or a
    generator (:func:`tfprune.data.batches`: each batch checked, a source of unknown length
    bounded).

    Args:
        data: ``(x, y)`` arrays (cut in batches of ``batch_size``), a list of ``(x, y)``
            batches, a ``tf.data.Dataset`` or a generator of them.
        max_batches: use at most this many batches.
        max_samples: stop once this many samples are cached (the last batch is cut).
        model, labels: check every batch against ``model`` (shapes, dtypes, finite values)
            and its labels by ``labels`` (:func:`tfprune.data.check`).

    Raises:
        ConfigError: no labels, or fewer than 8 samples (says how many batches and
            samples were given).
        DataError: a batch that does not fit the model.

    Example:
        >>> [len(b[0]) for b in cache((np.zeros((10, 2)), np.zeros(10)), batch_size=4)]
        [4, 4, 2]
    """
    if data_lib.is_array(data):
        raise errors.ConfigError(
            "data must give labels: pass (x, y), batches of (x, y) or a tf.data.Dataset of "
            "(x, y) pairs (the metric compares predictions with labels).")
    if isinstance(data, tuple) and len(data) == 2 and all(data_lib.is_array(d) for d in data) \
            and len(data[0]) != len(data[1]):
        raise errors.ConfigError(f"data: x has {len(data[0])} samples, y has {len(data[1])}.")
    out, n = [], 0
    for b in data_lib.batches(data, model=model, labels=labels, batch_size=batch_size,
                              max_batches=max_batches):
        x, y = data_lib.split(b, model)
        if y is None:
            raise errors.ConfigError(
                "data must give (x, y) batches; got a batch that is not an (x, y) pair.")
        x, y = np.asarray(x), np.asarray(y)
        if max_samples is not None and n + len(x) > max_samples:
            x, y = x[:max_samples - n], y[:max_samples - n]
        out.append((x, y))
        n += len(x)
        if max_samples is not None and n >= max_samples:
            break
    if n < MIN_SAMPLES:
        raise errors.ConfigError(
            f"data gave {len(out)} batch(es) with {n} samples; measuring needs at least 1 "
            f"batch and {MIN_SAMPLES} samples (256 or more give stable results).")
    return out


def _attribute(obj, path: str):
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


class ChannelProbe:
    """Remove channels of dependency groups (or attention heads) in place on a working copy
    and measure.

    Args:
        model: a built tf_keras model (not modified: a working copy is made).
        batches: cached ``(x, y)`` batches (:func:`cache`).
        metric: ``fn(y, y_pred) -> batch-mean scalar`` (e.g. :func:`loss_metric`).
        exclude: layer names whose output channels are kept (their groups are not
            measured).
        higher_is_better: True for accuracy-like metrics (a delta is then ``base - v``).
        cuts: where evaluations may start (:class:`tfprune.measure.cutpoints.Cuts`;
            default ``Cuts()``): a group lying wholly after a single-tensor cut point is
            measured on the model from that cut on, on activations computed once (the
            same value, less work; one more trace per cut). ``count="auto"``: the cuts
            that minimise the predicted scan time (measured whole-model trace and
            evaluation times, per-layer costs); an int ``n``: at most ``n`` cuts; 0:
            always evaluate the whole model. ``points``: evaluations expected per group,
            for ``"auto"``: an int, a dict group -> int, or ``"channels"`` (one per
            channel: :meth:`deltas`).
        recalibrate_bn: measure as if the BatchNormalization statistics were re-estimated
            after each removal (:func:`tfprune.masking.refit.recalibrate_bn`): every
            channels-last BatchNormalization of the working copy normalises with the
            statistics of its input over chunks of about 64 samples
            (:class:`BatchStatsNormalization`), the baseline included. Without it, a
            removal also shifts what every later BatchNormalization sees, against moving
            statistics measured on the dense model, and that damage (which a cheap
            re-estimate or any fine-tuning removes) can swamp the differences between
            groups.
        granularity: ``"channel"`` (dependency groups) or ``"head"`` (the heads of every
            ``MultiHeadAttention``, one :class:`HeadGroup` per layer; ``exclude`` names
            layers whose heads are kept).

    Attributes:
        graph: the dependency graph of the working copy (``None`` at head granularity).
        groups: group name -> :class:`tfprune.graph.group.Group` (the prunable ones) or
            :class:`HeadGroup`.
        base: the metric of the unpruned model.
        cut_of: group name -> index in ``work.layers`` of the cut its evaluations start
            from (groups evaluated on the whole model are not in it).

    Example (heads; the channel form is in the module docstring):
        >>> i = keras.Input((5, 8))
        >>> a = keras.layers.MultiHeadAttention(4, 2, name="att")(i, i)
        >>> m = keras.Model(i, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling1D()(a)))
        >>> x, y = np.random.rand(16, 5, 8).astype("float32"), np.arange(16) % 2
        >>> fn = loss_metric(keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        >>> p = ChannelProbe(m, cache((x, y)), fn, granularity="head")
        >>> list(p.groups), p.deltas("att/heads").shape
        (['att/heads'], (4,))
    """

    def __init__(self, model, batches, metric, *, exclude=None, higher_is_better=False,
                 cuts: cutpoints.Cuts | None = None, recalibrate_bn: bool = False,
                 granularity: str = "channel"):

        if granularity not in ("channel", "head"):
            raise errors.unknown_name("granularity of ChannelProbe", granularity,
                                      ("channel", "head"))
        self.granularity = granularity
        self.recalibrate_bn = bool(recalibrate_bn)
        self.work = working_copy(model, batch_stats=self.recalibrate_bn)
        self._bs = 64 if self.recalibrate_bn else 32
        self.higher_is_better = bool(higher_is_better)
        if granularity == "head":
            self.graph = None
            self.groups = head_groups(self.work, exclude)
            self._members = self._index_heads()
        else:
            self.graph = graph_lib.build(self.work, exclude=exclude)
            self.groups = {g.name: g for g in self.graph.prunable()}
            self._members = self._index_members()
        self._batches, self._metric = batches, metric
        self.run = compile_metric(self.work, batches, metric, batch_size=self._bs)
        self.samples = int(sum(len(b[0]) for b in batches))
        t0 = time.process_time()
        self.base = float(self.run())  # trace, compile and one evaluation
        t1 = time.process_time()
        cuts = cuts or cutpoints.Cuts()
        if cuts.points == "channels":
            cuts = dataclasses.replace(
                cuts, points={name: g.channels for name, g in self.groups.items()})
        if cuts.count and self.groups:
            self.base = float(self.run())  # one evaluation: the cost model's unit
            t2 = time.process_time()
            self.cut_of = cutpoints.choose(self.work, self.graph, self.groups, self.samples,
                                           cuts=cuts, setup=max(t1 - t0 - (t2 - t1), 0.0),
                                           per_eval=max(t2 - t1, 1e-6))
        else:
            self.cut_of = {}
        self._runs = {}  # cut index -> compiled evaluation from that cut, built on first use

    def _index_members(self) -> dict:
        """group name -> [(variable, axis, positions, original value)]: where it lives."""
        g = self.graph
        by_index = {grp.index: grp.name for grp in self.groups.values()}
        out = {name: {} for name in self.groups}
        for u in g.uses:
            if u.role == "stat":
                continue
            gids = g.atom_group[u.atoms]
            for gi in np.unique(gids).tolist():
                if gi not in by_index:
                    continue
                var = getattr(u.layer, u.attr)
                pos = np.where(gids == gi, g.atom_channel[u.atoms], -1)
                out[by_index[gi]].setdefault(id(var), (var, []))[1].append((u.axis, pos))
        return {name: [(var, uses, var.numpy()) for var, uses in d.values()]
                for name, d in out.items()}

    def _index_heads(self) -> dict:
        """group name -> [(variable, [(head axis, positions)], original value)]."""

        out = {}
        for name, grp in self.groups.items():
            out[name] = []
            for e in heads.head_map(grp.layer):
                var = _attribute(grp.layer, e["weight"])
                pos = np.asarray(e["positions"])
                out[name].append((var, [(e["axis"], pos)], var.numpy()))
        return out

    def evaluation(self, group: str):
        """The compiled evaluation that measures ``group`` (from its cut, or the whole model).

        The activations at every chosen cut are computed together on the first call that
        needs one (one eager pass of the unpruned model), before any weight is changed.
        """
        c = self.cut_of.get(group)
        if c is None:
            return self.run
        if c not in self._runs:
            self._build_runs()
        return self._runs[c]

    def _build_runs(self):
        ls = self.work.layers
        cuts = sorted(set(self.cut_of.values()))
        head = keras.Model(self.work.inputs, [ls[c].output for c in cuts])
        x = np.concatenate([b[0] for b in self._batches])
        y = np.concatenate([b[1] for b in self._batches])
        parts = [[] for _ in cuts]
        bs = chunk_size(len(x), self._bs)  # the chunks of self.run (batch statistics)
        for i in range(0, len(x), bs):  # eager calls: no predict() trace
            out = head(x[i:i + bs], training=False)
            for k, t in enumerate(out if isinstance(out, (list, tuple)) else [out]):
                parts[k].append(t.numpy())
        for c, p in zip(cuts, parts, strict=True):
            tail = keras.Model(ls[c].output, self.work.outputs)
            self._runs[c] = compile_metric(tail, [(np.concatenate(p), y)], self._metric,
                                           batch_size=self._bs)

    def set_keep(self, group: str, keep) -> None:
        """Zero the channels of ``group`` where ``keep`` is False (others as original)."""
        for var, uses, orig in self._members[group]:
            m = np.ones(orig.shape, np.float32)
            for axis, pos in uses:
                m = m * grouping.member_mask(keep, pos, orig.shape, axis)
            var.assign((orig * m).astype(orig.dtype))

    def restore(self, group: str) -> None:
        """Put back the original weights of ``group``'s members."""
        for var, _, orig in self._members[group]:
            var.assign(orig)

    def measure(self, group: str, keep) -> float:
        """The metric with ``group``'s channels outside ``keep`` removed (then restored)."""
        run = self.evaluation(group)
        try:
            self.set_keep(group, keep)
            return float(run())
        finally:
            self.restore(group)

    def delta(self, value: float) -> float:
        """How much worse than the base ``value`` is (positive = worse)."""
        return (self.base - value) if self.higher_is_better else (value - self.base)

    def deltas(self, group: str, on_point=None) -> np.ndarray:
        """Per-channel damage of removing each channel of ``group`` alone (float64).

        ``n`` evaluations for a group of ``n`` channels; ``on_point()`` is called after
        each (a progress bar).
        """
        n = self.groups[group].channels
        out = np.zeros(n)
        keep = np.ones(n, bool)
        for c in range(n):
            keep[c] = False
            out[c] = self.delta(self.measure(group, keep))
            keep[c] = True
            if on_point is not None:
                on_point()
        return out


def measure_loss_deltas(model, data, *, loss, groups=None, granularity: str = "channel",
                        exclude=None, max_batches=None, max_samples=None) -> dict:
    """The ``loss_delta`` statistic (criterion "sensitivity"): the loss increase of removing
    each channel (or head) of a group alone, measured on a working copy of ``model``.

    At ``granularity="head"`` a group is a ``MultiHeadAttention``'s heads and each head is
    removed alone (all its query/key/value/output slices) while the loss is measured.
    :func:`tfprune.masking.channels.measure` hands the result to the wrappers.

    Args:
        model: a plain built tf_keras model (not modified).
        data: ``(x, y)`` calibration data (:func:`cache`).
        loss: the loss measured (:func:`loss_metric`).
        groups: the group names wanted (default: every prunable group of the model).
        granularity: ``"channel"`` or ``"head"``.
        exclude, max_batches, max_samples: as for :class:`ChannelProbe` and :func:`cache`.

    Returns:
        group name -> per-channel (per-head) loss increase (float64).

    Example:
        >>> m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="h"),
        ...                       keras.layers.Dense(2, name="out")])
        >>> x, y = np.random.rand(16, 4).astype("float32"), np.arange(16) % 2
        >>> d = measure_loss_deltas(m, (x, y), loss="sparse_categorical_crossentropy")
        >>> {g: v.shape for g, v in d.items()}
        {'h': (3,)}
    """
    batches = cache(data, max_batches=max_batches, max_samples=max_samples)
    p = ChannelProbe(model, batches, loss_metric(loss), exclude=exclude,
                     cuts=cutpoints.Cuts(points="channels"), granularity=granularity)
    wanted = list(p.groups) if groups is None else [g for g in groups if g in p.groups]
    return {g: p.deltas(g) for g in wanted}
