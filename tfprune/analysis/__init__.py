"""Analysis: what a model costs and where it can be pruned (``summary``), how sensitive
each layer or group is (``sensitivity``), per-unit sparsities for a target (``allocate``)
and pruning to a measured budget (``to_budget``)."""

from tfprune.analysis.allocate import Allocation, allocate
from tfprune.analysis.budget import BudgetResult, to_budget
from tfprune.analysis.sensitivity import SensitivityResult, sensitivity
from tfprune.analysis.summary import summary

__all__ = ["summary", "sensitivity", "SensitivityResult", "allocate", "Allocation", "to_budget",
           "BudgetResult"]
