"""``tfprune run`` on a model with several outputs.

* **Labels**: one array per output in the ``.npz`` file (``y_<output>``, see
  :mod:`tfprune.app.outputs`), checked per output (:func:`check_targets`).
* **Losses** (:func:`losses`): ``train.loss`` in the recipe is either one loss name, used
  for *every* output, or a mapping ``{<output>: <loss>}`` naming every output; without it,
  the losses (and ``loss_weights``) the model was compiled with (a ``.keras``/``.h5`` file
  keeps them); for an output compiled without a loss, the usual loss of its task.
* **The measure** (:func:`measures`): recipe ``metric:`` ``loss`` (default: the compiled
  total loss ``sum_i w_i * loss_i``) or ``<output>_<metric>`` (``cls_accuracy``,
  ``reg_mae``), the vocabulary of ``tfprune sensitivity --metric``; every variant also
  reports each output's loss and metrics in Keras and in LiteRT (:func:`keras_values`,
  :func:`litert_values`).
* **Sweeps** (``sweep:``): trials fine-tune with every output's loss and weight and
  optimise ``val_<metric>`` by default (``val_loss``: the weighted total).
* **Refused before any work** (:func:`check_recipe`): the recipe keys that train or
  measure one output (``prune.distill``, ``task``), naming what to use instead.

Example:
    >>> import numpy as np
    >>> from tfprune.compat import keras
    >>> i = keras.Input((2,))
    >>> m = keras.Model(i, [keras.layers.Dense(3, activation="softmax", name="cls")(i),
    ...                     keras.layers.Dense(1, name="reg")(i)])
    >>> y = {"cls": np.array([0, 2]), "reg": np.array([1.5, 2.5])}
    >>> losses(m, "mse", y)
    {'cls': 'mse', 'reg': 'mse'}
    >>> losses(m, None, y)
    {'cls': 'sparse_categorical_crossentropy', 'reg': 'mse'}
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfprune import errors
from tfprune import task as task_lib
from tfprune.analysis import outputs as measure_lib
from tfprune.app import outputs
from tfprune.app.compiled import named_loss
from tfprune.compat import keras
from tfprune.task.resolution import name_of

__all__ = ["is_several", "check_recipe", "losses", "loss_weights", "check_targets",
           "measures", "keras_values", "litert_values"]


def is_several(model) -> bool:
    """True for a model with more than one output.

    Example:
        >>> from tfprune.compat import keras
        >>> is_several(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]))
        False
    """
    return len(outputs.output_names(model)) > 1


def check_recipe(recipe: dict, names: list) -> None:
    """Refuse the recipe keys a run cannot honour on a model with outputs ``names``, before
    any work, naming the key and what to use instead.

    Example:
        >>> check_recipe({"task": "regression"}, ["cls", "reg"])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tfprune.errors.ConfigError: task: 'regression' names one task ...
    """
    shown = f"model {recipe.get('model')!r} has outputs {names}"
    if "distill" in recipe.get("prune", {}):
        raise errors.ConfigError(
            f"prune.distill: {shown}; distillation matches one output. Remove prune.distill "
            "(fine-tuning uses each output's loss).")
    if recipe.get("task", "auto") != "auto":
        raise errors.ConfigError(
            f"task: {recipe['task']!r} names one task but {shown}. Remove `task`: each "
            "output's task comes from the model's compile state, its activation and its labels "
            f"(compile it with loss={{{names[0]!r}: ..., ...}}, or give train.loss per output).")


def _given(model, loss, names):
    """The loss per output the recipe or the compile state gives (None where none)."""
    if isinstance(loss, dict):
        missing, extra = sorted(set(names) - set(loss)), sorted(set(loss) - set(names))
        if missing or extra:
            raise errors.ConfigError(
                f"train.loss: model has outputs {names}; a loss per output names every output"
                + (f" (missing {missing})" if missing else "")
                + (f" (no such output: {extra})" if extra else "")
                + ". Or give one loss name for all outputs.")
        return dict(loss)
    if loss is not None:
        return {n: loss for n in names}
    compiled = getattr(model, "loss", None)
    if isinstance(compiled, dict):
        return {n: compiled.get(n) for n in names}
    if isinstance(compiled, (list, tuple)) and len(compiled) == len(names):
        return dict(zip(names, compiled, strict=True))
    return {n: compiled for n in names}


def losses(model, loss, y) -> dict:
    """``{output: loss}`` a run trains with: ``loss`` (a recipe's ``train.loss``: one name
    for every output, or a dict naming every output), else the model's compile state, else
    the usual loss of each output's task (from its activation and labels ``y``).

    Raises:
        ConfigError: a dict that misses or invents outputs, a name Keras does not know, an
            output whose task cannot be told (naming it and the recipe key to set).

    Example:
        >>> from tfprune.compat import keras
        >>> i = keras.Input((2,))
        >>> m = keras.Model(i, [keras.layers.Dense(1, name="a")(i), keras.layers.Dense(1, name="b")(i)])
        >>> losses(m, {"a": "mse", "b": "huber"}, None)
        {'a': 'mse', 'b': 'huber'}
    """
    names = outputs.output_names(model)
    given = _given(model, loss, names)
    ys = [y[n] for n in names] if isinstance(y, dict) else None
    tasks = task_lib.resolve(model, ys)
    out = {}
    for n, t in zip(names, tasks, strict=True):
        chosen = named_loss(given[n]) if given[n] is not None else task_lib.default_loss(t.kind)
        if chosen is None:
            raise errors.ConfigError(
                f"train.loss: the task of output {n!r} cannot be told (no compiled loss, "
                f"activation or labels say it). Give train.loss: {{{n!r}: <loss>, ...}} for "
                "every output, or compile the saved model with a loss per output.")
        if isinstance(chosen, str):
            try:
                keras.losses.get(chosen)
            except ValueError:
                raise errors.ConfigError(f"train.loss {chosen!r} (output {n!r}) is not a Keras "
                                         "loss (e.g. 'mse').") from None
        out[n] = chosen
    return out


def loss_weights(model) -> dict:
    """The ``loss_weights`` the model was compiled with, per output (1.0 where none).

    Example:
        >>> from tfprune.compat import keras
        >>> i = keras.Input((2,))
        >>> m = keras.Model(i, [keras.layers.Dense(1, name="a")(i), keras.layers.Dense(1, name="b")(i)])
        >>> m.compile(loss="mse", loss_weights={"a": 1.0, "b": 0.5})
        >>> loss_weights(m)
        {'a': 1.0, 'b': 0.5}
    """
    names = outputs.output_names(model)
    return dict(zip(names, measure_lib.loss_weights(model, names), strict=True))


def check_targets(model, y: dict, source: str) -> None:
    """Refuse labels that do not fit their output: class ids in range for class scores,
    0/1 for binary outputs, finite values of the output's size for the rest.

    Example:
        >>> from tfprune.compat import keras
        >>> i = keras.Input((2,))
        >>> m = keras.Model(i, [keras.layers.Dense(3, activation="softmax", name="cls")(i),
        ...                     keras.layers.Dense(1, name="reg")(i)])
        >>> check_targets(m, {"cls": np.array([0, 5]), "reg": np.zeros(2)}, "d")
        Traceback (most recent call last):
        ...
        tfprune.errors.ConfigError: d: labels of output 'cls' range over [0, 5] but it has 3 classes.
    """
    outputs.check_labels(model, y, source)
    names = outputs.output_names(model)
    tasks = task_lib.resolve(model, [y[n] for n in names])
    for i, (n, t) in enumerate(zip(names, tasks, strict=True)):
        v, shape = np.asarray(y[n]), tuple(model.outputs[i].shape[1:])
        per = int(np.prod([d or 1 for d in shape]))
        if t.class_scores and v.ndim == 1:
            if v.dtype.kind not in "iu" and not np.all(np.mod(v, 1) == 0):
                raise errors.ConfigError(f"{source}: labels of output {n!r} ({t.kind}) must be "
                                         f"class ids; got values of dtype {v.dtype}.")
            if len(v) and (v.min() < 0 or v.max() >= max(per, 2)):
                raise errors.ConfigError(f"{source}: labels of output {n!r} range over "
                                         f"[{v.min():g}, {v.max():g}] but it has {per} classes.")
        elif v.size != len(v) * per or not np.all(np.isfinite(v)):
            raise errors.ConfigError(
                f"{source}: labels of output {n!r} ({t.kind or 'unknown task'}) must be finite "
                f"numbers, {per} per sample (the output has shape {shape}); got shape "
                f"{v.shape}.")


def _compiled_names(model, n) -> list:
    metrics = task_lib.compiled_metrics(model)
    chosen = metrics.get(n, ()) if isinstance(metrics, dict) else ()
    return [m if isinstance(m, str) else name_of(m) for m in chosen]


def measures(model, metric: str, y: dict) -> dict:
    """``{name: tfprune.task.Metric}`` a run reports on a (compiled) model with several
    outputs: ``metric`` first (``"loss"``, the total, or ``"<output>_<metric>"``), then each
    output's loss and its compiled metrics (else the usual ones of its task), named
    ``<output>_<metric>``.

    Raises:
        ConfigError: a metric that names no output or cannot apply to its output.

    Example:
        >>> from tfprune.compat import keras
        >>> i = keras.Input((2,))
        >>> m = keras.Model(i, [keras.layers.Dense(3, activation="softmax", name="cls")(i),
        ...                     keras.layers.Dense(1, name="reg")(i)])
        >>> m.compile(loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"})
        >>> list(measures(m, "loss", {"cls": np.array([0, 2]), "reg": np.ones(2)}))
        ['loss', 'cls_loss', 'cls_accuracy', 'reg_loss', 'reg_mae']
    """
    names = outputs.output_names(model)
    labels = measure_lib.Labels(names)
    packed = labels.pack(y)
    out = {metric: measure_lib.measure(model, metric, packed, labels)}
    for n, t in zip(names, task_lib.resolve(model, labels.unpack(packed)), strict=True):
        for m in ["loss", *(_compiled_names(model, n) or task_lib.default_metrics(t.kind))]:
            try:
                out.setdefault(f"{n}_{m}", measure_lib.measure(model, f"{n}_{m}", packed, labels))
            except errors.ConfigError:
                continue  # a compiled metric tfprune cannot compute on this output
    return {k: v for k, v in out.items() if v is not None}


def _values(preds: list, y: dict, names: list, metrics: dict) -> dict:
    labels = measure_lib.Labels(names)
    packed = tf.constant(labels.pack(y))
    preds = [tf.constant(np.asarray(p, np.float32)) for p in preds]
    return {k: float(m.fn(packed, preds)) for k, m in metrics.items()}


def keras_values(model, x, y: dict, metrics: dict, names=None) -> dict:
    """Each of ``metrics`` (from :func:`measures`) of the Keras ``model`` on ``(x, y)``;
    ``names``: the outputs in the model's order (default: the model's own output names).

    Example:
        >>> from tfprune.compat import keras
        >>> i = keras.Input((2,))
        >>> m = keras.Model(i, [keras.layers.Dense(1, name="a")(i), keras.layers.Dense(1, name="b")(i)])
        >>> m.compile(loss="mse")
        >>> y = {"a": np.zeros(4), "b": np.zeros(4)}
        >>> sorted(keras_values(m, np.zeros((4, 2)), y, measures(m, "a_mae", y)))
        ['a_loss', 'a_mae', 'b_loss', 'b_mae']
    """
    preds = model.predict(x, verbose=0, batch_size=256)
    return _values(list(preds), y, names or outputs.output_names(model), metrics)


def _interpreter(path):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    try:
        it = Interpreter(model_path=path)
        it.allocate_tensors()
        return it
    except RuntimeError:  # XNNPACK refuses some sparse int8 files (FACTS.md)
        return Interpreter(model_path=path, experimental_op_resolver_type=OpResolverType.
                           BUILTIN_WITHOUT_DEFAULT_DELEGATES)


def litert_values(path: str, x, y: dict, names: list, metrics: dict, chunk: int = 256) -> dict:
    """Each of ``metrics`` of the .tflite file ``path`` on ``(x, y)`` in LiteRT, the file's
    outputs matched to the model's ``names`` by its signature (in order when the names
    differ), ``chunk`` samples per invoke."""
    runner = _interpreter(path).get_signature_runner()
    sig_in = list(runner.get_input_details())
    sig_out = list(runner.get_output_details())
    order = names if sorted(sig_out) == sorted(names) else sig_out
    parts = {n: [] for n in order}
    for start in range(0, len(x), chunk):
        got = runner(**{sig_in[0]: x[start:start + chunk].astype(np.float32)})
        for n in order:
            parts[n].append(np.asarray(got[n]))
    preds = [np.concatenate(parts[n]) for n in order]
    return _values(preds, y, names, metrics)
