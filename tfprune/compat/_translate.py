"""Keras 3 -> tf_keras model translation: configs rewritten, weights copied layer by layer.

Keras 3 and tf_keras describe the same layers with slightly different configs (dtype policies,
``batch_shape``, serialized-object envelopes, the functional node format). This module rewrites
one into the other, builds the model in the other Keras and copies the weights layer by layer
(matched by layer name, nested models included).

Example:
    >>> import keras as keras3
    >>> m3 = keras3.Sequential([keras3.Input((3,)), keras3.layers.Dense(2, name="d")])
    >>> m2 = to_tf_keras(m3)
    >>> type(m2).__module__.split(".")[0], [l.name for l in m2.layers]
    ('tf_keras', ['d'])
"""

from __future__ import annotations

import inspect

import numpy as np
import tf_keras

from tfprune import errors
from tfprune.compat import _training
from tfprune.compat._activations import ACTIVATION_KEYS, to_tf_keras_activation
from tfprune.compat._configs import filter_config, init_args, shift_nodes
from tfprune.compat._counterparts import tf_keras_class, tf_keras_customs
from tfprune.compat._models import copy_weights, is_model, walk
from tfprune.compat._ops import OPS, drop_masks, implicit_masks, op_to_tf_keras

__all__ = ["to_tf_keras", "check_translatable", "max_relative_error"]

# Layer config keys tf_keras' base Layer accepts through **kwargs.
_BASE_KWARGS = {"input_dim", "input_shape", "batch_input_shape", "batch_size", "weights",
                "activity_regularizer", "autocast", "implementation", "name", "trainable",
                "dtype", "dynamic", "zero_output_for_mask"}
# Keras 3 keys that tf_keras lacks, dropped when they hold the value that means "off".
_DROPPABLE = {"quantization_config": (None,), "lora_rank": (None,), "lora_alpha": (None,),
              "rms_scaling": (False,), "synchronized": (False,), "optional": (False,),
              "seed": (None,), "use_gate": (False,), "sliding_window": (None,),
              "flash_attention": (None, False), "use_cudnn": ("auto", True, False),
              "sparse": (False,), "ragged": (False,), "return_attention_scores": (False,),
              "module": None, "registered_name": None, "build_config": None,
              "compile_config": None, "tf_keras_version": None,
              "data_format": ("channels_last",), "vocabulary_size": None,
              "pad_to_aspect_ratio": (False,), "fill_mode": ("constant",), "fill_value": (0.0,),
              "antialias": (False,)}

# ---------------------------------------------------------------- checks (before any work)
def _check_model_kind(model, what):
    import keras
    from keras.src.models.functional import Functional

    if type(model) not in (Functional, keras.Sequential, keras.Model):
        raise errors.ModelTypeError(
            f"{what} {model.name!r} is a subclassed Keras 3 model ({type(model).__name__}); "
            "this needs its layer graph, and tfprune translates only Sequential and "
            "Functional models (it rebuilds the graph). tfprune.prune/one_shot/strip and "
            "sensitivity(granularity='weight') take the subclassed model as it is (weight, "
            "n:m and block granularity), and so do tfprune.export.tflite, micro and verify "
            "(they convert its call); for the rest rebuild it with keras.Sequential([...]) "
            "or keras.Model(inputs, outputs), or define the same class on tf_keras "
            "(`import tf_keras as keras`).")
    if not model.built or (isinstance(model, keras.Sequential) and not model.inputs):
        raise errors.ModelTypeError(
            f"{what} {model.name!r} is not built. Start it with keras.Input(shape) or call "
            "model.build(input_shape) first.")


def check_translatable(model) -> None:
    """Raise unless the Keras 3 ``model`` can be translated to tf_keras (cheap, no copies).

    Refuses a non-TensorFlow backend, subclassed or unbuilt models, functional graphs with
    bare ops (``keras.ops.*`` / ``x + y`` on symbolic tensors) and layers with no tf_keras
    counterpart.

    Example:
        >>> import keras as keras3
        >>> check_translatable(keras3.Sequential([keras3.Input((2,)), keras3.layers.Dense(1)]))
    """
    import keras

    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise errors.KerasVersionError(
            f"Keras 3 runs on the {backend!r} backend; tfprune translates only TensorFlow-"
            "backend models. Set KERAS_BACKEND=tensorflow before importing keras, rebuild the "
            "model and load its weights (model.save_weights / load_weights).")
    _check_model_kind(model, "Model")
    for layer in walk(model):
        if isinstance(layer, keras.Model):
            _check_model_kind(layer, "Nested model")
        elif tf_keras_class(layer) is None:
            raise errors.UnsupportedLayerError(
                f"Layer {layer.name!r} ({type(layer).__module__}.{type(layer).__name__}) has "
                "no tf_keras counterpart, so the Keras 3 model cannot be translated. Use "
                "built-in keras.layers, or write the same layer for tf_keras and declare it "
                "with tfprune.compat.register_counterpart(Keras3Class, TfKerasClass).")
    for model_like in [model, *[x for x in walk(model) if isinstance(x, keras.Model)]]:
        inner = getattr(model_like, "_functional", None) or model_like
        for op in getattr(inner, "operations", []):
            if not isinstance(op, keras.layers.Layer) and type(op).__name__ not in (
                    *OPS, "NotEqual"):  # NotEqual: only as a mask (_ops.implicit_masks)
                raise errors.UnsupportedLayerError(
                    f"Operation {op.name!r} ({type(op).__module__}.{type(op).__name__}) in "
                    f"{model_like.name!r} is a bare Keras 3 op, not a layer; tf_keras has no "
                    "counterpart (translated ops: x + y, x - y, x * y, x * c, x + c, x - c). "
                    "Use the layer "
                    "form (keras.layers.Add, Multiply, Reshape, ...) or a Lambda-free custom "
                    "layer registered with tfprune.compat.register_counterpart.")


# ---------------------------------------------------------------- Keras 3 -> tf_keras config
def _value_to_tf_keras(value):
    """Serialized Keras 3 values (dtype policies, object envelopes) in tf_keras form."""
    if isinstance(value, dict):
        if value.get("class_name") == "DTypePolicy" or value.get("class_name") == "FloatDTypePolicy":
            return value["config"]["name"]
        if value.get("class_name") == "__keras_tensor__":
            return list(value["config"]["keras_history"])
        if "class_name" in value and "config" in value and not isinstance(value["config"], str):
            cfg = {k: _value_to_tf_keras(v) for k, v in (value["config"] or {}).items()
                   if not (k in ("input_axes", "output_axes") and v is None)}
            return {"class_name": value["class_name"], "config": cfg}
        return {k: _value_to_tf_keras(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_value_to_tf_keras(v) for v in value]
    return value


def _layer_config_to_tf_keras(klass, layer_name, config):
    config = {("batch_input_shape" if k == "batch_shape" else k): v for k, v in config.items()
              if not (k == "lora_alpha" and config.get("lora_rank") is None)}

    def refuse(key, value):
        return errors.UnsupportedLayerError(
            f"Layer {layer_name!r} ({klass.__name__}) uses the Keras 3 option {key}={value!r}, "
            f"which tf_keras' {klass.__name__} does not have. Rebuild the layer without it.")

    def convert(key, value):
        if key in ACTIVATION_KEYS:
            return to_tf_keras_activation(value)
        if key in ("layer", "backward_layer") and isinstance(value, dict) and (
                getattr(tf_keras.layers, value.get("class_name", ""), None) is not None):
            return _wrapped_to_tf_keras(value)
        return _value_to_tf_keras(value)

    return filter_config(
        config, accepted=_BASE_KWARGS | init_args(klass, until=tf_keras.layers.Layer),
        droppable=_DROPPABLE, refuse=refuse, convert=convert)


def _wrapped_to_tf_keras(value):
    """The inner layer of a wrapper (TimeDistributed's or Bidirectional's ``layer``), its
    config filtered for its own tf_keras class like any other layer's."""
    klass = getattr(tf_keras.layers, value["class_name"])
    cfg = value.get("config") or {}
    return {"class_name": klass.__name__,
            "config": _layer_config_to_tf_keras(klass, cfg.get("name", "?"), cfg)}


def _node_to_tf_keras(node, call_arg_names):
    if isinstance(node, list):  # already the legacy format
        return node
    args = node.get("args", [])
    kwargs = {k: _value_to_tf_keras(v) for k, v in node.get("kwargs", {}).items()}
    for name, value in zip(call_arg_names[1:], args[1:], strict=False):
        kwargs[name] = _value_to_tf_keras(value)

    def first(t):
        if isinstance(t, dict) and t.get("class_name") == "__keras_tensor__":
            return [*t["config"]["keras_history"], kwargs]
        if isinstance(t, list):
            return [first(x) for x in t]
        if isinstance(t, dict):
            return {k: first(v) for k, v in t.items()}
        return ["_CONSTANT_VALUE", -1, t, kwargs]

    data = first(args[0]) if args else []
    if data and isinstance(data[0], str):
        data = [data]
    return data


def _io_list(value):
    """Model inputs/outputs: one reference in a list; a dict (named outputs) as it is, since
    tf_keras reads ``{"cls": [name, node, tensor], ...}`` the same way."""
    if isinstance(value, dict):
        return value
    if value and isinstance(value[0], str):
        return [value]
    return value


def _special_config(layer, cfg):
    """Configs that hold state outside the weights: a TextVectorization's vocabulary."""
    if type(layer).__name__ == "TextVectorization" and cfg.get("vocabulary") is None:
        cfg = {**cfg, "dtype": "string",  # Keras 3 gives its float output dtype
               "vocabulary": [str(v) for v in layer.get_vocabulary(include_special_tokens=False)]}
        if layer.get_config().get("output_mode") == "tf_idf":
            raise errors.UnsupportedLayerError(
                f"Layer {layer.name!r} (TextVectorization, output_mode='tf_idf') keeps its idf "
                "weights outside its config; tfprune cannot translate it. Apply it in the input "
                "pipeline (dataset.map(layer)) and give the model its output.")
    return cfg


def _lambda_config(layer, functions):
    """A Lambda's function, reused as the Python object (``functions`` names it in errors)."""
    key = f"_tfprune_lambda_{len(functions)}_{layer.name}"
    functions[key] = layer.function
    return {"function": layer.function, "function_type": "raw", "output_shape_type": "raw",
            "output_shape": None, "module": None}


def _model_config_to_tf_keras(model, config, functions=None):
    """Translate the config of the Keras 3 ``model`` (Functional or Sequential).

    ``functions`` collects the Python functions of Lambda layers (name -> function).
    """
    functions = {} if functions is None else functions
    by_name = {layer.name: layer for layer in model.layers}
    masks = implicit_masks(config, config["name"])
    out = {"name": config["name"], "layers": []}
    if "trainable" in config:
        out["trainable"] = config["trainable"]
    for entry in config["layers"]:
        name = entry["config"].get("name") or entry.get("name")
        if name not in masks:
            out["layers"].append(_entry_to_tf_keras(entry, name, by_name.get(name), functions,
                                                    masks))
    for key in ("input_layers", "output_layers"):
        if key in config:
            out[key] = _io_list(config[key])
    nested = {layer.name for layer in model.layers if is_model(layer)}
    if nested:
        for key in ("layers", "input_layers", "output_layers"):
            if key in out:
                out[key] = [e if not isinstance(e, dict) else
                            {**e, "inbound_nodes": shift_nodes(e.get("inbound_nodes", []),
                                                                nested, 1)}
                            for e in out[key]] if key == "layers" else shift_nodes(
                                out[key], nested, 1)
    return out


def _entry_to_tf_keras(entry, name, layer, functions, masks):
    """One entry of a Keras 3 functional config (a layer, nested model or bare op)."""
    cfg = entry["config"]
    if entry.get("module", "").startswith("keras.src.ops") and entry["class_name"] in OPS:
        return op_to_tf_keras(entry, name)
    if entry["class_name"] == "InputLayer":
        new = {"class_name": "InputLayer", "config": _layer_config_to_tf_keras(
            tf_keras.layers.InputLayer, name, cfg)}
    elif layer is not None and is_model(layer):
        inner = _model_config_to_tf_keras(layer, layer.get_config(), functions)
        new = {"class_name": "Sequential" if entry["class_name"] == "Sequential"
               else "Functional", "config": inner}
    else:
        klass = tf_keras_class(layer)
        new = {"class_name": klass.__name__,
               "config": _layer_config_to_tf_keras(klass, name, _special_config(layer, cfg))}
        if issubclass(klass, tf_keras.layers.Lambda):
            new["config"].update(_lambda_config(layer, functions))
        if issubclass(klass, tf_keras.layers.MultiHeadAttention):
            shapes = (entry.get("build_config") or {}).get("shapes_dict", {})
            for key in ("query_shape", "key_shape", "value_shape"):
                new["config"][key] = shapes.get(key)
    if "inbound_nodes" in entry:
        names = _call_arg_names(new["class_name"], tf_keras_class(layer) if layer else None)
        new["name"] = name
        new["inbound_nodes"] = [_node_to_tf_keras(drop_masks(n, masks), names)
                                for n in entry["inbound_nodes"]]
    return new


def _call_arg_names(class_name, klass):
    if klass is None or class_name in ("Functional", "Sequential", "InputLayer"):
        return ["inputs"]
    params = list(inspect.signature(klass.call).parameters)
    return [p for p in params if p != "self"]


def to_tf_keras(model):
    """A tf_keras copy of the Keras 3 Sequential or Functional ``model`` (same names, weights).

    Args:
        model: a built Keras 3 ``Sequential`` or Functional model (TensorFlow backend).

    Returns:
        A new tf_keras model whose outputs equal ``model``'s (float rounding only),
        compiled like ``model`` (optimizer, losses, metrics translated; fresh objects).

    Raises:
        KerasVersionError: a non-TensorFlow backend.
        ModelTypeError: a subclassed or unbuilt model.
        UnsupportedLayerError: a layer or option with no tf_keras counterpart.

    Example:
        >>> import keras as keras3, numpy as np
        >>> m3 = keras3.Sequential([keras3.Input((3,)), keras3.layers.Dense(2)])
        >>> x = np.ones((1, 3), "float32")
        >>> bool(np.allclose(to_tf_keras(m3)(x), m3(x)))
        True
    """
    import keras

    check_translatable(model)
    functions = {}
    config = _model_config_to_tf_keras(model, model.get_config(), functions)
    custom = tf_keras_customs()
    try:
        if isinstance(model, keras.Sequential):
            new = tf_keras.Sequential.from_config(config, custom_objects=custom)
        else:
            new = tf_keras.Model.from_config(config, custom_objects=custom)
    except Exception as e:  # noqa: BLE001  (a Lambda runs user code: name the layer)
        if not functions:
            raise
        names = [k.split("_", 4)[-1] for k in functions]
        raise errors.UnsupportedLayerError(
            f"Lambda layer(s) {names} could not be rebuilt in tf_keras ({type(e).__name__}: "
            f"{e}). tfprune reuses a Lambda's function on TensorFlow tensors: it must be a "
            "plain tensor function (tf.* or keras.ops.* on its input). Replace it with "
            "built-in layers, or a custom layer declared with "
            "tfprune.compat.register_counterpart(Keras3Class, TfKerasClass).") from e
    copy_weights(model, new, model.name)
    _training.compile_like(new, model)
    return new


def max_relative_error(a, b) -> float:
    """max |a - b| / max(max |b|, 1e-12) (0.0 for equal arrays)."""
    a, b = np.asarray(a, "float64"), np.asarray(b, "float64")
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-12))
