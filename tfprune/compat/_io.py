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

import functools
import json
import os
import threading
import zipfile

from tfprune import errors
from tfprune.compat import _reverse, _translate

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


def _is_keras3(obj) -> bool:
    from tfprune import compat

    return compat.is_keras3_object(obj)


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


_HDF5_HINT = ("Save the model again (model.save('model.keras')) and check that the copy is "
              "complete")
_CODE_KEYS = ("function_type", "output_shape_type")  # tf_keras Lambda: "lambda" = bytecode


def _code_in_config(node, layer=None, klass=None, found=None) -> list:
    """``[(layer_name, class_name, what)]`` for every Python lambda (marshalled bytecode) in a
    Keras config tree, read as JSON: nothing is deserialised."""
    found = [] if found is None else found
    if isinstance(node, dict):
        if node.get("class_name") == "__lambda__":  # Keras 3 / .keras format
            found.append((layer, klass, "a Python lambda"))
            return found
        cfg = node.get("config")
        if isinstance(node.get("class_name"), str) and isinstance(cfg, dict):
            layer = cfg.get("name", node.get("name", layer))
            klass = node["class_name"]
        for key in _CODE_KEYS:
            if node.get(key) == "lambda":
                what = "a Python lambda" if key == "function_type" else "a Python lambda as " \
                    "output_shape"
                found.append((layer, klass, what))
        for value in node.values():
            _code_in_config(value, layer, klass, found)
    elif isinstance(node, list):
        for value in node:
            _code_in_config(value, layer, klass, found)
    return found


def _json(text, path, where):
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        raise errors.ConfigError(f"Model file {path!r} could not be loaded: its {where} is not "
                                 f"valid JSON (a damaged file?). {_HDF5_HINT}.") from None


def _h5_config(path):
    import h5py

    try:
        with h5py.File(path, "r") as f:
            text = f.attrs.get("model_config")
    except OSError as exc:  # truncated or damaged HDF5
        first = str(exc).splitlines()[0][:200]
        raise errors.ConfigError(f"Model file {path!r} could not be loaded: it is damaged or "
                                 f"truncated (h5py: {first}). {_HDF5_HINT}.") from None
    if text is None:
        raise errors.ConfigError(f"Model file {path!r} could not be loaded: it holds no "
                                 "model_config (a weights-only .h5 file, model.save_weights), "
                                 "not a model. Save the whole model with model.save("
                                 "'model.keras'), or build the model and call "
                                 "model.load_weights(path).")
    return [_json(text, path, "model_config attribute")]


def _keras_config(path):
    try:
        with zipfile.ZipFile(path) as z:
            return [_json(z.read("config.json"), path, "config.json")]
    except KeyError:
        raise errors.ConfigError(f"Model file {path!r} could not be loaded: it is a zip archive "
                                 "without config.json, not a .keras model file.") from None
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise errors.ConfigError(f"Model file {path!r} could not be loaded: it is damaged or "
                                 f"truncated (zip: {exc}). {_HDF5_HINT}.") from None


def _savedmodel_configs(path):
    """The Keras metadata of a SavedModel folder: keras_metadata.pb, or (older files) the
    user objects of the saved object graph."""
    from google.protobuf import message
    from tensorflow.core.protobuf import saved_model_pb2
    from tf_keras.protobuf import saved_metadata_pb2

    texts = []
    try:
        meta = os.path.join(path, "keras_metadata.pb")
        if os.path.isfile(meta):
            pb = saved_metadata_pb2.SavedMetadata()
            with open(meta, "rb") as f:
                pb.ParseFromString(f.read())
            texts += [n.metadata for n in pb.nodes]
        sm = saved_model_pb2.SavedModel()
        with open(os.path.join(path, "saved_model.pb"), "rb") as f:
            sm.ParseFromString(f.read())
        for graph in sm.meta_graphs:
            texts += [n.user_object.metadata for n in graph.object_graph_def.nodes
                      if n.WhichOneof("kind") == "user_object" and n.user_object.metadata]
    except (OSError, message.DecodeError) as exc:
        raise errors.ConfigError(f"SavedModel folder {path!r} could not be loaded: it is damaged "
                                 f"({exc}). {_HDF5_HINT}.") from None
    return [_json(t, path, "Keras metadata") for t in texts if t]


def _configs(path) -> list:
    """The config trees of a model file, read without deserialising anything; refuses files
    that are no model file at all (garbage, truncated) naming the file."""
    if os.path.isdir(path):
        if not os.path.isfile(os.path.join(path, "saved_model.pb")):
            raise errors.ConfigError(f"Model {path!r} could not be loaded: it is a folder without "
                                     "saved_model.pb, not a SavedModel. Give a .keras/.h5 file "
                                     "or a SavedModel folder.")
        return _savedmodel_configs(path)
    import h5py

    if zipfile.is_zipfile(path):
        return _keras_config(path)
    if h5py.is_hdf5(path):
        return _h5_config(path)
    with open(path, "rb") as f:
        head = f.read(8)
    kind = "empty" if not head else f"starts with {head!r}"
    raise errors.ConfigError(f"Model file {path!r} could not be loaded: it is not a model file "
                             f"({kind}), neither a .keras archive (zip), an HDF5 .h5 file nor a "
                             f"SavedModel folder. {_HDF5_HINT}.")


def check_model_file(path, *, safe_mode: bool = True) -> None:
    """Refuse a model file that is not a model (garbage, truncated, weights only) or that
    carries Python code (a ``Lambda`` layer holding a ``lambda``), before anything in it runs.

    The check reads the file's config as JSON (the ``model_config`` attribute of an .h5 file,
    ``config.json`` of a .keras archive, ``keras_metadata.pb`` and the saved object graph of a
    SavedModel folder) and never deserialises it. Python bytecode in a model file runs when
    the file is loaded (Keras' ``safe_mode`` refuses it in .keras files only); a Lambda layer
    naming a registered function carries no code and is accepted.

    Args:
        path: a .keras/.h5 file or a SavedModel folder.
        safe_mode: ``False`` skips the code check (only for files whose author you trust).

    Raises:
        ConfigError: the file is missing, not a model, damaged, or carries code (naming the
            layers, ``safe_mode=False`` and ``--unsafe``).

    Example:
        >>> import os, tempfile
        >>> p = os.path.join(tempfile.mkdtemp(), "junk.h5")
        >>> _ = open(p, "wb").write(b"not a model")
        >>> check_model_file(p)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tfprune.errors.ConfigError: Model file '...junk.h5' could not be loaded: it is not a model file ...
    """
    path = os.fspath(path)
    if "\0" in path:
        raise errors.ConfigError(f"Model path {path!r} holds a NUL byte; give a real path.")
    if not os.path.exists(path):
        raise errors.ConfigError(f"Model file {path!r} does not exist. Pass a model object "
                                 "or the path of a saved .keras/.h5 file or SavedModel.")
    found = [c for tree in _configs(path) for c in _code_in_config(tree)]
    if safe_mode and found:
        raise _code_error(path, found)


def _code_error(path, found) -> errors.ConfigError:
    seen = list(dict.fromkeys(found))
    layers = ", ".join(f"{name!r} ({klass}: {what})" for name, klass, what in seen[:5])
    return errors.ConfigError(
        f"Model file {path!r} carries Python code that would run when it is loaded: layer "
        f"{layers}. Refused (safe mode). If you trust the file's author, load it with "
        "tfprune.load_model(path, safe_mode=False) or the CLI's --unsafe option; otherwise "
        "rebuild the model without Lambda layers holding lambdas (a registered layer class "
        "or function).")


def _refuse_code(path) -> None:
    """Refuse a code-carrying model file given as a path to a function that loads it itself;
    other problems of the file are left to that function's loader to report."""
    path = os.fspath(path)
    if "\0" in path or not os.path.exists(path):
        return
    try:
        trees = _configs(path)
    except errors.ConfigError:
        return
    found = [c for tree in trees for c in _code_in_config(tree)]
    if found:
        raise _code_error(path, found)


def load_model(path, *, safe_mode: bool = True):
    """Load a model file as tf_keras: ``(model, from_keras3)``.

    Accepts a Keras 3 ``.keras`` file (translated to tf_keras) and tf_keras ``.keras``, ``.h5``
    or SavedModel files (tfprune's and TF-MOT's wrapper classes known). The file is only read.
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
            import keras

            model = keras.saving.load_model(path, compile=False, safe_mode=safe_mode)
            return mark_from_keras3(_translate.to_tf_keras(model)), True
        import tensorflow_model_optimization as tfmot
        import tf_keras
        from tf_keras.src.saving import serialization_lib

        from tfprune import masking  # noqa: F401  (registers tfprune's wrapper classes)

        # Keras' own lambda check, in every format (it covers .keras files only by default)
        with tfmot.sparsity.keras.prune_scope(), serialization_lib.SafeModeScope(safe_mode):
            kwargs = {"safe_mode": safe_mode} if path.endswith(".keras") else {}
            model = tf_keras.models.load_model(path, compile=False, **kwargs)
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


def _is_wrapped(model) -> bool:
    from tensorflow_model_optimization.python.core.sparsity.keras import pruning_wrapper

    wrapper = pruning_wrapper.PruneLowMagnitude
    return any(isinstance(layer, wrapper) for layer in _translate._walk(model))


def _inbound(model, own_paths=False):
    """``(tf_keras_model_or_original, from_keras3)`` for the first argument of an entry point."""
    if isinstance(model, (str, os.PathLike)) and os.path.exists(model) and is_keras3_file(model):
        return load_model(model)
    if own_paths and isinstance(model, (str, os.PathLike)):
        _refuse_code(model)  # safe mode: nothing in the file runs before the function
        return model, False  # the function loads (and checks) tf_keras files itself
    if isinstance(model, (str, os.PathLike)) and str(model).lower().endswith(_MODEL_FILES):
        return load_model(model)  # a tf_keras file, or ConfigError naming a missing path
    if _is_keras3(model):
        return mark_from_keras3(_translate.to_tf_keras(model)), True
    return model, is_from_keras3(model)


def _outbound(result):
    import tf_keras

    if not isinstance(result, tf_keras.Model):
        return result
    if _is_wrapped(result):
        return mark_from_keras3(result)
    out = _reverse.to_keras3(result)
    for name in _CARRIED:  # what tfprune attached to the tf_keras result (shrink's report)
        if hasattr(result, name):
            object.__setattr__(out, name, getattr(result, name))
    return out


def keras3_io(returns: str | None = None, own_paths: bool = False):
    """Decorate a public function taking a model first so that it accepts Keras 3 models.

    The first argument (positional, or ``model=``) may be a Keras 3 Sequential/Functional
    model or the path of a Keras 3 ``.keras`` file: it is checked (refused before any work
    if it cannot be translated), translated to tf_keras and passed on. With
    ``returns="model"`` a returned tf_keras model goes back to Keras 3 when the input came
    from Keras 3 (a wrapped model stays tf_keras and is flagged, see :func:`is_from_keras3`).
    ``"record"`` and ``None`` leave the result alone. A tf_keras file path is loaded too,
    unless ``own_paths=True`` (the function loads and checks such paths itself: the exports).

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
    else:
        from3 = False
    result = fn(*args, **kwargs)
    if returns == "model" and from3:
        return _outbound(result)
    return result
