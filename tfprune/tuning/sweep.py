"""Sweep set-up: options, checks made before the first trial, the sweep directory.

Files under ``<directory>/<project_name>``: keras-tuner's ``oracle.json``,
``<tuner_id>.json`` and ``trial_<id>/trial.json``; ours: ``sweep.json`` (what the sweep
is, to refuse a different one), ``trial_<id>/measures.json`` (settings + measures),
``trial_<id>/model.keras`` (the plain pruned model), ``tensorboard/`` (HParams).
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import os

import keras_tuner as kt
import numpy as np
from keras_tuner.src.distribute import utils as dist_utils

from tfprune import compat, errors
from tfprune.compat import keras
from tfprune.tuning import measure as measure_lib
from tfprune.tuning import pareto as pareto_lib
from tfprune.tuning import space as space_lib

__all__ = ["SweepOptions", "SweepError", "ORACLES", "load_results"]

ORACLES = ("random", "bayesian", "hyperband", "grid")
SWEEP_FILE = "sweep.json"
MEASURES_FILE = "measures.json"
MODEL_FILE = "model.keras"


class SweepError(errors.TfpruneError, RuntimeError):
    """A sweep ran but produced no usable trial (every trial failed)."""


@dataclasses.dataclass(frozen=True)
class SweepOptions:
    """How trials train and what they measure.

    Attributes:
        loss: fine-tuning loss (default: the model's compiled loss).
        metrics: compiled metrics; each is measured on the validation data as ``val_<name>``.
            Default: the model's compiled metrics, else what fits each output's task
            (:mod:`tfprune.task`: ``accuracy`` for class scores and binary outputs, ``mae``
            for regression).
        batch_size: fine-tuning and evaluation batch size.
        measure: optional expensive measures: ``"tflite_bytes"`` (full-int8 .tflite,
            verified in LiteRT), ``"latency_ms"`` (LiteRT median, 1 thread; implies the first).
        tensorboard: log every trial to TensorBoard's HParams dashboard.
        seed: seeds the oracle and each trial's training (trial ``i`` uses ``seed + i``).
        max_epochs: Hyperband's largest fine-tune budget (its ``tuner/epochs``).
        latency_runs: timed LiteRT invokes per trial.
    """

    loss: object = None
    metrics: tuple | None = None
    batch_size: int = 32
    measure: tuple = ()
    tensorboard: bool = True
    seed: int = 0
    max_epochs: int = 3
    latency_runs: int = 50


def _is_worker() -> bool:
    return dist_utils.has_chief_oracle() and not dist_utils.is_chief_oracle()


def _write_json(path, obj) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True, default=str)
    os.replace(tmp, path)


def _resolve_model(model):
    """The tf_keras model a sweep prunes: a Keras 3 model is translated (subclassed ones and
    layers without a tf_keras twin are refused by the translator, naming them)."""
    if callable(model) and not isinstance(model, keras.Model) and not compat.is_keras3_object(model):
        model = model()
    if compat.is_keras3_object(model):
        model = compat.to_tf_keras(model)
    compat.check_tf_keras_model(model)
    return model


def _space_fn(space):
    if space is None:
        return space_lib.default_space
    if isinstance(space, dict):
        return space_lib.from_dict(space)
    if callable(space):
        return space
    raise errors.ConfigError(
        f"`space` must be None (the default space), a dict {{setting: value or [choices]}} or a "
        f"function hp -> dict, got {type(space).__name__}.")


def _probe_space(space_fn):
    hp = kt.HyperParameters()
    space_fn(hp)
    if not hp.space:
        raise errors.ConfigError(
            "The search space is empty: declare at least one hyperparameter, e.g. "
            "hp.Float('sparsity', 0.5, 0.9, step=0.1), or pass a dict such as "
            "{'sparsity': [0.5, 0.8]}.")
    return hp


def _objective(objective, available):
    items = objective if isinstance(objective, (list, tuple)) else [objective]
    if not items:
        raise errors.ConfigError("`objective` is empty: name a measure, e.g. 'val_accuracy'.")
    out = []
    for o in items:
        if isinstance(o, kt.Objective):
            name, direction = o.name, o.direction
        elif isinstance(o, str):
            name, direction = o, measure_lib.direction(o)
        else:
            raise errors.ConfigError(f"An objective is a measure name or keras_tuner.Objective, "
                                     f"got {type(o).__name__}.")
        if name not in available:
            raise errors.ConfigError(
                f"No trial produces objective {name!r}. Trials measure: {', '.join(available)} "
                "(tflite_bytes and latency_ms need SweepOptions(measure=(...))).")
        out.append(kt.Objective(name, direction))
    return out[0] if len(out) == 1 else out


def _make_oracle(oracle, objective, max_trials, options, available):
    if isinstance(oracle, kt.Oracle):
        obj = oracle.objective
        names = list(getattr(obj, "name_to_direction", {obj.name: None}))
        _objective(names, available)
        return oracle
    if oracle not in ORACLES:
        raise errors.unknown_name("oracle", oracle, ORACLES)
    if not isinstance(max_trials, int) or isinstance(max_trials, bool) or max_trials < 1:
        raise errors.ConfigError(f"`max_trials` must be an integer >= 1, got {max_trials!r}.")
    kw = {"objective": _objective(objective, available), "seed": options.seed + 1}
    if oracle == "hyperband":
        return kt.oracles.HyperbandOracle(max_epochs=options.max_epochs, **kw)
    cls = {"random": kt.oracles.RandomSearchOracle, "grid": kt.oracles.GridSearchOracle,
           "bayesian": kt.oracles.BayesianOptimizationOracle}[oracle]
    return cls(max_trials=max_trials, **kw)


def _describe_objective(obj) -> list:
    pairs = getattr(obj, "name_to_direction", None) or {obj.name: obj.direction}
    return sorted(f"{n}:{d}" for n, d in pairs.items())


def _model_digest(model) -> str:
    h = hashlib.sha256(model.to_json().encode())
    for w in model.get_weights():
        h.update(np.ascontiguousarray(w).tobytes())
    return h.hexdigest()[:24]


def _check_directory(project_dir, fingerprint, overwrite):
    if overwrite or not os.path.isdir(project_dir) or not os.listdir(project_dir):
        return
    marker = os.path.join(project_dir, SWEEP_FILE)
    if not os.path.exists(marker):
        raise errors.ConfigError(
            f"{project_dir} already holds files that are not a tfprune sweep "
            f"({', '.join(sorted(os.listdir(project_dir))[:5])}). Choose another directory or "
            "project_name, or pass overwrite=True to delete it and start over.")
    with open(marker) as f:
        old = json.load(f)
    diff = sorted(k for k in set(old) | set(fingerprint) if old.get(k) != fingerprint.get(k))
    if diff:
        raise errors.ConfigError(
            f"{project_dir} holds a different sweep (it differs in: {', '.join(diff)}). A sweep "
            "resumes only with the same model, search space, objective, oracle, loss, metrics "
            "and measures. Choose another project_name, or pass overwrite=True to delete it.")


def load_results(project_dir) -> pareto_lib.Table:
    """Completed trials of a sweep directory: one row of settings and measures each.

    Works in any process after (or during) a sweep, distributed ones included.

    Example:
        >>> import tempfile
        >>> len(load_results(tempfile.mkdtemp()))
        0
    """
    rows = []
    for path in sorted(glob.glob(os.path.join(project_dir, "trial_*", "trial.json"))):
        with open(path) as f:
            status = json.load(f).get("status")
        record = os.path.join(os.path.dirname(path), MEASURES_FILE)
        if status != "COMPLETED" or not os.path.exists(record):
            continue
        with open(record) as f:
            r = json.load(f)
        rows.append({"trial_id": r["trial_id"], **r["settings"], **r["measures"]})
    return pareto_lib.Table(sorted(rows, key=lambda r: r["trial_id"]))


class _SpaceModel(kt.HyperModel):
    def __init__(self, space_fn):
        super().__init__()
        self.space_fn = space_fn

    def build(self, hp):
        return space_lib.settings_from(self.space_fn, hp)
