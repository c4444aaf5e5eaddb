"""Analysis: what a model costs and where it can be pruned (``summary``)."""

from tfprune.analysis.summary import summary

__all__ = ["summary"]
