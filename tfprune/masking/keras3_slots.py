"""The prunable layers of a subclassed Keras 3 model, their masks, and copies of the model.

tfprune's :class:`~tfprune.masking.wrapper.PruningWrapper` is a tf_keras layer: it cannot sit
inside a Keras 3 model, and a subclassed model has no layer graph to translate to tf_keras.
So a subclassed Keras 3 model keeps its own layers and tfprune holds the masks beside them:
one :class:`LayerMasks` per prunable layer (a 0/1 mask and a threshold per prunable weight),
scored and masked by the same code as the wrapper
(:class:`~tfprune.masking.scores.ScoringMixin`, :mod:`tfprune.core.masks`,
:mod:`tfprune.masking.granularity`) and applied as ``weight.assign(weight * mask)``. The
masks ride on the model as a :class:`MaskState` (not tracked by Keras: nothing of it is
saved). :mod:`tfprune.masking.keras3_subclassed` prunes and strips with them.

Example:
    >>> import numpy as np, keras
    >>> class M(keras.Model):
    ...     def __init__(self, **kw):
    ...         super().__init__(**kw)
    ...         self.fc = keras.layers.Dense(4, name="fc")
    ...     def call(self, x):
    ...         return self.fc(x)
    >>> m = M(); _ = m(np.zeros((1, 3), "float32"))
    >>> is_keras3_subclassed(m), [(layer.name, names) for layer, names in prunable(m)]
    (True, [('fc', ['kernel'])])
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import tensorflow as tf
import tf_keras

from tfprune import errors
from tfprune import layers as layers_lib
from tfprune.compat import (  # is_keras3_subclassed: re-exported
    compile_like,
    is_keras3_subclassed,
)
from tfprune.core import criteria as criteria_lib
from tfprune.masking.scores import ScoringMixin

__all__ = ["is_keras3_subclassed", "prunable", "LayerMasks", "MaskState", "state_of",
           "copy_model", "assign_masked", "sparsity_report", "variable"]

_STATE = "_tfprune_keras3_masks"


def _keras3():
    """Keras 3, imported only once a Keras 3 object exists (importing it costs seconds)."""
    import keras

    return keras


def _public_class(layer):
    """The first class of ``layer``'s MRO that ``keras.layers`` exports, or None."""
    keras = _keras3()
    return next((k for k in type(layer).__mro__
                 if getattr(keras.layers, k.__name__, None) is k), None)


def weight_names(layer) -> list[str] | None:
    """Prunable weight names of a Keras 3 layer: tfprune's table (:mod:`tfprune.layers`)
    read for the tf_keras counterpart of its built-in class (same attribute names in both).

    Example:
        >>> import keras
        >>> weight_names(keras.layers.Conv2D(2, 3)), weight_names(keras.layers.ReLU())
        (['kernel'], None)
    """
    public = _public_class(layer)
    counterpart = getattr(tf_keras.layers, public.__name__, None) if public else None
    if counterpart is None:
        return None
    # an instance only for the isinstance table: it is never built or called
    names = layers_lib.prunable_weight_names(object.__new__(counterpart))
    return names or None


def prunable(model) -> list:
    """``[(layer, weight names)]``: the prunable built-in layers a Keras 3 model holds, in
    tracking order, walked into custom layers and nested models (each layer once).

    Example:
        >>> import keras
        >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)])
        >>> [type(layer).__name__ for layer, _ in prunable(m)]
        ['Dense']
    """
    found, seen = [], set()

    def walk(parent):
        for child in parent._flatten_layers(include_self=False, recursive=False):  # noqa: SLF001
            if id(child) in seen:
                continue
            seen.add(id(child))
            names = weight_names(child)
            if names:
                found.append((child, names))
            elif _public_class(child) is not type(child) or isinstance(child, _keras3().Model):
                walk(child)  # a custom layer, or a model: its own layers are reached

    walk(model)
    return found


def variable(layer, name):
    """The Keras 3 variable at attribute path ``name`` of ``layer`` (``"cell.kernel"``)."""
    var = layer
    for part in name.split("."):
        var = getattr(var, part, None)
    if var is None:
        raise errors.UnsupportedLayerError(
            f"Layer {layer.name!r} ({type(layer).__name__}) has no weight {name!r}; is it "
            "built? Call the model on a batch first.")
    return var


class LayerMasks(ScoringMixin):
    """The masks of one Keras 3 layer: ``pruning_vars`` = ``[(weight, mask, threshold)]``
    with ``weight`` the ``tf.Variable`` under the layer's Keras 3 variable (so the wrapper's
    scoring code runs on it unchanged). Weight-only criteria: no statistics are recorded.

    Example:
        >>> import keras
        >>> from tfprune.core import criteria
        >>> d = keras.layers.Dense(4, name="d"); d.build((None, 4))
        >>> lm = LayerMasks(d, ["kernel"], criteria.get("magnitude"), "weight")
        >>> _, mask = lm.mask_for(0, 0.5); float(mask.numpy().mean())
        0.5
    """

    def __init__(self, layer, names, criterion, granularity, n_m=(2, 4), block=(4, 1),
                 sparsity_scale=1.0):
        self.layer, self.criterion, self.granularity = layer, criterion, granularity
        self.n_m, self.block, self.sparsity_scale = tuple(n_m), tuple(block), sparsity_scale
        self.prunable_weight_names = list(names)
        self.pruning_vars = []
        for name in names:
            weight = variable(layer, name).value  # the tf.Variable Keras 3 assigns
            self.pruning_vars.append((weight,
                                      tf.Variable(tf.ones(weight.shape, weight.dtype),
                                                  trainable=False),
                                      tf.Variable(tf.zeros([], weight.dtype), trainable=False)))

    def statistics(self, index: int = 0) -> dict:
        """What a weight-only criterion reads: the weight's stable key (``random``)."""
        return {"key": criteria_lib.weight_key(self.layer.name, index)}

    def recorded(self):
        """None: nothing is recorded, the mask is always computed from the weights."""
        return None


@dataclasses.dataclass
class MaskState:
    """What tfprune keeps on a pruned subclassed Keras 3 model.

    Attributes:
        layers: one :class:`LayerMasks` per pruned layer.
        schedule: the pruning schedule (TF-MOT ``PruningSchedule``).
        ranking: ``"layer"`` or ``"global"``.
        step: training steps taken under pruning (-1: not started).
    """

    layers: list
    schedule: object
    ranking: str = "layer"
    step: int = -1

    def target(self, step: int, scale: float = 1.0) -> float:
        """The sparsity the schedule asks for at ``step`` (times ``scale``), below 1."""
        s = float(self.schedule(tf.constant(step, tf.int64))[1]) * scale
        return float(np.clip(s, 0.0, 0.9999))

    def fires(self, step: int) -> bool:
        """True if the schedule updates masks at ``step``."""
        return bool(self.schedule(tf.constant(step, tf.int64))[0])


def state_of(model) -> MaskState | None:
    """The :class:`MaskState` of a pruned subclassed Keras 3 model, or None.

    Example:
        >>> state_of(object()) is None
        True
    """
    return getattr(model, _STATE, None)


def set_state(model, state) -> None:
    """Attach (``None``: remove) tfprune's masks, untracked by Keras."""
    if state is None:
        if _STATE in vars(model):
            object.__delattr__(model, _STATE)
    else:
        object.__setattr__(model, _STATE, state)


def assign_masked(model) -> None:
    """``weight.assign(weight * mask)`` for every pruned weight of ``model`` (in place)."""
    for lm in state_of(model).layers:
        for weight, mask, _ in lm.pruning_vars:
            weight.assign(weight * mask)


def sparsity_report(model) -> dict:
    """``{"sparsity": s, "layers": {name: s}}`` of the masks, as
    :func:`tfprune.masking.pruner.sparsity_report` gives for wrapped models."""
    zeros = total = 0
    per_layer = {}
    for lm in state_of(model).layers:
        masks = [m.numpy() for _, m, _ in lm.pruning_vars]
        lz = sum(int(m.size - np.count_nonzero(m)) for m in masks)
        ln = sum(int(m.size) for m in masks)
        per_layer[lm.layer.name] = lz / ln if ln else 0.0
        zeros, total = zeros + lz, total + ln
    return {"sparsity": zeros / total if total else 0.0, "layers": per_layer}


# -- copies ---------------------------------------------------------------------------
def _refuse_copy(model, why):
    return errors.ModelTypeError(
        f"Cannot copy subclassed Keras 3 model {model.name!r} ({type(model).__name__}) to "
        f"prune it: {why}. Give {type(model).__name__}.__init__ a **kwargs it passes to "
        "super().__init__ and implement get_config() (returning its __init__ arguments) so "
        "that type(model).from_config(model.get_config()) rebuilds it, or pass inplace=True "
        "to prune the model you pass (it is then changed).")


def _zeros(shape):
    return np.zeros([d or 1 for d in shape], "float32")


def _build_like(model, new) -> None:
    shapes = dict(getattr(model, "_build_shapes_dict", None) or {})
    if len(shapes) != 1:
        raise _refuse_copy(model, f"it was built with {len(shapes)} input arguments "
                                  f"({sorted(shapes)}); tfprune rebuilds copies that take one "
                                  "(a tensor, or a list/dict of tensors)")
    shape = next(iter(shapes.values()))
    if isinstance(shape, dict):
        x = {k: _zeros(s) for k, s in shape.items()}
    elif isinstance(shape, (list, tuple)) and shape and isinstance(shape[0], (list, tuple)):
        x = [_zeros(s) for s in shape]
    else:
        x = _zeros(shape)
    new(x, training=False)


def copy_model(model, values=None):
    """A new instance of ``model``'s class with its layer names and weights (``values``:
    the weights to give it instead, in ``model.weights`` order), compiled like ``model``
    when it was compiled.

    Raises:
        ModelTypeError: ``from_config(get_config())`` fails or builds other weights; the
            message names the fix (``get_config``, or ``inplace=True``).

    Example:
        >>> import numpy as np, keras
        >>> class M(keras.Model):
        ...     def __init__(self, **kw):
        ...         super().__init__(**kw)
        ...         self.fc = keras.layers.Dense(2)
        ...     def call(self, x):
        ...         return self.fc(x)
        >>> m = M(); _ = m(np.zeros((1, 3), "float32"))
        >>> c = copy_model(m)
        >>> c is m, type(c) is M, np.array_equal(c.fc.kernel, m.fc.kernel)
        (False, True, True)
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            new = type(model).from_config(model.get_config())
    except Exception as exc:  # noqa: BLE001 - any failure of the user's class is reported
        raise _refuse_copy(model, f"from_config(get_config()) failed ({type(exc).__name__}: "
                                  f"{str(exc)[:200]})") from exc
    src = [layer for layer, _ in prunable(model)]
    dst = [layer for layer, _ in prunable(new)]
    if [type(x) for x in src] != [type(x) for x in dst]:
        raise _refuse_copy(model, "the copy holds other layers")
    for a, b in zip(src, dst, strict=True):
        b.name = a.name  # the user's names: exclude, scope and reports use them
    new.name = model.name
    _build_like(model, new)
    old = values if values is not None else [v.numpy() for v in model.weights]
    if [tuple(np.shape(v)) for v in old] != [tuple(v.shape) for v in new.weights]:
        raise _refuse_copy(model, "the copy has other weights")
    for var, value in zip(new.weights, old, strict=True):
        var.assign(value)
    if getattr(model, "compiled", False):
        compile_like(new, model)  # every compile setting, fresh objects
    return new


# -- measuring (tfprune.sensitivity at weight granularity) -----------------------------
def functional_view(model):
    """A Keras 3 Functional model calling ``model`` on ``keras.Input`` s of the shape it was
    built with: what measuring needs (outputs, a concrete input). Shares its weights.

    Example:
        >>> import numpy as np, keras
        >>> class M(keras.Model):
        ...     def __init__(self, **kw):
        ...         super().__init__(**kw)
        ...         self.fc = keras.layers.Dense(2)
        ...     def call(self, x):
        ...         return self.fc(x)
        >>> m = M(); _ = m(np.zeros((1, 3), "float32"))
        >>> functional_view(m).output.shape
        (None, 2)
    """
    keras = _keras3()
    shapes = dict(getattr(model, "_build_shapes_dict", None) or {})
    shape = next(iter(shapes.values())) if len(shapes) == 1 else None
    if shape is None or (shape and isinstance(shape[0], (list, tuple, dict))):
        raise errors.ModelTypeError(
            f"{type(model).__name__} was built with inputs {shapes}; tfprune measures a "
            "subclassed Keras 3 model called on one tensor: call it as model(x).")
    inputs = keras.Input(tuple(shape[1:]))
    try:
        outputs = model(inputs, training=False)
    except Exception as exc:  # noqa: BLE001 - any failure of the user's call is reported
        raise errors.ModelTypeError(
            f"{type(model).__name__}.call could not run on a symbolic keras.Input "
            f"({type(exc).__name__}: {str(exc)[:200]}); tfprune needs that to measure it. "
            "Use keras.ops in call (no .numpy(), no Python branching on values).") from exc
    return keras.Model(inputs, outputs, name=model.name)


def weight_units(work, criterion) -> dict:
    """:func:`tfprune.analysis.weight_units.units` of a subclassed Keras 3 model:
    ``{layer name: ([layer name], prunable tf.Variables, scores)}``.

    Example:
        >>> import keras
        >>> m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")])
        >>> [tuple(w.shape) for w in weight_units(m, "magnitude")["d"][1]]
        [(3, 2)]
    """
    crit = criteria_lib.get(criterion)
    if crit.needs_data or crit.per_channel:
        raise errors.ConfigError(
            f"sensitivity(granularity='weight') supports weight-only criteria such as "
            f"'magnitude' or 'random'; {crit.name!r} needs data or scores channels.")
    units = {}
    for layer, names in prunable(work):
        ws = [variable(layer, n).value for n in names]
        units[layer.name] = ([layer.name], ws, [criteria_lib.checked_scores(
            crit, w, {"key": criteria_lib.weight_key(layer.name, i)},
            where=f"layer {layer.name!r}") for i, w in enumerate(ws)])
    return units
