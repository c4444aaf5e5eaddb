"""tfprune: pruning for Keras models, built on TF-MOT.

Importing tfprune sets ``TF_USE_LEGACY_KERAS=1`` (unless already set)
(see :mod:`tfprune.compat`); that is its only side effect. (When the process is the
``tfprune`` command-line program, TensorFlow's C++ start-up lines are also hidden, unless
``--verbose``; in Python, :func:`tfprune.quiet` is the one switch for that.)

Example:
    >>> import tfprune
    >>> from tfprune.compat import keras
    >>> m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    >>> tfprune.strip(tfprune.one_shot(m, 0.5)).count_params()
    15
"""

__version__ = "0.2.0"

# isort: off
import os as _os  # noqa: E402
import sys as _sys  # noqa: E402

from tfprune import logs  # noqa: E402  (stdlib only; must run before TensorFlow loads)

if _sys.argv and _os.path.basename(_sys.argv[0]) == "tfprune" and "--verbose" not in _sys.argv:
    logs.quiet()  # the CLI program: TensorFlow's C++ start-up lines stay in a private log
quiet = logs.quiet
from tfprune import compat  # noqa: E402  (first: the one documented Keras-compat step)
from tfprune import errors, core  # noqa: E402
from tfprune.core import criteria, masks, schedules  # noqa: E402
from tfprune import layers, graph, masking, structured, callbacks, analysis, export  # noqa: E402
from tfprune import quantization  # noqa: E402
# isort: on
from tfprune.analysis import allocate, sensitivity, summary, to_budget  # noqa: E402
from tfprune.callbacks import PruningCallback, before_step, distill  # noqa: E402
from tfprune.core.criteria.granularity import Granularity  # noqa: E402
from tfprune.layers import register  # noqa: E402
from tfprune.masking import Calibration, PruningWrapper, one_shot, prune, strip  # noqa: E402
from tfprune.quantization import quantize_aware  # noqa: E402
from tfprune.structured import drop_blocks, shrink  # noqa: E402


def load_model(path, *, safe_mode=True):
    """The model saved at ``path`` as a model tfprune takes.

    A file carrying Python code (a ``Lambda`` layer holding a ``lambda``, in .keras, .h5 or
    SavedModel form) is refused unless ``safe_mode=False`` (the code runs while loading: only
    for files whose author you trust); a damaged or non-model file is refused naming it.

    A Keras 3 ``.keras`` file comes back as a tf_keras copy marked as from Keras 3, so
    ``strip``/``shrink`` return Keras 3 again; tf_keras ``.keras``/``.h5``/SavedModel files load
    as they are (pruned ones included). :func:`tfprune.compat.load_model` also says whether
    the file was Keras 3.

    Example:
        >>> import os, tempfile, keras as keras3
        >>> path = os.path.join(tempfile.mkdtemp(), "m.keras")
        >>> keras3.Sequential([keras3.Input((3,)), keras3.layers.Dense(2)]).save(path)
        >>> load_model(path).output_shape
        (None, 2)
    """
    return compat.load_model(path, safe_mode=safe_mode)[0]


def __getattr__(name):
    """``tfprune.tuning`` is imported on first use (keras-tuner imports Keras 3: slow)."""
    if name == "tuning":
        import importlib

        return importlib.import_module("tfprune.tuning")
    raise AttributeError(f"module 'tfprune' has no attribute {name!r}")


__all__ = [
    "__version__",
    "allocate",
    "analysis",
    "before_step",
    "Calibration",
    "callbacks",
    "compat",
    "core",
    "criteria",
    "distill",
    "drop_blocks",
    "errors",
    "export",
    "graph",
    "Granularity",
    "layers",
    "load_model",
    "masking",
    "masks",
    "one_shot",
    "prune",
    "PruningCallback",
    "PruningWrapper",
    "logs",
    "quantization",
    "quantize_aware",
    "quiet",
    "register",
    "schedules",
    "sensitivity",
    "shrink",
    "strip",
    "structured",
    "summary",
    "to_budget",
    "tuning",
]
