"""tf_keras -> Keras 3: plain (stripped or shrunk) tf_keras models back to Keras 3.

Example:
    >>> import tf_keras
    >>> m = tf_keras.Sequential([tf_keras.Input((3,)), tf_keras.layers.Dense(2, name="d")])
    >>> [layer.name for layer in to_keras3(m).layers]
    ['d']
"""

from __future__ import annotations

import copy

import tf_keras

from tfprune import errors
from tfprune.compat import _training
from tfprune.compat._activations import ACTIVATION_KEYS, to_keras3_activation
from tfprune.compat._configs import filter_config, init_args, shift_nodes
from tfprune.compat._counterparts import keras3_class, keras3_customs
from tfprune.compat._models import copy_weights, is_model, walk

__all__ = ["to_keras3"]


def _value_to_keras3(key, value):
    if key in ACTIVATION_KEYS:
        return to_keras3_activation(value)
    if key == "axis" and isinstance(value, list) and len(value) == 1:
        return value[0]  # BatchNormalization axis=[3] -> 3
    if key == "dtype" and isinstance(value, dict) and value.get("class_name") == "Policy":
        return value["config"]["name"]  # tf_keras mixed precision Policy -> its name
    return value


_DROPPABLE_3 = {"query_shape": None, "key_shape": None, "value_shape": None,
                "softmax_robust_masking": (False,), "groups": (1,), "dynamic": (False,),
                "time_major": (False,), "implementation": (1, 2), "ragged": (False,),
                "zero_output_for_mask": None, "input_length": None,
                # the model's InputLayer carries the shape (tf_keras Embedding repeats it)
                "batch_input_shape": None,
                # tf_keras SeparableConv keeps its base class's kernel_* options unused (its
                # kernels are depthwise_*/pointwise_*); Keras 3's does not take them. An
                # initializer never matters to a model whose weights are copied.
                "kernel_initializer": None, "kernel_regularizer": (None,),
                "kernel_constraint": (None,)}


_BASE_KWARGS_3 = frozenset({"name", "trainable", "dtype", "autocast", "input_shape",
                            "batch_size", "input_dim", "activity_regularizer"})


def _layer_config_to_keras3(klass, layer_name, config):
    import keras

    def convert(key, value):
        if key in ACTIVATION_KEYS and value == "hard_sigmoid":
            raise errors.UnsupportedLayerError(
                f"Layer {layer_name!r} ({klass.__name__}) uses tf_keras' hard_sigmoid "
                "(clip(0.2*x + 0.5)); Keras 3's hard_sigmoid is relu6(x + 3) / 6, so the "
                "model would compute other outputs in Keras 3. Keep the tf_keras model, or "
                "rebuild the layer with an activation both Keras versions share.")
        return _value_to_keras3(key, value)

    def refuse(key, value):
        return errors.UnsupportedLayerError(
            f"Layer {layer_name!r} ({klass.__name__}) uses the tf_keras option {key}={value!r},"
            f" which Keras 3's {klass.__name__} does not have; it cannot go back to Keras 3.")

    return filter_config(config, accepted=_BASE_KWARGS_3 | init_args(klass, until=keras.layers.Layer),
                         droppable=_DROPPABLE_3, refuse=refuse, convert=convert)


def _tensor_3(history):
    return {"class_name": "__keras_tensor__",
            "config": {"shape": [None], "dtype": "float32", "keras_history": list(history)}}


def _node_to_keras3(node, names):
    """tf_keras node ``[[name, node, tensor, kwargs], ...]`` -> Keras 3 ``{args, kwargs}``."""
    def is_ref(v):
        return (isinstance(v, (list, tuple)) and len(v) == 3 and isinstance(v[0], str)
                and v[0] in names and isinstance(v[1], int) and isinstance(v[2], int))

    def kw(v):
        if is_ref(v):
            return _tensor_3(v)
        if isinstance(v, dict):
            return {k: kw(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [kw(x) for x in v]
        return v

    tensors = [_tensor_3(e[:3]) for e in node]
    kwargs = node[0][3] if node and len(node[0]) == 4 else {}
    return {"args": [tensors[0] if len(tensors) == 1 else tensors], "kwargs": kw(kwargs)}


def _nested_to_keras3(value):
    """A wrapper's serialized inner layer (Bidirectional's ``layer``/``backward_layer``)."""
    import keras

    klass = getattr(keras.layers, value["class_name"], None)
    if klass is None:
        raise errors.UnsupportedLayerError(
            f"Wrapped layer {value['class_name']} has no Keras 3 counterpart.")
    cfg = value["config"]
    return {"module": "keras.layers", "class_name": klass.__name__, "registered_name": None,
            "config": _layer_config_to_keras3(klass, cfg.get("name"), cfg)}


def _special_config_3(layer, klass, name, config, functions):
    """Layers whose config needs more than renamed keys: Lambda (its Python function,
    reused), TextVectorization (its vocabulary), wrappers (their inner layers)."""
    if isinstance(layer, tf_keras.layers.Lambda):
        key = f"_tfprune_lambda_{len(functions)}_{name}"
        functions[key] = layer.function
        return {"name": name, "trainable": config.get("trainable", True),
                "dtype": config.get("dtype"), "function": key,
                "arguments": dict(layer.arguments or {})}
    if isinstance(layer, tf_keras.layers.TextVectorization):
        config = {**config, "vocabulary": [
            v.decode() if isinstance(v, bytes) else str(v)
            for v in layer.get_vocabulary(include_special_tokens=False)]}
        config.pop("vocabulary_size", None)
    config = dict(config)
    for key in ("layer", "backward_layer"):
        if isinstance(config.get(key), dict) and "class_name" in config[key]:
            config[key] = _nested_to_keras3(config[key])
    return _layer_config_to_keras3(klass, name, config)


def _model_config_to_keras3(model, config, functions=None):
    """``functions`` collects the Python functions of Lambda layers (name -> function)."""
    from tf_keras.src.engine import functional

    functions = {} if functions is None else functions

    by_name = {layer.name: layer for layer in model.layers}
    names = set(by_name)
    skip = {layer.name for layer in model.layers if is_model(layer)
            and functional._should_skip_first_node(layer)}
    if skip:
        config = shift_nodes(config, skip, -1)
    out = copy.deepcopy({k: v for k, v in config.items() if k != "layers"})
    out["layers"] = []
    for entry in config["layers"]:
        name = entry["config"].get("name") or entry.get("name")
        layer = by_name.get(name)
        new = {k: v for k, v in entry.items() if k != "build_config"}
        if entry["class_name"] == "InputLayer":
            cfg = dict(entry["config"])
            cfg["batch_shape"] = cfg.pop("batch_input_shape")
            new.update(class_name="InputLayer", module="keras.layers", config=cfg)
        elif layer is not None and is_model(layer):
            new.update(module="keras", class_name="Functional" if entry["class_name"] !=
                       "Sequential" else "Sequential",
                       config=_model_config_to_keras3(layer, layer.get_config(), functions))
            if entry["class_name"] != "Sequential":
                new["module"] = "keras.src.models.functional"
        else:
            klass = keras3_class(layer)
            cfg = _special_config_3(layer, klass, name, entry["config"], functions)
            new.update(class_name=klass.__name__, module=klass.__module__,
                       config=cfg, registered_name=None)
            if klass.__module__.startswith("keras.src.layers"):
                new["module"] = "keras.layers"
        if new.get("inbound_nodes"):
            new["inbound_nodes"] = [_node_to_keras3(n, names) for n in new["inbound_nodes"]]
        out["layers"].append(new)
    for key in ("input_layers", "output_layers"):
        if key in out and len(out[key]) == 1 and isinstance(out[key][0], list):
            out[key] = out[key][0]  # single tensor: Keras 3 expects it unnested
    return out


def to_keras3(model):
    """A Keras 3 copy of the plain tf_keras Sequential or Functional ``model``.

    Layer names, weights (zeros included), outputs and the compile state (translated to
    Keras 3 objects) are kept. Wrapped (pruned, unstripped)
    models are refused: strip them first.

    Example:
        >>> import numpy as np
        >>> m = tf_keras.Sequential([tf_keras.Input((3,)), tf_keras.layers.Dense(2)])
        >>> x = np.ones((1, 3), "float32")
        >>> bool(np.allclose(to_keras3(m)(x), m(x)))
        True
    """
    import keras

    if not isinstance(model, tf_keras.Model) or not (
            isinstance(model, tf_keras.Sequential) or getattr(model, "_is_graph_network", False)):
        raise errors.ModelTypeError(
            f"to_keras3 needs a Sequential or Functional tf_keras model, got "
            f"{type(model).__name__}.")
    for layer in walk(model):
        if not is_model(layer):
            keras3_class(layer)
    functions = {}
    config = _model_config_to_keras3(model, model.get_config(), functions)
    custom = {**keras3_customs(), **functions}
    with keras.saving.custom_object_scope(custom):
        if isinstance(model, tf_keras.Sequential):
            new = keras.Sequential.from_config(config)
        else:
            new = keras.Model.from_config(config)
    copy_weights(model, new, model.name)
    _training.compile_like(new, model)
    return new
