"""Head granularity of the analysis: the heads of every ``MultiHeadAttention`` measured,
ranked and costed as one unit per layer.

Stop of the path: ``sensitivity(granularity="head")`` -> ``allocate`` -> ``one_shot(scope=...,
granularity="head")``. The measuring tool is the one of channels
(:class:`tfprune.measure.probe.ChannelProbe` with ``granularity="head"``: a layer's heads are
one group, removed in place on a working copy and restored); heads are ranked by the
criterion summed over each head's query/key/value/output kernel slices, with the group code
that ``one_shot(granularity="head")`` runs (:mod:`tfprune.masking.channels`), so a scan point
removes exactly the heads ``one_shot`` would.

Example:
    >>> import numpy as np
    >>> from tfprune.compat import keras
    >>> att = keras.layers.MultiHeadAttention(3, 2, name="att")
    >>> _ = att(keras.Input((4, 6)), keras.Input((4, 6)))
    >>> s = head_scores([att], "l2")["att"]  # squared L2 norm of each head's kernel slices
    >>> bool(np.isclose(s[0], sum(float((w.numpy()[:, 0] ** 2).sum()) for w in
    ...      (att._query_dense.kernel, att._key_dense.kernel, att._value_dense.kernel))
    ...      + float((att._output_dense.kernel.numpy()[0] ** 2).sum()), rtol=1e-5))
    True
"""

from __future__ import annotations

import numpy as np

from tfprune import errors, layers
from tfprune.core import criteria as criteria_lib
from tfprune.core import masks as masks_lib
from tfprune.graph import heads
from tfprune.masking import channels
from tfprune.measure import cutpoints, probe

__all__ = ["head_criterion", "check_heads", "head_scores", "scan"]


def head_criterion(criterion):
    """The Criterion ranking heads: a weight-only one supporting ``granularity="head"``.

    Example:
        >>> head_criterion("taylor")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tfprune.errors.ConfigError: sensitivity(granularity='head') ranks heads by a ...
    """
    crit = criteria_lib.get(criterion)
    criteria_lib.check_granularity(crit, "head")
    if crit.needs_data or crit.per_channel:
        raise errors.ConfigError(
            f"sensitivity(granularity='head') ranks heads by a weight-only criterion such as "
            f"'l1', 'l2' or 'magnitude'; {crit.name!r} needs data. For the measured per-head "
            "loss increase use channel_loss_delta(model, data, granularity='head').")
    return crit


def check_heads(model):
    """Refuse a model without MultiHeadAttention at ``granularity="head"``, naming the fix.

    Example:
        >>> from tfprune.compat import keras
        >>> check_heads(keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)]))
        ... # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tfprune.errors.NothingToPruneError: granularity='head' measures whole heads of ...
    """

    if not any(heads.is_attention(la) for la in layers.leaf_layers(model)):
        raise errors.NothingToPruneError(
            f"granularity='head' measures whole heads of MultiHeadAttention layers, and model "
            f"{model.name!r} has none. Use granularity='channel' (whole channels) or "
            "'weight' (single weights) instead.")


def head_scores(layers_, criterion="magnitude") -> dict:
    """Layer name -> one score per head: ``criterion`` summed over the head's
    query/key/value/output kernel slices, the ranking of ``one_shot(granularity="head")``
    (:func:`tfprune.masking.channels.group_scores` on the layers' head maps).

    Example:
        >>> from tfprune.compat import keras
        >>> i = keras.Input((3, 4))
        >>> att = keras.layers.MultiHeadAttention(2, 2, name="att")
        >>> _ = att(i, i)
        >>> head_scores([att], "l1")["att"].shape
        (2,)
    """

    crit = head_criterion(criterion)
    out = {}
    for la in layers_:
        members = channels.layer_members(la, heads.head_map(la), crit)
        scores = channels.group_scores(channels.groups_of(members), crit,
                                       channels.ChannelOptions())
        out[la.name] = np.asarray(scores[heads.group_name(la)], np.float64)
    return out


def scan(model, batches, fn, higher, criterion, levels, recalibrate_bn=False):
    """The head scan of :func:`tfprune.analysis.sensitivity`: yields ``(baseline, units,
    points)`` where ``points`` yields ``(layer name, [layer name], num_heads, metric)`` per
    layer and level, measured on a :class:`tfprune.measure.probe.ChannelProbe` whose groups
    are the heads of each MultiHeadAttention (the weakest heads by ``criterion`` removed).

    Example:
        >>> from tfprune.compat import keras
        >>> i = keras.Input((5, 8))
        >>> a = keras.layers.MultiHeadAttention(2, 2, name="att")(i, i)
        >>> m = keras.Model(i, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling1D()(a)))
        >>> x, y = np.random.rand(16, 5, 8).astype("float32"), np.arange(16) % 2
        >>> fn = probe.loss_metric(keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        >>> base, units, points = next(scan(m, probe.cache((x, y)), fn, False, "l1", (0.5,)))
        >>> units, [p[:3] for p in points]
        (1, [('att', ['att'], 2)])
    """
    p = probe.ChannelProbe(model, batches, fn, higher_is_better=higher,
                           cuts=cutpoints.Cuts(points=len(levels)), recalibrate_bn=recalibrate_bn,
                           granularity="head")
    scores = head_scores([g.layer for g in p.groups.values()], criterion)
    yield p.base, len(p.groups), _points(p, scores, levels)


def _points(p, scores, levels):
    for name, grp in p.groups.items():
        order = np.argsort(-scores[grp.layer.name], kind="stable")
        for s in levels:
            keep = np.zeros(grp.channels, bool)
            keep[order[:int(masks_lib.kept_count(grp.channels, s))]] = True
            yield grp.layer.name, grp.layers(), int(grp.channels), p.measure(name, keep)
