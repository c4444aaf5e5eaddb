"""Model files read as data before anything in them runs: is it a model file at all (not
garbage, truncated, weights only), and does it carry Python code (a ``Lambda`` layer holding a
``lambda``, as marshalled bytecode) that loading would run?

The config is read as JSON (an .h5 file's ``model_config`` attribute, a .keras archive's
``config.json``, a SavedModel's ``keras_metadata.pb`` and saved object graph); nothing is
deserialised. :func:`tfprune.compat.load_model` calls :func:`check_model_file` first.

Example:
    >>> _code_in_config({"class_name": "Lambda", "config": {"name": "f", "function_type": "lambda"}})
    [('f', 'Lambda', 'a Python lambda')]
"""

from __future__ import annotations

import json
import os
import zipfile

from tfprune import errors

__all__ = ["check_model_file", "refuse_code"]

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


def refuse_code(path) -> None:
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
