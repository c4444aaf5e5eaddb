"""The one Keras-compatibility step tfprune takes, and Keras 3 detection.

TF-MOT 0.8.1 works only with tf_keras (Keras 2). Importing tfprune sets
``TF_USE_LEGACY_KERAS=1`` (unless the variable is already set), so that ``tf.keras``
also means tf_keras for the rest of the process -- provided nothing has touched
``tf.keras`` yet (TensorFlow resolves it lazily, once). This is the only
side effect tfprune has at import. Whatever the import order, tfprune itself
always uses ``tf_keras`` explicitly.

Keras 3 models (TensorFlow backend, Sequential or Functional) are translated: public
entry points decorated with :func:`keras3_io` accept them (or a Keras 3 ``.keras`` path),
work on a tf_keras copy and return Keras 3 wherever a plain model is returned
(:func:`to_tf_keras`, :func:`to_keras3`, :func:`load_model`). What cannot be translated is
refused before any work.

Example:
    >>> from tfprune.compat import keras
    >>> keras.__name__
    'tf_keras'
"""

from __future__ import annotations

import os

# Effective as long as nothing has touched ``tf.keras`` yet (TensorFlow resolves it lazily).
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import tf_keras as keras  # noqa: E402

from tfprune import errors  # noqa: E402
from tfprune.compat._detect import is_keras3_object, is_keras3_subclassed  # noqa: E402

__all__ = ["keras", "is_keras3_object", "is_keras3_subclassed", "check_tf_keras_model", "to_tf_keras", "to_keras3",
           "load_model", "keras3_io", "is_from_keras3", "register_counterpart", "compile_like"]

_KERAS3_HINT = (
    "This internal step works on tf_keras models. Public tfprune functions translate Keras 3 "
    "models themselves; here, translate it first with tfprune.compat.to_tf_keras(model), or "
    "build it with `import tf_keras as keras` (pip package tf-keras)."
)


def check_tf_keras_model(model, arg: str = "model") -> None:
    """Raise a clear error unless ``model`` is a Sequential or Functional tf_keras model.

    Example:
        >>> m = keras.Sequential([keras.layers.Dense(2, input_shape=(3,))])
        >>> check_tf_keras_model(m)
    """
    if is_keras3_object(model):
        raise errors.KerasVersionError(
            f"`{arg}` is a Keras 3 model ({type(model).__module__}.{type(model).__name__}). "
            + _KERAS3_HINT
        )
    if not isinstance(model, keras.Model):
        raise errors.ModelTypeError(
            f"`{arg}` must be a tf_keras.Model, got {type(model).__name__}."
        )
    if not (isinstance(model, keras.Sequential) or getattr(model, "_is_graph_network", False)):
        raise errors.ModelTypeError(
            f"`{arg}` is a subclassed model ({type(model).__name__}); tfprune supports "
            "Sequential and Functional tf_keras models, because it must rebuild the layer "
            "graph. Rebuild it with keras.Sequential([...]) or keras.Model(inputs, outputs), "
            "or prune its layers individually with tfprune.wrap_layer(...) (tfprune.prune, "
            "one_shot and strip accept subclassed models at weight, n:m and block granularity)."
        )
    if not model.built:
        raise errors.ModelTypeError(
            f"`{arg}` is not built yet. Give the first layer an input_shape or call "
            f"{arg}.build(input_shape) before pruning."
        )


from tfprune.compat._counterparts import register_counterpart  # noqa: E402
from tfprune.compat._io import is_from_keras3, keras3_io, load_model  # noqa: E402
from tfprune.compat._reverse import to_keras3  # noqa: E402
from tfprune.compat._training import compile_like  # noqa: E402
from tfprune.compat._translate import to_tf_keras  # noqa: E402
