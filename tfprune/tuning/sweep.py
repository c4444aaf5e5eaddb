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

from tfprune import compat, deprecations, errors
from tfprune.compat import keras
from tfprune.tuning import measure as measure_lib
from tfprune.tuning import pareto as pareto_lib
from tfprune.tuning import space as space_lib

__all__ = ["SweepOptions", "SweepError", "ORACLES", "load_results", "load_trials", "failure_reason",
           "is_worker", "checked_options", "TUNER_KEYWORDS",
           "write_json", "resolve_model", "space_function", "probe_space", "objectives",
           "make_oracle", "describe_objective", "model_digest", "fingerprint", "check_directory",
           "SpaceModel"]

ORACLES = ("random", "bayesian", "hyperband", "grid")
SWEEP_FILE = "sweep.json"
MEASURES_FILE = "measures.json"
MODEL_FILE = "model.keras"


class SweepError(errors.TfpruneError, RuntimeError):
    """A sweep ran but produced no usable trial (every trial failed)."""


@dataclasses.dataclass(frozen=True)
class SweepOptions:
    """How trials train and what they measure, and what happens to an existing sweep.

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
        loss_weights: per-output weights of the fine-tuning loss and of ``val_loss``
            (``{output: w}``; default: the model's compiled ``loss_weights``).
        overwrite: delete an existing sweep directory first (ignored on workers; without
            it the same sweep resumes and a different one is refused).
    """

    loss: object = None
    metrics: tuple | None = None
    batch_size: int = 32
    measure: tuple = ()
    tensorboard: bool = True
    seed: int = 0
    max_epochs: int = 3
    latency_runs: int = 50
    loss_weights: object = None
    overwrite: bool = False


#: PruningTuner's keywords (besides ``model``), named when an unknown keyword is refused
TUNER_KEYWORDS = ("space", "oracle", "objective", "max_trials", "directory", "project_name",
                  "options")


def checked_options(options, deprecated: dict) -> SweepOptions:
    """``PruningTuner(options=...)`` with the deprecated ``overwrite=`` keyword folded in.

    Example:
        >>> checked_options(None, {}).overwrite
        False
    """
    return deprecations.fold_options("tuning.PruningTuner", options, SweepOptions, deprecated,
                                     valid=TUNER_KEYWORDS,
                                     stacklevel=4)  # past PruningTuner.__init__


def is_worker() -> bool:
    """True in a distributed sweep's worker process (keras-tuner's ``KERASTUNER_TUNER_ID``
    other than ``chief``): workers run trials, the chief owns the oracle and the directory.

    Example:
        >>> is_worker()
        False
    """
    return dist_utils.has_chief_oracle() and not dist_utils.is_chief_oracle()


def write_json(path, obj) -> None:
    """Write ``obj`` as JSON to ``path`` atomically (a temporary file, then ``os.replace``).

    Example:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "a.json")
        >>> write_json(path, {"trial_id": "0"}); open(path).read().count("trial_id")
        1
    """
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True, default=str)
    os.replace(tmp, path)


def resolve_model(model):
    """The tf_keras model a sweep prunes: a Keras 3 model is translated (subclassed ones and
    layers without a tf_keras twin are refused by the translator, naming them). A function
    is called once to build the model.

    Example:
        >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> resolve_model(lambda: m) is m
        True
    """
    if callable(model) and not isinstance(model, keras.Model) and not compat.is_keras3_object(model):
        model = model()
    if compat.is_keras3_object(model):
        model = compat.to_tf_keras(model)
    compat.check_tf_keras_model(model)
    return model


def space_function(space):
    """The ``hp -> dict | None`` function of ``space`` (``None``: the default space; a dict:
    :func:`tfprune.tuning.space.from_dict`; a function: itself).

    Example:
        >>> space_function(None).__name__
        'default_space'
    """
    if space is None:
        return space_lib.default_space
    if isinstance(space, dict):
        return space_lib.from_dict(space)
    if callable(space):
        return space
    raise errors.ConfigError(
        f"`space` must be None (the default space), a dict {{setting: value or [choices]}} or a "
        f"function hp -> dict, got {type(space).__name__}.")


def probe_space(space_fn):
    """The ``HyperParameters`` ``space_fn`` declares (refused when it declares none).

    Example:
        >>> [p.name for p in probe_space(space_function({"sparsity": [0.5, 0.8]})).space]
        ['sparsity']
    """
    hp = kt.HyperParameters()
    space_fn(hp)
    if not hp.space:
        raise errors.ConfigError(
            "The search space is empty: declare at least one hyperparameter, e.g. "
            "hp.Float('sparsity', 0.5, 0.9, step=0.1), or pass a dict such as "
            "{'sparsity': [0.5, 0.8]}.")
    return hp


def objectives(objective, available):
    """``objective`` (a name, ``keras_tuner.Objective`` or a list) as keras-tuner objectives,
    each checked against the ``available`` measure names (direction inferred for names).

    Example:
        >>> o = objectives("macs", ["val_accuracy", "macs"])
        >>> o.name, o.direction
        ('macs', 'min')
    """
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


def make_oracle(oracle, objective, max_trials, options, available):
    """The keras-tuner oracle for ``oracle`` (one of :data:`ORACLES`, or an ``Oracle`` whose
    objective is checked), seeded from ``options.seed``.

    Example:
        >>> type(make_oracle("grid", "macs", 2, SweepOptions(), ["macs"])).__name__
        'GridSearchOracle'
    """
    if isinstance(oracle, kt.Oracle):
        obj = oracle.objective
        names = list(getattr(obj, "name_to_direction", {obj.name: None}))
        objectives(names, available)
        return oracle
    if oracle not in ORACLES:
        raise errors.unknown_name("oracle", oracle, ORACLES)
    if not isinstance(max_trials, int) or isinstance(max_trials, bool) or max_trials < 1:
        raise errors.ConfigError(f"`max_trials` must be an integer >= 1, got {max_trials!r}.")
    kw = {"objective": objectives(objective, available), "seed": options.seed + 1}
    if oracle == "hyperband":
        return kt.oracles.HyperbandOracle(max_epochs=options.max_epochs, **kw)
    cls = {"random": kt.oracles.RandomSearchOracle, "grid": kt.oracles.GridSearchOracle,
           "bayesian": kt.oracles.BayesianOptimizationOracle}[oracle]
    return cls(max_trials=max_trials, **kw)


def describe_objective(obj) -> list:
    """``["name:direction", ...]`` of a keras-tuner objective (single or multi), sorted.

    Example:
        >>> describe_objective(kt.Objective("macs", "min"))
        ['macs:min']
    """
    pairs = getattr(obj, "name_to_direction", None) or {obj.name: obj.direction}
    return sorted(f"{n}:{d}" for n, d in pairs.items())


def model_digest(model) -> str:
    """A short hash of a model's architecture and weights (what a resumed sweep must match).

    Example:
        >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> len(model_digest(m))
        24
    """
    h = hashlib.sha256(model.to_json().encode())
    for w in model.get_weights():
        h.update(np.ascontiguousarray(w).tobytes())
    return h.hexdigest()[:24]


def fingerprint(model, probe, oracle, loss, measure_names) -> dict:
    """What a sweep is (model digest, space, objective, oracle, loss, measures): recorded in
    :data:`SWEEP_FILE`, so that a different sweep in the same directory is refused.

    Example:
        >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> o = make_oracle("random", "macs", 1, SweepOptions(), ["macs"])
        >>> sorted(fingerprint(m, probe_space(space_function({"sparsity": 0.5})), o, "mse",
        ...                    ["macs"]))
        ['loss', 'measures', 'model', 'objective', 'oracle', 'space']
    """
    return {"model": model_digest(model),
            "space": json.dumps(probe.get_config(), sort_keys=True, default=str),
            "objective": describe_objective(oracle.objective), "oracle": type(oracle).__name__,
            "loss": str(loss), "measures": list(measure_names)}


def check_directory(project_dir, fingerprint, overwrite):
    """Refuse a ``project_dir`` that holds something else than this sweep (``fingerprint``:
    what :data:`SWEEP_FILE` records), unless ``overwrite``.

    Example:
        >>> import tempfile
        >>> check_directory(tempfile.mkdtemp(), {"model": "abc"}, False)  # empty: fine
    """
    if overwrite or not os.path.isdir(project_dir) or not os.listdir(project_dir):
        return
    marker = os.path.join(project_dir, SWEEP_FILE)
    if not os.path.exists(marker):
        raise errors.ConfigError(
            f"{project_dir} already holds files that are not a tfprune sweep "
            f"({', '.join(sorted(os.listdir(project_dir))[:5])}). Choose another directory or "
            "project_name, or pass SweepOptions(overwrite=True) to delete it and start over.")
    with open(marker) as f:
        old = json.load(f)
    diff = sorted(k for k in set(old) | set(fingerprint) if old.get(k) != fingerprint.get(k))
    if diff:
        raise errors.ConfigError(
            f"{project_dir} holds a different sweep (it differs in: {', '.join(diff)}). A sweep "
            "resumes only with the same model, search space, objective, oracle, loss, metrics "
            "and measures. Choose another project_name, or pass SweepOptions(overwrite=True) to "
            "delete it.")


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


def failure_reason(message) -> str:
    r"""The last line of a failed trial's traceback, at most 120 characters.

    Example:
        >>> failure_reason("Traceback (most recent call last):\n  ...\nRuntimeError: boom\n")
        'RuntimeError: boom'
    """
    lines = [ln.strip() for ln in str(message or "").splitlines() if ln.strip()]
    reason = lines[-1] if lines else "unknown error"
    return reason if len(reason) <= 120 else reason[:117] + "..."


def load_trials(project_dir) -> list:
    """Every trial of a sweep directory, completed or not, in id order.

    Each item: ``{"trial_id", "values"`` (the searched hyperparameters, without keras-tuner's
    ``tuner/*``), ``"status"`` (keras-tuner's: ``COMPLETED``, ``FAILED``, ``INVALID``,
    ``RUNNING``...), ``"reason"`` (the last line of a failed trial's error, else ``None``),
    ``"settings"`` and ``"measures"`` (empty unless the trial completed)``}``.

    Example:
        >>> import tempfile
        >>> load_trials(tempfile.mkdtemp())
        []
    """
    out = []
    for path in sorted(glob.glob(os.path.join(project_dir, "trial_*", "trial.json"))):
        with open(path) as f:
            t = json.load(f)
        record = os.path.join(os.path.dirname(path), MEASURES_FILE)
        r = {}
        if t.get("status") == "COMPLETED" and os.path.exists(record):
            with open(record) as f:
                r = json.load(f)
        values = (t.get("hyperparameters") or {}).get("values") or {}
        failed = t.get("status") in ("FAILED", "INVALID")
        out.append({"trial_id": str(t.get("trial_id")), "status": t.get("status"),
                    "values": {k: v for k, v in values.items() if not k.startswith("tuner/")},
                    "reason": failure_reason(t.get("message")) if failed else None,
                    "settings": r.get("settings", {}), "measures": r.get("measures", {})})
    return sorted(out, key=lambda r: r["trial_id"])


class SpaceModel(kt.HyperModel):
    """The keras-tuner ``HyperModel`` of a space: ``build(hp)`` gives the trial's settings.

    Example:
        >>> SpaceModel(space_function({"sparsity": 0.5})).build(kt.HyperParameters())["sparsity"]
        0.5
    """

    def __init__(self, space_fn):
        super().__init__()
        self.space_fn = space_fn

    def build(self, hp):
        return space_lib.settings_from(self.space_fn, hp)
