"""tfprune: pruning for tf_keras models, built on TF-MOT.

Importing tfprune sets ``TF_USE_LEGACY_KERAS=1`` (unless already set)
(see :mod:`tfprune.compat`); that is its only side effect.

Example:
    >>> import tfprune
    >>> from tfprune.compat import keras
    >>> m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    >>> tfprune.strip(tfprune.one_shot(m, 0.5)).count_params()
    15
"""

__version__ = "0.1.0"

# isort: off
from tfprune import compat  # noqa: E402  (first: the one documented Keras-compat step)
from tfprune import callbacks, criteria, errors, export, graph, masks, pruner  # noqa: E402
from tfprune import schedules, stats, structured  # noqa: E402
# isort: on
from tfprune.analysis import summary  # noqa: E402
from tfprune.callbacks import ChannelPruning, PruningCallback, before_step, training_begin  # noqa: E402
from tfprune.layers import register  # noqa: E402
from tfprune.pruning import one_shot, prune, strip  # noqa: E402
from tfprune.structured import drop_blocks, shrink  # noqa: E402
from tfprune.wrapper import PruningWrapper  # noqa: E402

__all__ = [
    "__version__",
    "ChannelPruning",
    "PruningCallback",
    "PruningWrapper",
    "before_step",
    "callbacks",
    "compat",
    "criteria",
    "drop_blocks",
    "errors",
    "export",
    "graph",
    "masks",
    "one_shot",
    "prune",
    "pruner",
    "register",
    "schedules",
    "shrink",
    "stats",
    "structured",
    "strip",
    "summary",
    "training_begin",
]
