"""Sweeps over pruning settings on keras-tuner's engine, and their Pareto sets.

:class:`PruningTuner` (a keras-tuner ``BaseTuner``) runs trials of the tfprune path
(prune, fine-tune, strip/shrink, measure); :meth:`PruningTuner.pareto` and
:meth:`PruningTuner.plot_pareto` give the quality/cost trade-offs. Sweeps resume from
their directory and run distributed with keras-tuner's chief/worker mode. While a sweep
runs it prints one line per trial and, at the end, every trial in a table
(:mod:`tfprune.tuning.progress`, :meth:`PruningTuner.trials`). A trial may fine-tune with
the dense model as teacher (``{"distill": [False, True]}`` in the space).

Example:
    >>> from tfprune import tuning
    >>> tuning.measure.direction("latency_ms")
    'min'
"""

from tfprune.tuning import hparams, measure, pareto, progress, space, trial  # noqa: I001
from tfprune.tuning import sweep
from tfprune.tuning.pareto import Table
from tfprune.tuning.sweep import ORACLES, SweepError, SweepOptions, load_results
from tfprune.tuning.tuner import PruningTuner

__all__ = ["PruningTuner", "SweepOptions", "SweepError", "ORACLES", "Table", "load_results",
           "hparams", "measure", "pareto", "progress", "space", "sweep", "trial"]
