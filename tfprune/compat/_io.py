"""Keras 3 in, Keras 3 out: the ``keras3_io`` decorator, ``load_model`` and the origin flag.

A Keras 3 model (or a Keras 3 ``.keras`` file) given to a decorated public function is
translated to tf_keras first; a plain model the function returns goes back to Keras 3. A
wrapped (pruned, not yet stripped) model stays tf_keras -- it is for training -- and remembers
that it came from Keras 3, so that ``strip`` of it returns Keras 3.

Example:
    >>> import keras as keras3
    >>> @keras3_io(returns="model")
    ... def identity(model):
    ...     return model
    >>> m3 = keras3.Sequential([keras3.Input((3,)), keras3.layers.Dense(2, name="d")])
    >>> type(identity(m3)).__module__.startswith("keras.")
    True
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import threading
import warnings
import zipfile

from tfprune import errors
from tfprune.compat import _reverse, _training, _translate
from tfprune.compat._detect import is_keras3_object, is_keras3_subclassed
from tfprune.compat._files import check_model_file, refuse_code
from tfprune.compat._models import walk

__all__ = ["keras3_io", "load_model", "check_model_file", "is_from_keras3", "mark_from_keras3"]

_FLAG = "_tfprune_from_keras3"
_RETURNS = ("model", "record", None)
_MODEL_FILES = (".keras", ".h5", ".hdf5")
_CARRIED = ("shrink_report",)  # attributes of a returned model kept on its Keras 3 copy
_DEPTH = threading.local()  # only the outermost decorated call translates


def is_from_keras3(model) -> bool:
    """True if the tf_keras ``model`` was translated from a Keras 3 model by tfprune.

    Example:
        >>> import tf_keras
        >>> is_from_keras3(tf_keras.Sequential([tf_keras.Input((2,)), tf_keras.layers.Dense(1)]))
        False
    """
    return bool(getattr(model, _FLAG, False))


def mark_from_keras3(model):
    """Flag the tf_keras ``model`` as coming from Keras 3 (``strip`` then returns Keras 3)."""
    object.__setattr__(model, _FLAG, True)
    return model


def is_keras3_file(path) -> bool:
    """True if ``path`` is a ``.keras`` archive written by Keras 3 (not tf_keras)."""
    path = os.fspath(path)
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        try:
            meta = json.loads(z.read("metadata.json"))
        except KeyError:
            return False
    return str(meta.get("keras_version", "")).split(".")[0] == "3"


def load_model(path, *, safe_mode: bool = True):
    """Load a model file as tf_keras: ``(model, from_keras3)``.

    Accepts a Keras 3 ``.keras`` file (translated to tf_keras, compiled as saved: optimizer,
    losses and metrics carried over) and tf_keras ``.keras``, ``.h5`` or SavedModel files
    (compiled as saved too; tfprune's and TF-MOT's wrapper classes known). The file is only
    read.
    It is checked first (:func:`check_model_file`): a file that is no model, is damaged, or
    carries Python code (a ``Lambda`` layer holding a ``lambda``, in any format) is refused
    unless ``safe_mode=False``.

    Args:
        path: a file or SavedModel directory.
        safe_mode: ``False`` allows Python code in the file (it runs while loading): only for
            files whose author you trust.

    Returns:
        ``(tf_keras_model, from_keras3)``; ``from_keras3`` is True for a Keras 3 file.

    Raises:
        ConfigError: the path does not exist, is not a model file, is damaged, carries code.

    Example:
        >>> import os, tempfile, keras as keras3
        >>> p = os.path.join(tempfile.mkdtemp(), "m.keras")
        >>> keras3.Sequential([keras3.Input((3,)), keras3.layers.Dense(2)]).save(p)
        >>> m, from_keras3 = load_model(p)
        >>> type(m).__module__.split(".")[0], from_keras3
        ('tf_keras', True)
    """
    path = os.fspath(path)
    check_model_file(path, safe_mode=safe_mode)
    try:
        if is_keras3_file(path):
            return mark_from_keras3(_translate.to_tf_keras(_load_keras3(path, safe_mode))), True
        import tensorflow_model_optimization as tfmot
        import tf_keras
        from tf_keras.src.saving import serialization_lib

        # tfprune's wrapper classes are registered: importing any tfprune module runs
        # tfprune/__init__.py, which imports tfprune.masking.
        # Keras' own lambda check, in every format (it covers .keras files only by default)
        with tfmot.sparsity.keras.prune_scope(), serialization_lib.SafeModeScope(safe_mode):
            kwargs = {"safe_mode": safe_mode} if path.endswith(".keras") else {}
            model = _load_tf_keras(tf_keras, path, kwargs)
    except errors.TfpruneError:
        raise
    except Exception as exc:  # noqa: BLE001  (h5py, zip, protobuf and Keras errors alike)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise errors.ConfigError(
            f"Model file {path!r} could not be loaded as a Keras model ({type(exc).__name__}: "
            f"{first}). Give a complete .keras/.h5 file or SavedModel folder (re-save it with "
            "model.save); a model with custom layers needs them registered "
            "(keras.saving.register_keras_serializable) and imported.") from None
    return model, False


def _load_keras3(path, safe_mode):
    """The Keras 3 model in ``path``, compiled as saved when it can be (its translation
    carries the compile state; see :func:`_compiled_else_plain`)."""
    import keras

    # the translation gets a fresh optimizer anyway
    return _compiled_else_plain(
        path, lambda compile: keras.saving.load_model(path, compile=compile, safe_mode=safe_mode),
        quiet="Skipping variable loading for optimizer")


def _load_tf_keras(tf_keras, path, kwargs):
    """The tf_keras model in ``path``, compiled as saved when it can be (loss, metrics,
    loss weights: what the user measures by; see :func:`_compiled_else_plain`)."""
    return _compiled_else_plain(
        path, lambda compile: tf_keras.models.load_model(path, compile=compile, **kwargs),
        quiet="No training configuration found")


def _compiled_else_plain(path, load, quiet):
    """``load(compile=True)``; a compile state the loader cannot rebuild (an unregistered
    custom loss) gives ``load(compile=False)`` instead, with a warning that names the
    reason (``quiet``: a loader warning that means nothing here)."""
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", quiet)
            return load(True)
    except Exception as exc:  # noqa: BLE001  (retried without the compile state below)
        model = load(False)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        warnings.warn(f"Model file {path!r} was loaded uncompiled: its compile state could not "
                      f"be restored ({type(exc).__name__}: {first}). Register the custom "
                      "objects (keras.saving.register_keras_serializable) and import them "
                      "before loading, or compile the model yourself.", stacklevel=4)
        return model


def _is_wrapped(model) -> bool:
    from tensorflow_model_optimization.python.core.sparsity.keras import pruning_wrapper

    wrapper = pruning_wrapper.PruneLowMagnitude
    return any(isinstance(layer, wrapper) for layer in walk(model))


def _inbound(model, own_paths=False):
    """``(tf_keras_model_or_original, from_keras3)`` for the first argument of an entry point."""
    if isinstance(model, (str, os.PathLike)) and os.path.exists(model) and is_keras3_file(model):
        return load_model(model)
    if own_paths and isinstance(model, (str, os.PathLike)):
        refuse_code(model)  # safe mode: nothing in the file runs before the function
        return model, False  # the function loads (and checks) tf_keras files itself
    if isinstance(model, (str, os.PathLike)) and str(model).lower().endswith(_MODEL_FILES):
        return load_model(model)  # a tf_keras file, or ConfigError naming a missing path
    if own_paths and is_keras3_subclassed(model):
        return model, True  # the exports convert its call (tfprune.export.keras3_call)
    if is_keras3_object(model):
        return mark_from_keras3(_translate.to_tf_keras(model)), True
    return model, is_from_keras3(model)


def _outbound(result, source=None):
    """A returned tf_keras model for a Keras 3 caller: compiled like ``source`` (the
    translated input) when the user compiled that with Keras 3 objects or the result is not
    compiled; Keras 3 unless it holds pruning wrappers
    (then it stays tf_keras, for training, and takes Keras 3 objects in compile/fit)."""
    import tf_keras

    if not isinstance(result, tf_keras.Model):
        return result
    if source is not None and source is not result and (
            _training.compile_args(result) is None or _training.has_keras3_compile(source)):
        _training.compile_like(result, source)
    if _is_wrapped(result):
        return _training.accept_keras3(mark_from_keras3(result))
    out = _reverse.to_keras3(result)
    for name in _CARRIED:  # what tfprune attached to the tf_keras result (shrink's report)
        if hasattr(result, name):
            object.__setattr__(out, name, getattr(result, name))
    return out


def _is_new_uncompiled_tf_keras(result, source) -> bool:
    import tf_keras

    return (isinstance(result, tf_keras.Model) and isinstance(source, tf_keras.Model)
            and result is not source and _training.compile_args(result) is None)


def keras3_io(returns: str | None = None, own_paths: bool = False):
    """Decorate a public function taking a model first so that it accepts Keras 3 models.

    The first argument (positional, or ``model=``) may be a Keras 3 Sequential/Functional
    model or the path of a Keras 3 ``.keras`` file: it is checked (refused before any work
    if it cannot be translated), translated to tf_keras and passed on. With
    ``returns="model"`` a returned tf_keras model goes back to Keras 3 when the input came
    from Keras 3 (a wrapped model stays tf_keras and is flagged, see :func:`is_from_keras3`),
    compiled like the input. ``"record"``: a dataclass result's ``model`` field goes back
    the same way; ``None`` leaves the result alone. A tf_keras file path is loaded too,
    unless ``own_paths=True`` (the function loads and checks such paths itself: the exports);
    then a subclassed Keras 3 model is passed on as it is too (the exports convert its call).

    Example:
        >>> @keras3_io()
        ... def n_layers(model):
        ...     return len(model.layers)
        >>> import keras as keras3
        >>> n_layers(keras3.Sequential([keras3.Input((3,)), keras3.layers.Dense(2)]))
        1
    """
    if returns not in _RETURNS:
        raise errors.unknown_name("returns", returns, [r for r in _RETURNS if r])

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if getattr(_DEPTH, "n", 0):
                return fn(*args, **kwargs)
            _DEPTH.n = 1
            try:
                return _call(fn, returns, args, kwargs, own_paths)
            finally:
                _DEPTH.n = 0

        wrapper.__tfprune_keras3_io__ = returns
        return wrapper

    return decorate


def _call(fn, returns, args, kwargs, own_paths=False):
    if args:
        first, from3 = _inbound(args[0], own_paths)
        args = (first, *args[1:])
    elif "model" in kwargs:
        kwargs["model"], from3 = _inbound(kwargs["model"], own_paths)
        first = kwargs["model"]
    else:
        first, from3 = None, False
    result = fn(*args, **kwargs)
    if returns == "model" and from3:
        return _outbound(result, first)
    if returns == "model" and _is_new_uncompiled_tf_keras(result, first):
        _training.compile_like(result, first)  # a compiled tf_keras model stays compiled
    if returns == "record" and from3 and dataclasses.is_dataclass(result) and any(
            f.name == "model" for f in dataclasses.fields(result)):
        return dataclasses.replace(result, model=_outbound(result.model, first))
    return result
