"""Keras callbacks that drive pruning in ``model.fit`` (thin: they delegate to the pruner).

* :class:`PruningCallback` (+ :func:`before_step` for custom loops): steps and mask updates;
* :class:`AccuracyGuard`: dynamic, accuracy-guarded sparsity;
* :class:`LotteryTicket`: iterative pruning with weight rewinding;
* :class:`RigL` / :class:`SET`: prune-and-regrow at constant sparsity;
* :func:`distill` (:class:`Distiller`): fine-tune with the dense model as teacher;
"""

from tfprune.callbacks.guard import AccuracyGuard  # noqa: I001
from tfprune.callbacks.distill import Distiller, distill
from tfprune.callbacks.lottery import LotteryTicket
from tfprune.callbacks.pruning import PruningCallback, before_step
from tfprune.callbacks.rigl import SET, RigL

__all__ = ["PruningCallback", "before_step", "AccuracyGuard", "LotteryTicket",
           "RigL", "SET", "Distiller", "distill"]
