"""Analysis: what a model costs and where it can be pruned (``summary``), how sensitive
each layer or group is (``sensitivity``), per-unit sparsities for a target (``allocate``),
pruning to a measured budget (``to_budget``) and the least-squares refit of consumers of
removed channels (``compensate``)."""

from tfprune.analysis.allocate import OWL, Allocation, allocate
from tfprune.analysis.budget import BudgetResult, to_budget
from tfprune.analysis.compensate import compensate
from tfprune.analysis.sensitivity import (
                                          SensitivityOptions,
                                          SensitivityResult,
                                          channel_loss_delta,
                                          sensitivity,
)
from tfprune.analysis.summary import summary

__all__ = ["summary", "sensitivity", "SensitivityOptions", "SensitivityResult",
           "channel_loss_delta", "allocate", "Allocation", "OWL", "to_budget", "BudgetResult",
           "compensate"]
