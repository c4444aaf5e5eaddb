"""Keras 3 training objects on tf_keras models: optimizers, losses, metrics and callbacks.

A pruned model is a tf_keras model (TF-MOT works only with tf_keras). For a model that came
from Keras 3, :func:`accept_keras3` makes its ``compile``, ``fit``, ``evaluate`` and
``predict`` take Keras 3 objects: optimizers, losses and metrics are translated by class name
and config (a fresh tf_keras object; the user's object is not touched), Keras 3 callbacks are
run through :class:`Keras3Callback`, which forwards every event to them with the tf_keras
model. :func:`compile_like` carries a model's compile state to its translation, either way.

Example:
    >>> import keras as keras3
    >>> type(to_tf_keras_object(keras3.optimizers.Adam(0.01), "optimizer")).__module__[:8]
    'tf_keras'
"""

from __future__ import annotations

import functools
import types
import warnings

import tf_keras

from tfprune import errors
from tfprune.compat._configs import filter_config, init_args
from tfprune.compat._detect import is_keras3_object

__all__ = ["to_tf_keras_object", "to_keras3_object", "Keras3Callback", "accept_keras3",
           "compile_like", "compile_args", "has_keras3_compile"]

_STASH = "_tfprune_keras3_compile"  # the Keras 3 compile arguments a tf_keras model stands for
_KINDS = ("optimizer", "loss", "metric")
# Keys one Keras has and the other lacks, dropped when they hold the value that means "off".
_DROP = {"loss_scale_factor": (None,), "gradient_accumulation_steps": (None,),
         "jit_compile": (False, True), "is_legacy_optimizer": (False,),
         "dtype": None, "reduction": ("sum_over_batch_size", "auto"),
         "fn": None}  # a loss class's own function (tf_keras puts it in the config)
_COMPILE_KEYS = ("optimizer", "loss", "metrics", "loss_weights", "weighted_metrics")


def _module(keras_module, kind):
    return {"optimizer": keras_module.optimizers, "loss": keras_module.losses,
            "metric": keras_module.metrics}[kind]


def _schedule(value, target):
    """A serialized learning-rate schedule from one Keras, rebuilt in ``target`` Keras."""
    name = value["class_name"]
    klass = getattr(target.optimizers.schedules, name, None)
    if klass is None:
        raise errors.KerasVersionError(
            f"The learning-rate schedule {name} has no counterpart in {target.__name__}; use a "
            "built-in schedule (ExponentialDecay, CosineDecay, PiecewiseConstantDecay, ...) "
            "or a LearningRateScheduler callback.")
    return klass(**_config(klass, value["config"], f"schedule {name}", target))


def _config(klass, config, what, target):
    def convert(key, value):
        if isinstance(value, dict) and "class_name" in value and key == "learning_rate":
            return _schedule(value, target)
        # tf_keras' "auto" is Keras 3's default
        return "sum_over_batch_size" if key == "reduction" and value == "auto" else value

    def refuse(key, value):
        return errors.KerasVersionError(
            f"The {what} option {key}={value!r} has no counterpart in {target.__name__}'s "
            f"{klass.__name__}: the model returned by tfprune trains in tf_keras. Leave the "
            "option at its default, or pass the tf_keras object.")

    out = filter_config(config, accepted=init_args(klass), droppable=_DROP, refuse=refuse,
                        convert=convert)
    if "dtype" in init_args(klass) and isinstance(out.get("dtype"), dict):
        out["dtype"] = out["dtype"].get("config", {}).get("name", "float32")
    return out


def _plain_function(obj) -> bool:
    return isinstance(obj, (types.FunctionType, functools.partial))


def to_tf_keras_object(obj, kind: str):
    """The tf_keras counterpart of a Keras 3 optimizer, loss or metric (``kind``); strings,
    plain functions and tf_keras objects come back unchanged; dicts and lists are mapped.

    A Keras 3 ``Loss`` subclass with no tf_keras counterpart is wrapped (its ``call`` gives
    the per-sample loss, which tf_keras reduces). Other objects with no counterpart are refused.

    Raises:
        KerasVersionError: a Keras 3 object, or an option of one, with no tf_keras counterpart.

    Example:
        >>> import keras as keras3
        >>> out = to_tf_keras_object({"a": keras3.losses.Huber(delta=2.0), "b": "mse"}, "loss")
        >>> type(out["a"]).__module__.split(".")[0], out["a"].get_config()["delta"], out["b"]
        ('tf_keras', 2.0, 'mse')
    """
    if kind not in _KINDS:
        raise errors.unknown_name("kind", kind, list(_KINDS))
    if isinstance(obj, dict):
        return {k: to_tf_keras_object(v, kind) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_tf_keras_object(v, kind) for v in obj)
    if obj is None or isinstance(obj, str) or not is_keras3_object(obj):
        if _plain_function(obj) and obj.__module__.startswith("keras"):
            return getattr(_module(tf_keras, kind), obj.__name__, obj)
        return obj
    klass = getattr(_module(tf_keras, kind), type(obj).__name__, None)
    if not isinstance(klass, type):
        if kind == "loss" and "call" in type(obj).__dict__:
            from tf_keras.src.losses import LossFunctionWrapper

            return LossFunctionWrapper(obj.call, name=obj.name)
        raise errors.KerasVersionError(
            f"The Keras 3 {kind} {type(obj).__name__} has no tf_keras counterpart, and the "
            f"model returned by tfprune trains in tf_keras. Pass a built-in {kind} (or its "
            "string name), a plain function of tensors, or the same class written with "
            "`import tf_keras`.")
    # Keras 3's function-wrapping losses/metrics (Huber, ...) keep their options in
    # ``_fn_kwargs`` and leave them out of get_config(): carry them too.
    extra = {k: v for k, v in dict(getattr(obj, "_fn_kwargs", None) or {}).items()
             if k in init_args(klass)}  # e.g. Huber's delta; not SparseCCE's axis
    config = {**extra, **obj.get_config()}
    return klass(**_config(klass, config, f"{kind} {type(obj).__name__}", tf_keras))


def to_keras3_object(obj, kind: str):
    """The Keras 3 counterpart of a tf_keras optimizer, loss or metric (see
    :func:`to_tf_keras_object`); Keras 3 objects are copied (a fresh optimizer).

    Example:
        >>> to_keras3_object(tf_keras.optimizers.SGD(0.5), "optimizer").learning_rate.numpy()
        np.float32(0.5)
    """
    import keras

    if isinstance(obj, dict):
        return {k: to_keras3_object(v, kind) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_keras3_object(v, kind) for v in obj)
    if obj is None or isinstance(obj, str) or _plain_function(obj):
        if _plain_function(obj) and obj.__module__.startswith("tf_keras"):
            return getattr(_module(keras, kind), obj.__name__, obj)
        return obj
    if is_keras3_object(obj):  # a fresh copy: the user's object stays with the user's model
        try:
            return type(obj).from_config(obj.get_config())
        except (TypeError, ValueError, NotImplementedError):
            if kind == "optimizer":
                raise
            return obj
    klass = getattr(_module(keras, kind), type(obj).__name__, None)
    if not isinstance(klass, type):
        raise errors.KerasVersionError(
            f"The tf_keras {kind} {type(obj).__name__} has no Keras 3 counterpart; compile "
            "the returned Keras 3 model yourself.")
    config = obj.get_config()
    if kind == "optimizer" and not isinstance(config.get("learning_rate"), dict):
        config["learning_rate"] = float(config["learning_rate"])
    elif kind == "optimizer":
        config["learning_rate"] = {"class_name": config["learning_rate"]["class_name"],
                                   "config": config["learning_rate"]["config"]}
    return klass(**_config(klass, config, f"{kind} {type(obj).__name__}", keras))


class Keras3Callback(tf_keras.callbacks.Callback):
    """Runs a Keras 3 callback inside a tf_keras ``fit``/``evaluate``/``predict``.

    Every event goes to the Keras 3 callback, whose ``model`` is the tf_keras model (what it
    uses of it -- ``stop_training``, ``get_weights``/``set_weights``, ``save``,
    ``save_weights``, ``optimizer.learning_rate``, ``optimizer.iterations`` -- exists there).

    Example:
        >>> import keras as keras3
        >>> Keras3Callback(keras3.callbacks.EarlyStopping(patience=1)).callback.patience
        1
    """

    _EVENTS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
               "on_train_batch_begin", "on_train_batch_end", "on_test_begin", "on_test_end",
               "on_test_batch_begin", "on_test_batch_end", "on_predict_begin",
               "on_predict_end", "on_predict_batch_begin", "on_predict_batch_end")

    def __init__(self, callback):
        super().__init__()
        self.callback = callback

    def set_model(self, model):
        super().set_model(model)
        self.callback.set_model(model)

    def set_params(self, params):
        super().set_params(params)
        self.callback.set_params(params)

    def _overrides(self, *names) -> bool:
        import keras

        base = keras.callbacks.Callback
        return any(getattr(type(self.callback), n, None) is not getattr(base, n) for n in names)

    def _implements_train_batch_hooks(self):
        return self._overrides("on_train_batch_begin", "on_train_batch_end", "on_batch_begin",
                               "on_batch_end")

    def _implements_test_batch_hooks(self):
        return self._overrides("on_test_batch_begin", "on_test_batch_end")

    def _implements_predict_batch_hooks(self):
        return self._overrides("on_predict_batch_begin", "on_predict_batch_end")


def _forward(event):
    def hook(self, *args, **kwargs):
        return getattr(self.callback, event)(*args, **kwargs)

    hook.__name__ = event
    return hook


for _event in Keras3Callback._EVENTS:
    setattr(Keras3Callback, _event, _forward(_event))


def _callbacks(callbacks):
    if callbacks is None:
        return None
    return [Keras3Callback(c) if is_keras3_object(c) else c for c in callbacks]


def _translate_args(args: dict) -> dict:
    kinds = {"optimizer": "optimizer", "loss": "loss", "metrics": "metric",
             "weighted_metrics": "metric"}
    return {k: to_tf_keras_object(v, kinds[k]) if k in kinds else v for k, v in args.items()}


def _compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None,
             weighted_metrics=None, **kwargs):
    args = dict(optimizer=optimizer, loss=loss, metrics=metrics, loss_weights=loss_weights,
                weighted_metrics=weighted_metrics)
    if any(is_keras3_object(x) for x in _leaves(args)):
        object.__setattr__(self, _STASH, args)
    elif hasattr(self, _STASH):
        object.__delattr__(self, _STASH)
    return type(self).compile(self, **_translate_args(args), **kwargs)


def _leaves(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _leaves(v)
    else:
        yield value


def _with_callbacks(method):
    def run(self, *args, callbacks=None, **kwargs):
        return getattr(type(self), method)(self, *args, callbacks=_callbacks(callbacks),
                                           **kwargs)

    run.__name__ = method
    return run


def accept_keras3(model):
    """Let the tf_keras ``model``'s ``compile``, ``fit``, ``evaluate`` and ``predict`` take
    Keras 3 optimizers, losses, metrics and callbacks (translated; see the module doc).

    Only this model object changes (its methods); its class, config and files do not.

    Example:
        >>> import keras as keras3
        >>> m = tf_keras.Sequential([tf_keras.Input((2,)), tf_keras.layers.Dense(1)])
        >>> m = accept_keras3(m)
        >>> m.compile(keras3.optimizers.SGD(0.1), keras3.losses.MeanSquaredError())
        >>> type(m.optimizer).__module__.split(".")[0]
        'tf_keras'
    """
    object.__setattr__(model, "compile", types.MethodType(_compile, model))
    for method in ("fit", "evaluate", "predict"):
        object.__setattr__(model, method, types.MethodType(_with_callbacks(method), model))
    return model


def has_keras3_compile(model) -> bool:
    """True if the tf_keras ``model`` stands for a Keras 3 compile (see :func:`compile_args`)."""
    return getattr(model, _STASH, None) is not None


def compile_args(model) -> dict | None:
    """The user's compile arguments of a Keras 3 or tf_keras ``model`` (None: not compiled).

    For a tf_keras model compiled with Keras 3 objects through :func:`accept_keras3` (or
    translated from a compiled Keras 3 model), the Keras 3 objects.

    Example:
        >>> m = tf_keras.Sequential([tf_keras.Input((2,)), tf_keras.layers.Dense(1)])
        >>> compile_args(m) is None
        True
    """
    if getattr(model, _STASH, None) is not None:
        return dict(getattr(model, _STASH))
    if is_keras3_object(model):
        if not getattr(model, "compiled", False) or getattr(model, "_compile_config", None) is None:
            return None
        cfg = model._compile_config.config
        return {k: cfg.get(k) for k in _COMPILE_KEYS}
    if not getattr(model, "_is_compiled", False):
        return None
    cfg = model._get_compile_args()
    return {k: cfg.get(k) for k in _COMPILE_KEYS}


def compile_like(target, source) -> None:
    """Compile ``target`` (Keras 3 or tf_keras) as ``source`` is compiled, with fresh objects
    in ``target``'s Keras; nothing happens when ``source`` is not compiled. What cannot be
    translated leaves ``target`` uncompiled, with a warning naming it.

    Example:
        >>> import keras as keras3
        >>> m3 = keras3.Sequential([keras3.Input((2,)), keras3.layers.Dense(1)])
        >>> m3.compile(keras3.optimizers.Adam(0.01), "mse")
        >>> m2 = tf_keras.Sequential([tf_keras.Input((2,)), tf_keras.layers.Dense(1)])
        >>> compile_like(m2, m3)
        >>> m2.loss, round(float(m2.optimizer.learning_rate.numpy()), 4)
        ('mse', 0.01)
    """
    args = compile_args(source)
    if args is None:
        return
    kinds = {"optimizer": "optimizer", "loss": "loss", "metrics": "metric",
             "weighted_metrics": "metric"}
    try:
        if is_keras3_object(target) and is_keras3_object(source):  # a copy: every setting
            target.compile_from_config(source.get_compile_config())
            return
        if is_keras3_object(target):
            new = {k: to_keras3_object(v, kinds[k]) if k in kinds else v
                   for k, v in args.items()}
            target.compile(**new)
            return
        fresh = dict(args)
        if not is_keras3_object(args["optimizer"]) and not isinstance(args["optimizer"], str):
            fresh["optimizer"] = type(args["optimizer"]).from_config(
                args["optimizer"].get_config())
        if any(is_keras3_object(x) for x in _leaves(args)):
            object.__setattr__(target, _STASH, args)
        type(target).compile(target, **_translate_args(fresh))
    except (errors.KerasVersionError, TypeError, ValueError, KeyError) as e:
        warnings.warn(f"The model returned is not compiled: its compile state could not be "
                      f"carried over ({e}). Compile it yourself.", stacklevel=3)
