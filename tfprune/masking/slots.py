"""The layer slots of a subclassed tf_keras model: find them, replace them, copy the model.

A subclassed model has no layer graph, but its ``call`` reaches its layers through its
attributes (``self.fc1``, ``self.blocks[i]``, ``self.heads["a"]``, and the same inside the
custom layers it holds). :func:`slots` walks those attributes; :func:`set_slot` puts another
layer (a pruning wrapper) in one; :func:`copy_model` rebuilds the model from its config with
the same names and weights; :func:`functional_view` calls it on ``keras.Input`` s to give a
Functional model sharing its layers (what measuring and exporting need: outputs, a concrete
input signature).

Example:
    >>> class M(keras.Model):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.fc = keras.layers.Dense(2, name="fc")
    ...     def call(self, x):
    ...         return self.fc(x)
    >>> m = M(); _ = m(tf.zeros((1, 3)))
    >>> is_subclassed(m), [s[0] for s in slots(m)], functional_view(m).output_shape
    (True, ['fc'], (None, 2))
"""

from __future__ import annotations

import warnings

import numpy as np  # noqa: F401 - the doctests use it
import tensorflow as tf
from tensorflow.python.trackable import data_structures
from tensorflow_model_optimization.python.core.sparsity.keras import pruning_wrapper

from tfprune import errors
from tfprune import layers as layers_lib
from tfprune.compat import is_keras3_object, keras

__all__ = ["is_subclassed", "is_graph_model", "is_leaf", "slots", "set_slot", "inner",
           "call_inputs", "functional_view", "copy_model"]

def is_subclassed(model) -> bool:
    """True for a tf_keras model that is neither Sequential nor Functional.

    Example:
        >>> is_subclassed(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]))
        False
    """
    return (isinstance(model, keras.Model) and not is_keras3_object(model)
            and not isinstance(model, keras.Sequential)
            and not getattr(model, "_is_graph_network", False))



# -- the attribute walk ---------------------------------------------------------------
def is_graph_model(layer) -> bool:
    return isinstance(layer, keras.Model) and not is_subclassed(layer)


def _is_builtin(layer) -> bool:
    mod = type(layer).__module__ or ""
    return mod.startswith(("tf_keras", "keras", "tensorflow"))


def is_leaf(layer) -> bool:
    """Not walked into: wrappers, built-in and prunable layers, Sequential/Functional models."""
    return (isinstance(layer, pruning_wrapper.PruneLowMagnitude) or _is_builtin(layer)
            or is_graph_model(layer) or layers_lib.is_prunable(layer))


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
        if not is_leaf(child):
            yield from slots(child, p + "/")


def set_slot(container, key, value) -> None:
    if isinstance(container, keras.layers.Layer):
        setattr(container, key, value)
    elif isinstance(container, data_structures._TupleWrapper):  # noqa: SLF001
        raise errors.ModelTypeError(
            f"a layer to prune sits in a tuple ({key!r}); a tuple cannot be changed. Hold the "
            "layers in a list (self.blocks = [...]) instead.")
    else:
        container[key] = value


def inner(layer):
    return layer.layer if isinstance(layer, pruning_wrapper.PruneLowMagnitude) else layer


# -- copies ---------------------------------------------------------------------------
def call_inputs(model):
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
            "(model(x)) or model.build(input_shape) before pruning, measuring or exporting it.")

    def make(s):
        return tf.zeros([d or 1 for d in tf.TensorShape(s).as_list()], tf.float32)

    if isinstance(shape, (list, tuple)) and shape and isinstance(shape[0], (list, tuple,
                                                                              tf.TensorShape)):
        return [[make(s) for s in shape]], {}
    if isinstance(shape, dict):
        return [{k: make(s) for k, s in shape.items()}], {}
    return [make(shape)], {}


def _input_specs(model):
    """The ``keras.Input`` s ``model`` was called (or built) with: a nest of tensors."""
    spec = model.save_spec() if hasattr(model, "save_spec") else None
    if spec is not None:
        args, kwargs = spec
        if len(args) == 1 and not kwargs:
            return tf.nest.map_structure(
                lambda s: keras.Input(s.shape[1:], dtype=s.dtype), args[0])
    else:
        args, kwargs = call_inputs(model)  # built with build(shape): float32 inputs
        if len(args) == 1 and not kwargs:
            return tf.nest.map_structure(lambda t: keras.Input(t.shape[1:], dtype=t.dtype),
                                         args[0])
    raise errors.ModelTypeError(
        f"model {model.name!r} ({type(model).__name__}) is called with {len(args)} positional "
        f"and {len(kwargs)} keyword tensor argument(s); tfprune needs one input argument (a "
        "tensor, or a list/dict of tensors) to give it a concrete input signature. Call it "
        "as model(x) with x holding every input.")


def functional_view(model):
    """A Functional tf_keras model calling ``model`` (a subclassed model, built) on
    ``keras.Input`` s of the shapes it was called with: it shares ``model``'s layers and
    weights and gives it what measuring and exporting need (outputs, a concrete signature).

    Raises:
        ModelTypeError: ``model`` is not built, takes several input arguments, or its
            ``call`` cannot run on symbolic inputs (the message names the fix).

    Example:
        >>> class M(keras.Model):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.fc = keras.layers.Dense(2)
        ...     def call(self, x):
        ...         return self.fc(x)
        >>> m = M(); _ = m(tf.zeros((1, 3)))
        >>> v = functional_view(m)
        >>> v.input_shape, v.layers[-1] is m
        ((None, 3), True)
    """
    inputs = _input_specs(model)
    try:
        outputs = model(inputs, training=False)
    except Exception as exc:  # noqa: BLE001 - any failure of the user's call is reported
        raise errors.ModelTypeError(
            f"{type(model).__name__}.call could not run on symbolic keras.Input tensors "
            f"({type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}); "
            "tfprune needs that to measure or export a subclassed model. Use TensorFlow ops "
            "in call (no .numpy(), no Python branching on tensor values), or rebuild the "
            "model with keras.Model(inputs, outputs).") from exc
    return keras.Model(inputs, outputs, name=model.name)


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
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            config = model.get_config()
        new = type(model).from_config(config)
    except Exception as exc:  # noqa: BLE001 - any failure of the user's class is reported
        raise _refuse_copy(model, f"from_config(get_config()) failed ({type(exc).__name__}: "
                                  f"{exc})") from exc
    src = {p: inner(lyr) for p, _, _, lyr in slots(model)}
    dst = {p: lyr for p, _, _, lyr in slots(new)}
    if set(src) != set(dst):
        raise _refuse_copy(model, f"the copy holds other layers ({sorted(set(dst) ^ set(src))})")
    for p, layer in dst.items():
        layer._name = src[p].name  # the user's names: exclude, scope and reports use them
    new._name = model.name
    args, kwargs = call_inputs(model)
    new(*args, **kwargs, training=False)
    _copy_weights(model, new, own=True)
    for p, layer in dst.items():
        _copy_weights(src[p], layer, own=not is_leaf(src[p]))
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
