"""Pruning subclassed tf_keras models: ``prune``, ``one_shot`` and ``strip`` without a graph.

A subclassed model has no layer graph to clone, but its ``call`` reaches its layers through
its attributes (``self.fc1``, ``self.blocks[i]``, ``self.heads["a"]``, and the same inside
custom layers it holds). So the model is copied (``type(model).from_config(get_config())``,
weights copied attribute by attribute; or the model itself with ``inplace=True``) and every
prunable layer attribute is replaced by a :class:`~tfprune.masking.wrapper.PruningWrapper`
around that layer: the model's own ``call`` goes through the wrappers, ``PruningCallback``
trains it, and :func:`strip` gives back the user's class with the masked weights.

Granularities that follow channels or heads through the graph (``"channel"``, ``"head"``)
are refused: there is no graph to follow them through. ``"weight"``, ``"n:m"`` and
``"block"`` work, with every criterion that needs no model-level measurement.

Example:
    >>> import numpy as np, tfprune
    >>> from tfprune.compat import keras
    >>> class MLP(keras.Model):
    ...     def __init__(self, **kw):
    ...         super().__init__(**kw)
    ...         self.fc = keras.layers.Dense(8)
    ...     def call(self, x):
    ...         return self.fc(x)
    >>> m = MLP(); _ = m(np.zeros((1, 4), "float32"))
    >>> p = tfprune.one_shot(m, 0.5)
    >>> type(p).__name__, type(p.fc).__name__
    ('MLP', 'PruningWrapper')
    >>> plain = tfprune.strip(p)
    >>> type(plain.fc).__name__, float((plain.fc.kernel.numpy() == 0).mean())
    ('Dense', 0.5)
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from tensorflow.python.trackable import data_structures
from tensorflow_model_optimization.python.core.sparsity.keras import (
    pruning_schedule as tfmot_schedules,
)
from tensorflow_model_optimization.python.core.sparsity.keras import pruning_wrapper

from tfprune import errors
from tfprune import layers as layers_lib
from tfprune.compat import is_keras3_object, keras
from tfprune.core import criteria as criteria_lib
from tfprune.core import schedules as schedules_lib
from tfprune.masking import granularity as granularity_lib
from tfprune.masking import pruner
from tfprune.masking import scope as scope_lib
from tfprune.masking.validate import (
    DEFAULT_FREQUENCY,
)
from tfprune.masking.validate import check_layers as _check_layers
from tfprune.masking.validate import check_positive_pair as _pair
from tfprune.masking.validate import check_schedule_args as _check_schedule_args
from tfprune.masking.validate import final_sparsity as _final_sparsity
from tfprune.masking.wrapper import PruningWrapper

__all__ = ["is_subclassed", "check_inplace", "slots", "copy_model", "prune", "one_shot",
           "strip"]

_GRAPH_FREE = ("weight", "n:m", "block")


def is_subclassed(model) -> bool:
    """True for a tf_keras model that is neither Sequential nor Functional.

    Example:
        >>> is_subclassed(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]))
        False
    """
    return (isinstance(model, keras.Model) and not is_keras3_object(model)
            and not isinstance(model, keras.Sequential)
            and not getattr(model, "_is_graph_network", False))


def check_inplace(inplace) -> None:
    """Refuse ``inplace=True`` for a Sequential/Functional model (always cloned).

    Example:
        >>> check_inplace(False)
    """
    if inplace is not False:
        raise errors.ConfigError(
            f"inplace={inplace!r}: only subclassed models can be pruned or stripped in place; "
            "a Sequential or Functional model is cloned (a new model is returned and yours is "
            "unchanged). Leave inplace out.")


# -- the attribute walk ---------------------------------------------------------------
def _is_graph_model(layer) -> bool:
    return isinstance(layer, keras.Model) and not is_subclassed(layer)


def _is_builtin(layer) -> bool:
    mod = type(layer).__module__ or ""
    return mod.startswith(("tf_keras", "keras", "tensorflow"))


def _is_leaf(layer) -> bool:
    """Not walked into: wrappers, built-in and prunable layers, Sequential/Functional models."""
    return (isinstance(layer, pruning_wrapper.PruneLowMagnitude) or _is_builtin(layer)
            or _is_graph_model(layer) or layers_lib.is_prunable(layer))


def _children(obj):
    """``(key, child)`` of a layer's tracked attributes, or a list/dict/tuple's items."""
    if isinstance(obj, keras.layers.Layer):
        return [(k, v) for k, v in obj._trackable_children("checkpoint").items()
                if isinstance(v, (keras.layers.Layer, data_structures.TrackableDataStructure))]
    if isinstance(obj, data_structures._DictWrapper):  # noqa: SLF001
        return list(obj.items())
    return list(enumerate(obj))


def slots(model, path: str = ""):
    """Every layer slot of a subclassed model: ``(path, container, key, layer)``.

    ``container[key]`` (an item of a tracked list/dict) or ``getattr(container, key)`` (an
    attribute) holds ``layer``. Custom layers and subclassed models held by the model are
    walked into; built-in layers, pruning wrappers and Sequential/Functional models are
    leaves. A layer reachable twice appears twice (same object).

    Example:
        >>> class M(keras.Model):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.fc = keras.layers.Dense(2)
        ...         self.blocks = [keras.layers.Dense(2)]
        ...     def call(self, x):
        ...         return self.blocks[0](self.fc(x))
        >>> [s[0] for s in slots(M())]
        ['fc', 'blocks/0']
    """
    for key, child in _children(model):
        p = f"{path}{key}"
        if isinstance(child, data_structures.TrackableDataStructure):
            for sub in slots(child, p + "/"):
                yield sub[0], sub[1], sub[2], sub[3]
            continue
        yield p, model, key, child
        if not _is_leaf(child):
            yield from slots(child, p + "/")


def _set_slot(container, key, value) -> None:
    if isinstance(container, keras.layers.Layer):
        setattr(container, key, value)
    elif isinstance(container, data_structures._TupleWrapper):  # noqa: SLF001
        raise errors.ModelTypeError(
            f"a layer to prune sits in a tuple ({key!r}); a tuple cannot be changed. Hold the "
            "layers in a list (self.blocks = [...]) instead.")
    else:
        container[key] = value


def _inner(layer):
    return layer.layer if isinstance(layer, pruning_wrapper.PruneLowMagnitude) else layer


# -- copies ---------------------------------------------------------------------------
def _call_inputs(model):
    """Zero inputs of the shape ``model`` was called (or built) with, batch 1."""
    spec = model.save_spec(dynamic_batch=False) if hasattr(model, "save_spec") else None
    if spec is not None:
        args, kwargs = spec
        make = lambda s: tf.zeros([d or 1 for d in s.shape], s.dtype)  # noqa: E731
        return tf.nest.map_structure(make, list(args)), tf.nest.map_structure(make, kwargs)
    shape = getattr(model, "_build_input_shape", None)
    if shape is None:
        raise errors.ModelTypeError(
            f"model {model.name!r} ({type(model).__name__}) is not built: call it on a batch "
            "(model(x)) or model.build(input_shape) before pruning.")

    def make(s):
        return tf.zeros([d or 1 for d in tf.TensorShape(s).as_list()], tf.float32)

    if isinstance(shape, (list, tuple)) and shape and isinstance(shape[0], (list, tuple,
                                                                              tf.TensorShape)):
        return [[make(s) for s in shape]], {}
    if isinstance(shape, dict):
        return [{k: make(s) for k, s in shape.items()}], {}
    return [make(shape)], {}


def _refuse_copy(model, why):
    return errors.ModelTypeError(
        f"Cannot copy subclassed model {model.name!r} ({type(model).__name__}) to prune it: "
        f"{why}. Implement get_config() in {type(model).__name__} (returning its __init__ "
        "arguments) so that type(model).from_config(model.get_config()) rebuilds it, or pass "
        "inplace=True to wrap the layers of the model you pass (it is then changed).")


def copy_model(model):
    """A new instance of ``model``'s class with the same layer names and weights (wrappers
    in ``model`` are copied as the plain layers they hold).

    Raises:
        ModelTypeError: ``from_config`` fails or builds a different model; the message
            offers ``inplace=True`` and implementing ``get_config``.

    Example:
        >>> class M(keras.Model):
        ...     def __init__(self, units=2, **kw):
        ...         super().__init__(**kw)
        ...         self.fc = keras.layers.Dense(units)
        ...     def call(self, x):
        ...         return self.fc(x)
        >>> m = M(3); _ = m(tf.zeros((1, 4)))
        >>> c = copy_model(m)
        >>> c is m, c.fc.name == m.fc.name, np.array_equal(c.fc.kernel, m.fc.kernel)
        (False, True, True)
    """
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            config = model.get_config()
        new = type(model).from_config(config)
    except Exception as exc:  # noqa: BLE001 - any failure of the user's class is reported
        raise _refuse_copy(model, f"from_config(get_config()) failed ({type(exc).__name__}: "
                                  f"{exc})") from exc
    src = {p: _inner(lyr) for p, _, _, lyr in slots(model)}
    dst = {p: lyr for p, _, _, lyr in slots(new)}
    if set(src) != set(dst):
        raise _refuse_copy(model, f"the copy holds other layers ({sorted(set(dst) ^ set(src))})")
    for p, layer in dst.items():
        layer._name = src[p].name  # the user's names: exclude, scope and reports use them
    new._name = model.name
    args, kwargs = _call_inputs(model)
    new(*args, **kwargs, training=False)
    _copy_weights(model, new, own=True)
    for p, layer in dst.items():
        _copy_weights(src[p], layer, own=not _is_leaf(src[p]))
    return new


def _own_weights(layer, own):
    if not own:
        return list(layer.weights)
    return list(layer._trainable_weights) + list(layer._non_trainable_weights)  # noqa: SLF001


def _copy_weights(src, dst, *, own) -> None:
    a, b = _own_weights(src, own), _own_weights(dst, own)
    if [tuple(v.shape) for v in a] != [tuple(v.shape) for v in b]:
        raise _refuse_copy(src, f"layer {src.name!r} of the copy has other weights "
                                f"({[tuple(v.shape) for v in b]} vs {[tuple(v.shape) for v in a]})")
    for x, y in zip(a, b, strict=True):
        y.assign(x)


# -- prune ----------------------------------------------------------------------------
def _targets(model, exclude, scope):
    """``{name: [(container, key), ...]}`` and ``{name: layer}`` of the prunable leaves."""
    where, by_name = {}, {}
    for path, container, key, layer in slots(model):
        if not _is_leaf(layer) or not layers_lib.is_prunable(layer):
            continue
        if _is_graph_model(layer):
            raise errors.UnsupportedLayerError(
                f"{path!r} of {type(model).__name__} is a Sequential/Functional model "
                f"({layer.name!r}) inside a subclassed model: its layers run through its own "
                "graph, so they cannot be wrapped in place. Prune it on its own "
                "(tfprune.prune(submodel, ...)) and assign the result, or hold its layers "
                "in a list.")
        if layer.name in by_name and by_name[layer.name] is not layer:
            raise errors.ConfigError(
                f"two layers of {type(model).__name__} are named {layer.name!r} ({path!r} and "
                "another): give them unique names (name=...) so exclude/scope and reports "
                "can tell them apart.")
        by_name[layer.name] = layer
        where.setdefault(layer.name, []).append((container, key))
    valid = set(by_name) | {lyr.name for _, _, _, lyr in slots(model)}
    for arg, names in (("exclude", exclude), ("scope", list(scope.targets or {}))):
        for name in names:
            if name not in valid:
                raise errors.ConfigError(
                    f"`{arg}` names layer {name!r}, which {type(model).__name__} does not "
                    f"hold. Its prunable layers: {sorted(by_name)}.")
    return where, by_name


def prune(model, *, sparsity=None, schedule=None, criterion="magnitude", scope="layer",
          exclude=None, granularity=None, n_m=(2, 4), block=(4, 1), inplace=False,
          fixed=False):
    """:func:`tfprune.prune` for a subclassed tf_keras model (it dispatches here).

    Returns a copy of ``model`` (its class, names and weights) whose prunable layers are
    :class:`PruningWrapper` s, or ``model`` itself changed so with ``inplace=True``.

    Raises:
        ConfigError: ``granularity="channel"``/``"head"`` (no graph to follow channels
            through), a measured criterion, or the checks of :func:`tfprune.prune`.
        ModelTypeError: the model cannot be copied (offers ``inplace=True``) or is unbuilt.

    Example:
        >>> class M(keras.Model):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.fc = keras.layers.Dense(4)
        ...     def call(self, x):
        ...         return self.fc(x)
        >>> m = M(); _ = m(tf.zeros((1, 3)))
        >>> type(prune(m, sparsity=0.5).fc).__name__, type(m.fc).__name__
        ('PruningWrapper', 'Dense')
    """
    if inplace not in (True, False):
        raise errors.ConfigError(f"inplace must be True or False, got {inplace!r}.")
    if not model.built:
        raise errors.ModelTypeError(
            f"`model` ({type(model).__name__}) is not built yet: call it on a batch "
            "(model(x)) or model.build(input_shape) before pruning.")
    _check_not_pruned(model)
    crit = criteria_lib.get(criterion)
    resolved = scope_lib.resolve(scope)
    if granularity is None and resolved.granularity is not None:
        granularity = resolved.granularity
    strategy = granularity_lib.get(granularity, crit)
    _check_graph_free(model, strategy.name, crit)
    scope = scope_lib.resolve(scope, strategy.name)
    n_m = errors.check_pair(n_m, "n_m")
    if strategy.name == "n:m" and sparsity is None and schedule is None and not scope.is_mapping:
        sparsity = 1.0 - n_m[0] / n_m[1]
    _check_schedule_args(sparsity, schedule, scope)
    exclude = [exclude] if isinstance(exclude, str) else list(exclude or [])
    where, by_name = _targets(model, exclude, scope)
    names = [n for n in by_name if n not in exclude]
    if scope.is_mapping:
        names = [n for n in names if n in scope.targets]
    if not names:
        raise errors.NothingToPruneError(
            f"{type(model).__name__} {model.name!r} holds no prunable layer (Dense, Conv*, "
            "DepthwiseConv2D, SeparableConv*, Embedding, ...) in its attributes, lists or "
            "dicts.")
    if schedule is None:
        base = float(sparsity if sparsity is not None else scope.final)
        schedule = (schedules_lib.OneShot(base, step=0) if fixed else
                    tfmot_schedules.ConstantSparsity(base, 0, frequency=DEFAULT_FREQUENCY))
    scales = {n: 1.0 for n in names}
    if scope.is_mapping:
        final = _final_sparsity(schedule)
        if final <= 0:
            raise errors.ConfigError("scope={...} needs a schedule whose final sparsity is > 0.")
        scales = {n: scope.targets[n] / final for n in names}
    _check_layers({n: by_name[n] for n in names}, crit, scope, strategy.name, n_m, block)
    target = model if inplace else copy_model(model)
    _reset_functions(target)
    _wrap(target, scales, schedule=schedule, crit=crit, scope=scope, strategy=strategy,
          n_m=n_m, block=_pair(block, "block"))
    return target


def _reset_functions(model) -> None:
    """Drop the model's traced fit/evaluate/predict functions: they called the old layers."""
    model.train_function = model.test_function = model.predict_function = None


def _check_graph_free(model, unit, crit):
    if unit not in _GRAPH_FREE:
        raise errors.ConfigError(
            f"granularity={unit!r} is refused for subclassed model {type(model).__name__}: "
            f"removing a {'head' if unit == 'head' else 'channel'} means following it through "
            "the layer graph to every layer that consumes it, and a subclassed model has no "
            "graph (its call is Python code). Use granularity='weight', 'n:m' or 'block', or "
            "rebuild the model with keras.Sequential([...]) / keras.Model(inputs, outputs) "
            "for channel or head pruning and shrink.")
    if crit.measured:
        raise errors.ConfigError(
            f"criterion {crit.name!r} measures the model's loss per unit through its layer "
            f"graph; it is not available for subclassed model {type(model).__name__}. Use a "
            "weight criterion such as 'magnitude' (or a data criterion with one_shot).")


def _check_not_pruned(model):
    hits = [lyr.name for _, _, _, lyr in slots(model)
            if isinstance(lyr, pruning_wrapper.PruneLowMagnitude)]
    if hits:
        raise errors.AlreadyPrunedError(
            f"`model` {model.name!r} is already pruned (pruning wrappers: {', '.join(hits[:5])})."
            " Strip it first with tfprune.strip(model), or keep training the pruned one.")


def _wrap(model, scales, *, schedule, crit, scope, strategy, n_m, block) -> None:
    """Replace every slot holding a target layer by one wrapper around it, then build."""
    update = "external" if scope.ranking == "global" else "layer"
    made = {}
    for _, container, key, layer in list(slots(model)):
        if not _is_leaf(layer) or layer.name not in scales:
            continue
        if id(layer) not in made:
            made[id(layer)] = PruningWrapper(
                layer, schedule, criterion=crit, update=update,
                sparsity_scale=scales[layer.name], granularity=strategy.name, n_m=n_m,
                block=block, scope=scope.ranking)
        _set_slot(container, key, made[id(layer)])
    args, kwargs = _call_inputs(model)
    model(*args, **kwargs, training=False)  # builds the wrappers (masks, thresholds, step)
    missing = [w.layer.name for w in made.values() if not w.built]
    if missing:
        raise errors.UnsupportedLayerError(
            f"{type(model).__name__}.call does not reach layers {missing} through the "
            "attributes that hold them (e.g. it keeps another reference): they cannot be "
            "pruned. Call them as self.<attribute>(...) in call, or exclude=[...] them.")


def one_shot(model, sparsity=None, *, criterion="magnitude", scope="layer", exclude=None,
             data=None, loss=None, granularity=None, n_m=(2, 4), block=(4, 1),
             max_batches=None, inplace=False):
    """:func:`tfprune.one_shot` for a subclassed tf_keras model (it dispatches here).

    Example:
        >>> class M(keras.Model):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.fc = keras.layers.Dense(4)
        ...     def call(self, x):
        ...         return self.fc(x)
        >>> m = M(); _ = m(tf.zeros((1, 3)))
        >>> float((one_shot(m, 0.75).fc.layer.kernel.numpy() == 0).mean())
        0.75
    """
    crit = criteria_lib.get(criterion)
    if crit.needs_data and data is None:
        raise errors.ConfigError(
            f"criterion {crit.name!r} scores weights from data: pass data=(x, y) to one_shot, "
            "or choose a weight-only criterion such as 'magnitude'.")
    loss = pruner.resolve_loss(model, loss, crit)
    pruned = prune(model, sparsity=sparsity, criterion=crit, scope=scope, exclude=exclude,
                   granularity=granularity, n_m=n_m, block=block, inplace=inplace, fixed=True)
    ranking = pruner.model_scope(pruned)
    if crit.needs_data:
        pruner.gather(pruned, data, loss=loss, max_batches=max_batches)
    pruner.update_masks(pruned, step=0, scope=ranking, compensate=crit.compensates)
    pruner.set_step(pruned, 0)
    return pruned


# -- strip ----------------------------------------------------------------------------
def _masked_values(wrapper):
    """The inner layer's weights with ``weight * mask`` for the pruned ones."""
    values = [np.asarray(keras.backend.get_value(v)) for v in wrapper.layer.weights]
    index = {id(v): i for i, v in enumerate(wrapper.layer.weights)}
    for weight, mask, _ in wrapper.pruning_vars:
        i = index[id(weight)]
        values[i] = values[i] * np.asarray(keras.backend.get_value(mask))
    return values


def strip(model, *, inplace=False):
    """:func:`tfprune.strip` for a subclassed model: the user's class, wrappers swapped back
    for their layers, pruned weights set to 0. A copy unless ``inplace=True``.

    Example:
        >>> class M(keras.Model):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.fc = keras.layers.Dense(4)
        ...     def call(self, x):
        ...         return self.fc(x)
        >>> m = M(); _ = m(tf.zeros((1, 3)))
        >>> s = strip(one_shot(m, 0.5))
        >>> type(s).__name__, type(s.fc).__name__, int((s.fc.kernel.numpy() == 0).sum())
        ('M', 'Dense', 6)
    """
    if inplace not in (True, False):
        raise errors.ConfigError(f"inplace must be True or False, got {inplace!r}.")
    wrapped = {p: lyr for p, _, _, lyr in slots(model)
               if isinstance(lyr, pruning_wrapper.PruneLowMagnitude)}
    values = {p: _masked_values(w) if hasattr(w, "pruning_vars") and w.pruning_vars
              else w.layer.get_weights() for p, w in wrapped.items()}
    if inplace:
        _reset_functions(model)
        for _, container, key, layer in list(slots(model)):
            if isinstance(layer, pruning_wrapper.PruneLowMagnitude):
                _set_slot(container, key, layer.layer)
        target = model
    else:
        target = copy_model(model)
    plain = {p: lyr for p, _, _, lyr in slots(target)}
    for p, vals in values.items():
        plain[p].set_weights(vals)
    return target
