"""What sensitivity measures on a model's outputs: one output, or several.

A model with one output is measured as :mod:`tfprune.task` says (``metric="loss"``,
``"accuracy"``, ``"mae"``, ...). A model with several outputs is measured by

- ``metric="loss"`` (the default): the compiled total loss, ``sum_i w_i * loss_i`` over the
  outputs compiled with a loss (``w_i`` the compiled ``loss_weights``, 1 when none;
  regularisation losses are not part of it, as for one output);
- ``metric="<output>_<metric>"`` (``"cls_accuracy"``, ``"reg_mae"``, ``"reg_loss"``) or
  ``metric={"<output>": <metric>}`` (a name or a callable): that metric on that output only,
  resolved by :mod:`tfprune.task` for that output, so a metric that cannot apply to it
  (accuracy on a regression head) is refused naming the output.

The labels of a multi-output model (``[y_a, y_b]`` in output order, or ``{"a": y_a, ...}``)
are packed into one float32 array per batch (each output's labels flattened, side by side) so
that the measuring code keeps one ``(x, y)`` array pair per batch; :class:`Labels` packs and
unpacks them.

Example:
    >>> import numpy as np
    >>> from tfprune.compat import keras
    >>> i = keras.Input((4,))
    >>> m = keras.Model(i, [keras.layers.Dense(3, activation="softmax", name="cls")(i),
    ...                     keras.layers.Dense(1, name="reg")(i)])
    >>> m.compile(loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"})
    >>> lab = Labels(["cls", "reg"])
    >>> y = lab.pack({"cls": np.array([0, 2]), "reg": np.array([[1.5], [2.5]])})
    >>> y.shape
    (2, 2)
    >>> measure(m, "reg_accuracy", y, lab)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    tfprune.errors.ConfigError: metric='accuracy' cannot apply to output 'reg'...
    >>> measure(m, "reg_mae", y, lab).name
    'reg_mae'
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfprune import data as data_lib
from tfprune import errors
from tfprune import task as task_lib
from tfprune.measure import probe

__all__ = ["Labels", "output_names", "labelled", "measure", "loss_weights", "cached_batches",
           "prepare"]


def output_names(model) -> list:
    """The model's output names, in Keras' output order (:func:`tfprune.task.resolve`).

    Example:
        >>> from tfprune.compat import keras
        >>> output_names(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="y")]))
        ['y']
    """
    return [t.output for t in task_lib.resolve(model)]


class Labels:
    """Packs the labels of a several-output model into one float32 array ``[n, width]`` and
    unpacks them (numpy or tensors) into one array per output, shapes as given.

    Example:
        >>> lab = Labels(["a", "b"])
        >>> y = lab.pack([np.array([1, 2]), np.ones((2, 3))])
        >>> y.shape, [p.shape for p in lab.unpack(y)]
        ((2, 4), [(2,), (2, 3)])
    """

    def __init__(self, names):
        self.names = list(names)
        self.shapes = None  # per output: label shape without the batch axis

    def _parts(self, y) -> list:
        if isinstance(y, dict):
            missing = [n for n in self.names if n not in y]
            extra = sorted(set(y) - set(self.names))
            if missing or extra:
                raise errors.DataError(
                    f"labels {{...}} must have one entry per output {self.names}; "
                    + (f"missing {missing}" if missing else f"unknown {extra}") + ".")
            return [y[n] for n in self.names]
        if isinstance(y, (list, tuple)) and len(y) == len(self.names) and all(
                data_lib.is_array(p) or isinstance(p, (list, tuple)) for p in y):
            return list(y)
        raise errors.DataError(
            f"the model has {len(self.names)} outputs {self.names}: give the labels of each "
            f"batch as a list in output order [y_{self.names[0]}, ...] or a dict "
            f"{{{self.names[0]!r}: ..., ...}}, got {type(y).__name__}.")

    def pack(self, y) -> np.ndarray:
        """One float32 array ``[n, width]`` from per-output labels (list or dict)."""
        parts = [np.asarray(p) for p in self._parts(y)]
        n = {len(p) for p in parts}
        if len(n) != 1:
            raise errors.DataError(f"the labels of outputs {self.names} have different "
                                   f"lengths {[len(p) for p in parts]}; give one per sample.")
        shapes = [p.shape[1:] for p in parts]
        if self.shapes is None:
            self.shapes = shapes
        elif shapes != self.shapes:
            raise errors.DataError(f"label shapes change between batches: {self.shapes} then "
                                   f"{shapes} (outputs {self.names}).")
        k = n.pop()
        return np.concatenate([p.reshape(k, -1).astype(np.float32) for p in parts], 1)

    def pack_tensors(self, y):
        """:meth:`pack` in TensorFlow ops (for ``tf.data.Dataset.map``); shapes from the spec."""
        parts = self._parts(y)
        shapes = [tuple(p.shape[1:]) for p in parts]
        if self.shapes is None:
            self.shapes = shapes
        n = tf.shape(parts[0])[0]
        return tf.concat([tf.reshape(tf.cast(p, tf.float32), [n, -1]) for p in parts], 1)

    def unpack(self, y) -> list:
        """Per-output labels from a packed array or tensor, each in its own shape."""
        out, at = [], 0
        for shape in self.shapes:
            width = int(np.prod(shape)) if shape else 1
            part = y[:, at:at + width]
            at += width
            if isinstance(part, np.ndarray):
                out.append(part.reshape((len(part),) + tuple(shape)))
            else:
                out.append(tf.reshape(part, tf.concat([tf.shape(part)[:1], list(shape)], 0)))
        return out


def _is_x(v, n_inputs) -> bool:
    """Whole inputs: an array, a dict of inputs, or a list of ``n_inputs`` > 1 arrays."""
    return data_lib.is_array(v) or (isinstance(v, dict) and bool(v)) or (
        n_inputs > 1 and isinstance(v, (list, tuple)) and len(v) == n_inputs
        and all(data_lib.is_array(a) for a in v))


def labelled(data, labels: Labels, n_inputs: int = 1):
    """``data`` with every batch's multi-output labels packed by ``labels``: whole arrays
    ``(x, [y_a, y_b])`` / ``(x, {...})``, a list of batches, a ``tf.data.Dataset`` (mapped,
    its length kept) or a generator.

    Example:
        >>> lab = Labels(["a", "b"])
        >>> x, y = labelled((np.zeros((3, 2)), [np.zeros(3), np.ones(3)]), lab)
        >>> y.shape
        (3, 2)
    """
    if isinstance(data, tuple) and len(data) == 2 and _is_x(data[0], n_inputs) and (
            isinstance(data[1], (dict, list, tuple))):
        return data[0], labels.pack(data[1])
    if isinstance(data, tf.data.Dataset):
        return data.map(lambda x, y, *_: (x, labels.pack_tensors(y)))
    if isinstance(data, (list, tuple)):
        return [_batch(b, labels) for b in data]
    if data is None or not hasattr(data, "__iter__") or isinstance(data, (dict, str)):
        return data  # tfprune.data refuses it, naming what to pass
    return (_batch(b, labels) for b in data)


def _batch(b, labels):
    if not isinstance(b, (tuple, list)) or len(b) < 2:
        raise errors.DataError(
            f"data must give (x, y) batches whose y holds one label array per output "
            f"{labels.names}; got a batch of type {type(b).__name__}.")
    return b[0], labels.pack(b[1])


def loss_weights(model, names) -> list:
    """The compiled ``loss_weights`` per output (1.0 where none was given).

    Example:
        >>> from tfprune.compat import keras
        >>> loss_weights(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]), ["y"])
        [1.0]
    """
    given = getattr(getattr(model, "compiled_loss", None), "_user_loss_weights", None)
    if isinstance(given, dict):
        return [float(given.get(n, 1.0)) for n in names]
    if isinstance(given, (list, tuple)) and len(given) == len(names):
        return [float(w) for w in given]
    return [1.0] * len(names)


def measure(model, metric, y_sample, labels: Labels | None = None, *, outputs=None):
    """The :class:`tfprune.task.Metric` sensitivity measures: ``fn(y, y_pred)`` on the
    model's (packed, for several outputs) labels and its prediction(s).

    Args:
        model: the model (its compile state says each output's task).
        metric: see the module docstring; for one output anything
            :func:`tfprune.task.metric` takes, or ``{"<output>": metric}``.
        y_sample: labels of one batch (packed when ``labels`` is given).
        labels: the :class:`Labels` of a several-output model (None: one output).
        outputs: the :class:`tfprune.task.OutputTask` list, when the caller resolved it
            (a subclassed model's stand-in).

    Raises:
        ConfigError: a metric that cannot apply to the selected output (naming it), an
            output name the model does not have, a metric that does not say which output
            of several it measures, or ``"loss"`` on a model compiled without losses.
    """
    per_output = labels.unpack(y_sample) if labels is not None else y_sample
    outs = outputs if outputs is not None else task_lib.resolve(model, per_output)
    names = [t.output for t in outs]
    index, inner = _select(metric, names, getattr(model, "name", "model"))
    if index is not None:
        if labels is None:
            return task_lib.metric(outs[index], inner)
        try:
            m = task_lib.metric(outs[index], inner)
        except errors.ConfigError as exc:
            raise errors.ConfigError(
                f"{exc} On this model with outputs {names}, name the output: "
                f"metric='{names[index]}_<metric>' or {{{names[index]!r}: <metric>}}.") from None
        return task_lib.Metric(_on_output(m.fn, index, labels), f"{names[index]}_{m.name}",
                               m.higher_is_better)
    return _total_loss(model, outs, labels)


def _select(metric, names, model_name):
    """(output index or None for the total loss, metric for that output)."""
    if isinstance(metric, dict):
        if len(metric) != 1:
            raise errors.ConfigError(
                f"metric={{...}} selects ONE output to measure, got {len(metric)} entries "
                f"({sorted(metric)}); pass {{{names[0]!r}: 'accuracy'}} or metric='loss' for "
                "the compiled total loss.")
        (name, inner), = metric.items()
        if name not in names:
            raise errors.ConfigError(f"metric={{{name!r}: ...}} names an output model "
                                     f"{model_name!r} does not have; its outputs: {names}.")
        return names.index(name), inner
    if len(names) == 1:
        return 0, metric
    if isinstance(metric, str) and metric.lower() == "loss":
        return None, metric
    if isinstance(metric, str):
        for name in sorted(names, key=len, reverse=True):
            if metric.startswith(name + "_") and len(metric) > len(name) + 1:
                return names.index(name), metric[len(name) + 1:]
    shown = metric if isinstance(metric, str) else getattr(metric, "__name__", "metric")
    raise errors.ConfigError(
        f"metric={shown!r} does not say which output of model {model_name!r} to measure "
        f"(outputs {names}): pass metric='{names[0]}_{shown}' or {{{names[0]!r}: {shown!r}}} "
        "for one output, or metric='loss' for the compiled total loss.")


def _on_output(fn, index, labels):
    def on_output(y, p):
        return fn(labels.unpack(y)[index], p[index])
    return on_output


def _total_loss(model, outs, labels):
    weights = loss_weights(model, [t.output for t in outs])
    parts = [(i, task_lib.metric(t, "loss").fn, w) for i, (t, w) in
             enumerate(zip(outs, weights, strict=True)) if t.loss is not None and w != 0]
    if not parts:
        names = [t.output for t in outs]
        raise errors.ConfigError(
            f"metric='loss' on a model with outputs {names} is the compiled total loss: "
            f"compile it with a loss per output (model.compile(loss={{{names[0]!r}: ..., "
            f"...}})), or measure one output: metric='{names[0]}_accuracy' or "
            f"{{{names[0]!r}: 'mae'}}.")

    def total(y, p):
        ys = labels.unpack(y)
        return tf.add_n([w * fn(ys[i], p[i]) for i, fn, w in parts])
    return task_lib.Metric(total, "loss", False)


def cached_batches(data, *, batch_size: int = 64, max_batches=None, model=None,
                   metric=None) -> list:
    """``(x, y)`` numpy batches from arrays, a list of batches, a tf.data.Dataset or a
    generator (:func:`tfprune.measure.probe.cache`); with ``model``, every batch is checked
    against it and its labels against ``metric`` (:mod:`tfprune.data`).

    Raises:
        ConfigError: no labels, or fewer than 8 samples (says how many were given).
        DataError: a batch that does not fit the model (shape, NaN/inf, labels out of range).
    """
    labels = None
    if model is not None:
        loss = getattr(model, "loss", None)
        named = isinstance(loss, str) or hasattr(loss, "name")
        rule = data_lib.label_rule(loss) if metric == "loss" and named else None
        labels = "classes" if metric == "accuracy" else (rule or "length")
    return probe.cache(data, batch_size=batch_size, max_batches=max_batches, model=model,
                       labels=labels)


def prepare(model, data, metric, max_batches, view=None):
    """``(batches, Metric)`` of :func:`tfprune.sensitivity`: ``data`` cached and checked
    against the model (``view``: the functional view of a subclassed ``model``, whose
    compile state it does not have), and the measure resolved for its output(s) by
    :func:`measure` (several outputs: labels packed per batch; the total loss or one
    output's metric).

    Example:
        >>> from tfprune.compat import keras
        >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="y")])
        >>> m.compile(loss="mse")
        >>> batches, metric = prepare(m, (np.zeros((8, 2)), np.zeros(8)), "mae", None)
        >>> len(batches), metric.name
        (1, 'mae')
    """
    measured = view if view is not None else model
    names = output_names(measured)
    labels = Labels(names) if len(names) > 1 else None
    if labels is None:
        batches = cached_batches(data, max_batches=max_batches, model=measured,
                                 metric=metric if isinstance(metric, str) else None)
    else:
        n_inputs = len(getattr(measured, "inputs", None) or [None])
        batches = probe.cache(labelled(data, labels, n_inputs), max_batches=max_batches,
                              model=measured, labels="length")
    outs = None
    if view is not None:  # the subclassed model holds the compile state, its view the outputs
        sample = labels.unpack(batches[0][1]) if labels is not None else batches[0][1]
        outs = task_lib.resolve(view, sample, loss=getattr(model, "loss", None),
                                metrics=task_lib.compiled_metrics(model))
    return batches, measure(model, metric, batches[0][1], labels, outputs=outs)
