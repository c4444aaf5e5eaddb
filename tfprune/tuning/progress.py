"""What a sweep says while it runs: one line per trial, and a table of every trial at the end.

While a trial runs, a tqdm bar (on stderr, cleared afterwards) names it; when it ends, one
line is written on stdout: ``trial k/N``, its hyperparameters, then its objective values
(or ``failed: <error>``) and its wall time. :func:`table` is the closing summary: one row
per trial with its hyperparameters, measured objectives and status (``pareto``, ``ok`` or
``failed: <reason>``).

Example:
    >>> p = TrialProgress(2, ["val_accuracy", "macs"], bar=False)
    >>> p.begin("0", {"sparsity": 0.5, "distill": True})
    >>> p.end("0", {"sparsity": 0.5, "distill": True}, {"val_accuracy": 0.91234, "macs": 1200.0},
    ...       seconds=2.04)
    trial 1/2  sparsity=0.5 distill=True  ->  val_accuracy=0.9123 macs=1200  (2.0 s)
"""

from __future__ import annotations

import sys
import time

from tqdm.auto import tqdm

from tfprune.tuning import pareto as pareto_lib

__all__ = ["TrialProgress", "short", "table", "heading"]


def short(values: dict) -> str:
    """Hyperparameters in short form: ``name=value`` separated by spaces (numbers to 4
    significant digits; unused ones, ``None``, left out).

    Example:
        >>> short({"sparsity": 0.7500001, "granularity": "channel"})
        'sparsity=0.75 granularity=channel'
    """
    return " ".join(f"{k}={pareto_lib.format_value(v)}" for k, v in values.items()
                    if v is not None)


def _number(trial_id, total) -> str:
    tid = str(trial_id)
    k = str(int(tid) + 1) if tid.isdigit() else tid
    return f"{k}/{total if total else '?'}"


class TrialProgress:
    """Reports trials as they begin and end (see the module docstring).

    Args:
        total: trials the sweep will run (``None``: unknown, e.g. Hyperband).
        objectives: measure names shown for a finished trial.
        bar: show a tqdm bar naming the running trial (stderr).
        quiet: print nothing (no bar, no lines).

    Finished-trial lines go to stdout through ``tqdm.write`` (which keeps the bar intact).
    """

    def __init__(self, total, objectives, *, bar: bool = True, quiet: bool = False):
        self.total = total
        self.objectives = list(objectives)
        self.quiet = quiet
        self._start = {}
        self._bar = tqdm(total=total, unit="trial", leave=False, file=sys.stderr,
                         dynamic_ncols=True, disable=not bar or quiet)

    def begin(self, trial_id, values: dict) -> None:
        """A trial starts: the bar names it."""
        self._start[str(trial_id)] = time.perf_counter()
        self._bar.set_description_str(f"trial {_number(trial_id, self.total)} {short(values)}")

    def end(self, trial_id, values: dict, measures: dict, *, reason=None, seconds=None) -> None:
        """A trial ended: one line with its objectives (or ``failed: reason``) and time."""
        if seconds is None:
            seconds = time.perf_counter() - self._start.pop(str(trial_id), time.perf_counter())
        if reason is None:
            result = " ".join(f"{n}={pareto_lib.format_value(measures.get(n))}"
                              for n in self.objectives)
        else:
            result = f"failed: {reason}"
        self._bar.update(1)
        if not self.quiet:
            tqdm.write(f"trial {_number(trial_id, self.total)}  {short(values)}  ->  {result}  "
                       f"({seconds:.1f} s)")

    def close(self) -> None:
        """Remove the bar (the finished-trial lines stay)."""
        self._bar.close()


def _status(trial, front_ids) -> str:
    if trial["status"] == "COMPLETED":
        return "pareto" if trial["trial_id"] in front_ids else "ok"
    if trial["status"] in ("FAILED", "INVALID"):
        return f"failed: {trial['reason']}"
    return str(trial["status"]).lower()


def table(trials, objectives, front_ids=()) -> pareto_lib.Table:
    """One row per trial: ``trial_id``, its hyperparameters, each objective measure, ``status``.

    ``trials`` are :func:`tfprune.tuning.sweep.load_trials` items; ``front_ids`` the ids on
    the Pareto front (their status is ``pareto``; other completed trials ``ok``; failed ones
    ``failed: <last line of the error>``).

    Example:
        >>> rows = [{"trial_id": "0", "values": {"sparsity": 0.5}, "status": "COMPLETED",
        ...          "reason": None, "settings": {"sparsity": 0.5}, "measures": {"macs": 10.0}},
        ...         {"trial_id": "1", "values": {"sparsity": 0.9}, "status": "FAILED",
        ...          "reason": "ValueError: bad", "settings": {}, "measures": {}}]
        >>> print(table(rows, ["macs"], front_ids=["0"]))
        trial_id  sparsity  macs  status
        0         0.5       10    pareto
        1         0.9             failed: ValueError: bad
    """
    out = pareto_lib.Table()
    for t in trials:
        row = {"trial_id": t["trial_id"],  # searched values as the trial used them
               **{k: t["settings"].get(k, v) for k, v in t["values"].items()}}
        row.update({n: t["measures"].get(n) for n in objectives})
        row["status"] = _status(t, set(front_ids))
        out.append(row)
    return out


def heading(rows, axes) -> str:
    """The line above the summary table: counts of trials, failures and the front.

    Example:
        >>> heading([{"status": "pareto"}, {"status": "failed: x"}], ["val_accuracy", "macs"])
        'Sweep: 2 trials, 1 completed, 1 failed, 1 on the Pareto front (val_accuracy vs macs)'
    """
    done = sum(r["status"] in ("ok", "pareto") for r in rows)
    failed = sum(r["status"].startswith("failed") for r in rows)
    front = sum(r["status"] == "pareto" for r in rows)
    return (f"Sweep: {len(rows)} trials, {done} completed, {failed} failed, {front} on the "
            f"Pareto front ({axes[0]} vs {', '.join(axes[1:])})")
