"""Masking glue: the wrapper (variables, in-graph masks, statistics), the pruner (scopes,
budgets, mask updates) and the model-level API (``prune``, ``one_shot``, ``strip``)."""

from tfprune.masking import stats  # noqa: I001
from tfprune.masking import wrapper
from tfprune.masking import pruner
from tfprune.masking import api
from tfprune.masking.api import one_shot, prune, strip
from tfprune.masking.arguments import Calibration
from tfprune.masking.wrapper import PruningWrapper

__all__ = ["api", "pruner", "stats", "wrapper", "Calibration", "PruningWrapper", "one_shot", "prune",
           "strip"]
