"""tfprune: pruning for Keras models, built on TF-MOT.

Importing tfprune sets ``TF_USE_LEGACY_KERAS=1`` (unless already set)
(see :mod:`tfprune.compat`); that is its only side effect.

Example:
    >>> import tfprune
    >>> from tfprune.compat import keras
    >>> m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    >>> tfprune.strip(tfprune.one_shot(m, 0.5)).count_params()
    15
"""

__version__ = "0.2.0"

# isort: off
from tfprune import compat  # noqa: E402  (first: the one documented Keras-compat step)
from tfprune import errors, core  # noqa: E402
from tfprune.core import criteria, masks, schedules  # noqa: E402
from tfprune import layers, graph, masking, structured, callbacks, analysis, export  # noqa: E402
# isort: on
from tfprune.analysis import summary  # noqa: E402
from tfprune.callbacks import PruningCallback, before_step  # noqa: E402
from tfprune.layers import register  # noqa: E402
from tfprune.masking import PruningWrapper, one_shot, prune, strip  # noqa: E402
from tfprune.structured import drop_blocks, shrink  # noqa: E402

__all__ = [
    "__version__",
    "PruningCallback",
    "PruningWrapper",
    "analysis",
    "before_step",
    "callbacks",
    "compat",
    "core",
    "criteria",
    "drop_blocks",
    "errors",
    "export",
    "graph",
    "layers",
    "masking",
    "masks",
    "one_shot",
    "prune",
    "register",
    "schedules",
    "shrink",
    "structured",
    "strip",
    "summary",
]
