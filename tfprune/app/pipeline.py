"""``tfprune run``: the whole path on the user's model, from a validated recipe.

load model + data (checked against each other) → dense training (optional) → prune
(weights: ``prune`` + ``PruningCallback`` + ``strip``; channels: ``structured.plan`` +
``apply_masks`` + ``shrink`` then fine-tune the smaller model) → measure every variant
(accuracy, params, MACs, .tflite bytes, LiteRT latency, TFLM flash/arena) → report folder
written atomically (report.json, report.md, plots/, the models and exports).

Every check runs before training: the output folder, the model, the data shape, the
labels, the loss, the pruning options.

Example:
    >>> job = prepare({"model": "demo_cnn", "data": {"source": "digits"}})
    Traceback (most recent call last):
    ...
    tfprune.errors.ConfigError: data 'digits' (train): samples have shape (8, 8, 1) but model \
'demo_cnn' expects (28, 28, 1). Resize the data (data.resize / data.rgb in a recipe) or build the model \
for this shape (model_options.input_shape).
"""

from __future__ import annotations

import dataclasses
import os
import time
import warnings

import numpy as np
import tensorflow as tf

from tfprune import (
    analysis,
    callbacks,
    compat,
    errors,
    export,
    graph,
    masking,
    quantization,
    structured,
)
from tfprune import task as task_lib
from tfprune.app import data as data_lib
from tfprune.app import mlflow as mlflow_lib
from tfprune.app import models, plots, reports
from tfprune.app.progress import TqdmProgress
from tfprune.callbacks import PruningCallback
from tfprune.compat import keras
from tfprune.core.schedules import AGP

__all__ = ["Job", "prepare", "train", "prune_variant", "measure", "quantize_aware_variant",
           "run_recipe", "check_finite", "resolve_metric", "RunFailedError", "DEFAULTS"]

DEFAULTS = {
    "train": {"epochs": 3, "batch_size": 64, "learning_rate": 1e-3,
              "loss": "sparse_categorical_crossentropy"},
    "prune": {"granularity": "weight", "schedule": "agp", "sparsity": 0.5, "scope": "layer", "epochs": 2,
              "frequency": 25, "ramp_fraction": 0.75, "round_to": 1, "min_channels": 1},
    "export": {"tflite": ["float", "int8"], "micro": False, "latency_runs": 50},
    "quantize_aware": {"epochs": 1, "learning_rate": 1e-4},
}
_QUANTIZE = {"float": None, "int8": "int8", "dynamic": "dynamic", "float16": "float16"}


@dataclasses.dataclass
class Job:
    """Everything a run needs, loaded and checked."""

    recipe: dict
    model: object
    train_data: tuple
    test_data: tuple
    train: dict
    prune: dict
    export: dict
    seed: int
    keras3: bool = False  # the user's file was Keras 3: models are saved back as Keras 3
    task: object = None  # tfprune.task.OutputTask of the (first) output
    metric: str = "accuracy"  # what the run measures: from tfprune.task (mae for regression)


def _section(recipe: dict, key: str, **override) -> dict:
    return {**DEFAULTS[key], **override, **recipe.get(key, {})}


def check_prune_options(model, spec: dict) -> None:
    """Refuse bad pruning options on the untrained model (cheap), before any training."""

    errors.check_sparsity(spec["sparsity"], "prune.sparsity")
    if spec["granularity"] == "channel":
        crit = spec.get("criterion", "l2")
        structured.plan(model, sparsity=spec["sparsity"], criterion=crit, scope=spec["scope"],
                        round_to=spec["round_to"], min_channels=spec["min_channels"],
                        exclude=spec.get("exclude"))
    else:
        masking.prune(model, sparsity=spec["sparsity"], scope=spec["scope"],
                      criterion=spec.get("criterion", "magnitude"), exclude=spec.get("exclude"),
                      **_granularity_args(spec))


def _granularity_args(spec):
    out = {"granularity": spec["granularity"]}
    if "n_m" in spec:
        out["n_m"] = tuple(spec["n_m"])
    if "block" in spec:
        out["block"] = tuple(spec["block"])
    return out


def _check_loss(name: str) -> None:
    try:
        keras.losses.get(name)
    except ValueError:
        raise errors.ConfigError(f"train.loss {name!r} is not a Keras loss (e.g. "
                                 "'sparse_categorical_crossentropy').") from None


def prepare(recipe: dict, *, safe_mode: bool = True) -> Job:
    """Load the model and data of a validated recipe and check them together (no training).

    Raises:
        ConfigError: model or data missing/unreadable (or a model file carrying Python code,
            unless ``safe_mode=False``), NaN/inf weights in the model, shapes, values or
            labels that do not fit, a loss or pruning option that is wrong.
    """
    seed = int(recipe.get("seed", 0))
    keras.utils.set_random_seed(seed)
    model = models.load_model(recipe["model"], recipe.get("model_options"), safe_mode=safe_mode)
    try:
        check_finite(model, None, f"model {recipe['model']!r}", "Give a model with finite "
                     "weights (re-train it or save it again from a good checkpoint).")
    except RunFailedError as exc:
        raise errors.ConfigError(str(exc)) from None
    (xtr, ytr), (xte, yte) = data_lib.load_data(recipe["data"], seed, task=recipe.get("task"))
    xtr, xte = data_lib.for_model(model, xtr), data_lib.for_model(model, xte)
    task, loss = recipe.get("task"), recipe.get("train", {}).get("loss")
    data_lib.check_input(model, xtr, ytr, source=f"data {recipe['data']['source']!r} (train)",
                         task=task, loss=loss)
    data_lib.check_input(model, xte, yte, source=f"data {recipe['data']['source']!r} (test)",
                         task=task, loss=loss)
    epochs = 0 if models.is_model_path(recipe["model"]) else DEFAULTS["train"]["epochs"]
    train_cfg = _section(recipe, "train", epochs=epochs,
                         loss=loss or data_lib.default_loss(model, ytr, task))
    _check_loss(train_cfg["loss"])
    prune_cfg = _section(recipe, "prune")
    if prune_cfg["granularity"] == "unstructured":  # the older name of "weight"
        prune_cfg["granularity"] = "weight"
    if prune_cfg["granularity"] == "n:m" and "sparsity" not in recipe.get("prune", {}):
        n, m = prune_cfg.get("n_m", (2, 4))
        prune_cfg["sparsity"] = 1 - n / m
    check_prune_options(model, prune_cfg)
    if "allocate" in recipe:
        _allocate(model, recipe, prune_cfg, None)  # an unreachable target: refused now

    out_task, metric = resolve_metric(model, ytr, train_cfg["loss"], task)
    job = Job(recipe, model, (xtr, ytr), (xte, yte), train_cfg, prune_cfg,
              _section(recipe, "export"), seed, keras3=compat.is_from_keras3(model),
              task=out_task, metric=metric)
    if "sweep" in recipe:  # the tuner checks its space and options before any trial
        import shutil
        import tempfile

        probe = tempfile.mkdtemp(prefix="tfprune-sweep-check-")
        try:
            _sweep_tuner(job, probe)
        finally:
            shutil.rmtree(probe, ignore_errors=True)
    return job


def resolve_metric(model, y, loss, task=None):
    """The task of the model's first output (:func:`tfprune.task.resolve`) and the metric a
    run measures on it: accuracy for class scores and binary outputs, ``mae`` for regression,
    the loss when the task cannot be told.

    Example:
        >>> m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, name="price")])
        >>> t, metric = resolve_metric(m, np.array([6.5, 9.0]), "mse")
        >>> t.kind, metric
        ('regression', 'mae')
    """
    t = task_lib.resolve(model, y, loss=loss, task=task)[0]
    return t, (task_lib.default_metrics(t.kind) or ("loss",))[0]


def _unit_granularity(prune_cfg) -> str:
    if prune_cfg["granularity"] == "channel":
        return "channel"
    if prune_cfg["granularity"] != "weight":
        raise errors.ConfigError("allocate: works with prune.granularity 'weight' or "
                                 f"'channel', not {prune_cfg['granularity']!r}.")
    return "weight"


def _allocate(model, recipe, prune_cfg, result):
    """Per-unit sparsities for the recipe's target (``result`` None: a uniform dry run)."""

    target = {k: v for k, v in recipe["allocate"].items() if k != "method"}
    if len(target) != 1:
        raise errors.ConfigError(f"allocate: give exactly one target of sparsity, params, "
                                 f"macs, bytes, flash; got {sorted(target) or 'none'}.")
    if result is None:
        return analysis.allocate(model, method="uniform",
                                 granularity=_unit_granularity(prune_cfg), **target)
    return analysis.allocate(result, method=recipe["allocate"].get("method", "sensitivity"),
                             **target)


def sensitivity_scan(job: Job, *, quiet=False):
    """The recipe's sensitivity scan on the trained model; ``(result, curves_for_report)``."""

    cfg = job.recipe.get("sensitivity", {})
    n = cfg.get("samples", 256)
    x, y = job.test_data
    kwargs = {"levels": tuple(cfg.get("levels", (0.25, 0.5, 0.75, 0.9))),
              "metric": cfg.get("metric", job.metric), "progress": not quiet}
    if "criterion" in cfg:
        kwargs["criterion"] = cfg["criterion"]
    res = analysis.sensitivity(job.model, (x[:n], y[:n]),
                               granularity=_unit_granularity(job.prune), **kwargs)
    curves = {u: [[0.0, res.baseline]] + [[float(lv), float(v)] for lv, v in zip(res.levels, c, strict=True)]
              for u, c in res.curves.items()}
    return res, curves


def _sweep_tuner(job: Job, directory: str):
    from tfprune import tuning  # keras-tuner (imports Keras 3: seconds) only for sweeps

    cfg = job.recipe["sweep"]
    options = tuning.SweepOptions(loss=job.train["loss"], batch_size=job.train["batch_size"],
                                  seed=job.seed, tensorboard=False,
                                  measure=tuple(cfg.get("measure", ())))
    return tuning.PruningTuner(job.model, cfg.get("space"), oracle=cfg.get("oracle", "random"),
                               objective=cfg.get("objective"),
                               max_trials=cfg.get("max_trials", 6), directory=directory,
                               project_name="sweep", overwrite=True, options=options)


def sweep(job: Job, stage: str, *, say=print) -> dict:
    """The recipe's sweep (:class:`tfprune.tuning.PruningTuner`) on the trained model; the
    trials and Pareto set for the report (``report["sweep"]``)."""
    cfg = job.recipe["sweep"]
    tuner = _sweep_tuner(job, stage)
    tuner.search(*job.train_data, validation_data=job.test_data)
    quality, cost = cfg.get("quality") or tuner.quality, cfg.get("cost", "macs")
    rows = [dict(r) for r in tuner.results()]
    front = tuner.pareto(quality, cost)
    ids = [r.get("trial_id") for r in front]
    say(f"  {len(rows)} trials, {len(front)} on the Pareto front ({quality} vs {cost})")
    return {"quality": quality, "cost": cost, "trials": rows,
            "pareto": [i for i, r in enumerate(rows) if r.get("trial_id") in ids]}


def _compile(model, lr, loss, metric="accuracy"):
    """Compile ``model`` in its own Keras (strip/shrink give Keras 3 back for a Keras 3 file),
    measuring ``metric`` (the job's: :func:`resolve_metric`; ``"loss"``: no extra metric)."""
    metrics = [] if metric == "loss" else [metric]
    if compat.is_keras3_object(model):
        import keras as keras3

        model.compile(keras3.optimizers.Adam(lr), loss, metrics=metrics)
        return model
    model.compile(keras.optimizers.Adam(lr), loss, metrics=metrics)
    return model


def _fit(model, x, y, *, epochs, batch_size, desc, quiet, callbacks=()):
    if epochs <= 0:
        return {}
    steps = int(np.ceil(len(x) / batch_size))
    hist = model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0,
                     callbacks=[*callbacks, TqdmProgress(epochs, steps, desc, quiet)])
    return {k: [float(v) for v in vs] for k, vs in hist.history.items()}


def train(job: Job, *, quiet=False, callbacks=()):
    """Dense training (``train.epochs``; 0 keeps the loaded weights). Returns the history."""
    t = job.train
    _compile(job.model, t["learning_rate"], t["loss"], job.metric)
    return _fit(job.model, *job.train_data, epochs=t["epochs"], batch_size=t["batch_size"],
                desc="dense training", quiet=quiet, callbacks=callbacks)


def _with_teacher(student, teacher, spec, job):
    """The model to fit: ``student`` itself, or a :func:`tfprune.distill` model with the dense
    ``teacher`` when the recipe sets ``prune.distill`` (soft targets for class scores, output
    matching for binary and regression outputs)."""
    cfg = spec.get("distill")
    if cfg is None:
        return student, student

    if compat.is_keras3_object(teacher):
        teacher = compat.to_tf_keras(teacher)
    if compat.is_keras3_object(student):
        student = compat.to_tf_keras(student)
    kind = "classification" if job.task.class_scores else "regression"
    d = callbacks.distill(student, teacher, temperature=cfg.get("temperature", 4.0),
                                  alpha=cfg.get("alpha", 0.9), task=kind)
    return d, student


def _prune_weights(model, spec, job, quiet, callbacks, allocation=None):
    x, y = job.train_data
    batch = spec.get("batch_size", job.train["batch_size"])
    steps = int(np.ceil(len(x) / batch))
    end = max(1, int(spec["ramp_fraction"] * max(1, spec["epochs"]) * steps))
    scope = spec["scope"] if allocation is None else allocation
    final = spec["sparsity"] if allocation is None else max(allocation.values())
    schedule = AGP(final, begin_step=0, end_step=end, frequency=spec["frequency"])
    pruned = masking.prune(model, schedule=schedule, scope=scope,
                           criterion=spec.get("criterion", "magnitude"),
                           exclude=spec.get("exclude"), **_granularity_args(spec))
    fitted, pruned = _with_teacher(pruned, model, spec, job)
    _compile(fitted, spec.get("learning_rate", job.train["learning_rate"]), job.train["loss"],
             job.metric)
    hist = _fit(fitted, x, y, epochs=max(1, spec["epochs"]), batch_size=batch,
                desc="pruning weights", quiet=quiet,
                callbacks=[PruningCallback(per_layer=False), *callbacks])
    return masking.strip(pruned), hist, {"schedule": schedule.get_config()}


def _one_shot_plan(spec, allocation) -> bool:
    """Channels chosen once then fine-tuned (an allocation, round_to/min_channels, or asked)."""
    return (allocation is not None or spec["schedule"] == "one_shot" or spec["round_to"] != 1
            or spec["min_channels"] != 1)


def _prune_channels_gradual(model, spec, job, quiet, callbacks):
    x, y = job.train_data
    batch = spec.get("batch_size", job.train["batch_size"])
    end = max(1, int(spec["ramp_fraction"] * max(1, spec["epochs"]) * np.ceil(len(x) / batch)))
    schedule = AGP(spec["sparsity"], begin_step=0, end_step=end, frequency=spec["frequency"])
    pruned = masking.prune(model, schedule=schedule, granularity="channel", scope=spec["scope"],
                           criterion=spec.get("criterion", "l2"), exclude=spec.get("exclude"))
    fitted, pruned = _with_teacher(pruned, model, spec, job)
    _compile(fitted, spec.get("learning_rate", job.train["learning_rate"]), job.train["loss"],
             job.metric)
    hist = _fit(fitted, x, y, epochs=max(1, spec["epochs"]), batch_size=batch,
                desc="pruning channels", quiet=quiet,
                callbacks=[PruningCallback(per_layer=False), *callbacks])
    plain = masking.strip(pruned)
    small = structured.shrink(plain)
    before = sum(g.channels for g in graph.build(plain))
    after = sum(g.channels for g in graph.build(small))
    return small, hist, {"schedule": schedule.get_config(), "channels_removed": before - after}


def _prune_channels(model, spec, job, quiet, callbacks, allocation=None):
    if not _one_shot_plan(spec, allocation):
        return _prune_channels_gradual(model, spec, job, quiet, callbacks)

    p = allocation.plan(model) if allocation is not None else structured.plan(model, sparsity=spec["sparsity"], criterion=spec.get("criterion", "l2"),
                        scope=spec["scope"], round_to=spec["round_to"],
                        min_channels=spec["min_channels"], exclude=spec.get("exclude"))
    small = structured.shrink(structured.apply_masks(model, p), p)
    fitted, small = _with_teacher(small, model, spec, job)
    _compile(fitted, spec.get("learning_rate", job.train["learning_rate"]), job.train["loss"],
             job.metric)
    hist = _fit(fitted, *job.train_data, epochs=spec["epochs"],
                batch_size=spec.get("batch_size", job.train["batch_size"]),
                desc="fine-tuning channels", quiet=quiet, callbacks=callbacks)
    kept = {g: f"{len(k)}/{p.channels[g]}" for g, k in p.keep.items()}
    return small, hist, {"channels_removed": p.removed, "channels_kept": kept}


def prune_variant(model, spec: dict, job: Job, *, quiet=False, callbacks=(), allocation=None):
    """Prune a copy of ``model`` as ``spec`` (or an ``allocate`` result) says; returns
    ``(plain_model, history, info)``."""
    fn = _prune_channels if spec["granularity"] == "channel" else _prune_weights
    return fn(model, spec, job, quiet, callbacks, allocation)


def _litert_metric(path, x, y, job: Job, chunk=256):
    """``job.metric`` of the .tflite file ``path`` on the whole test set ``(x, y)`` in LiteRT
    (first output; the same samples as the Keras figure), ``chunk`` samples per invoke."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    for kwargs in ({}, {"experimental_op_resolver_type":
                        OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES}):
        try:  # XNNPACK refuses some sparse int8 files (FACTS.md): then the builtin kernels
            it = Interpreter(model_path=path, **kwargs)
            d_in, d_out = it.get_input_details()[0], it.get_output_details()[0]
            it.resize_tensor_input(d_in["index"], [min(chunk, len(x)), *x.shape[1:]])
            it.allocate_tensors()
            break
        except RuntimeError:
            if kwargs:
                raise
    outs, size = [], min(chunk, len(x))
    for start in range(0, len(x), chunk):
        part = x[start:start + chunk]
        if len(part) != size:
            size = len(part)
            it.resize_tensor_input(d_in["index"], [size, *x.shape[1:]])
            it.allocate_tensors()
        it.set_tensor(d_in["index"], part.astype(d_in["dtype"]))
        it.invoke()
        outs.append(np.array(it.get_tensor(d_out["index"])))
    fn = task_lib.metric(job.task, job.metric).fn
    return float(fn(tf.constant(y), tf.constant(np.concatenate(outs))))


def _quiet_export(model, path, quantize, x_cal):
    """``export.tflite`` whose tfprune warnings (a delegate fallback, a disagreement) become
    lines of the report instead of Python warnings with a source path; returns
    ``(record, lines)``. Other libraries' warnings pass through."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rec = export.tflite(model, path, quantize=quantize, representative_data=x_cal,
                            overwrite=True)
    lines = []
    for w in caught:
        if f"{os.sep}tfprune{os.sep}" in w.filename and str(w.message) not in lines:
            lines.append(str(w.message))
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return rec, lines


def _tflite_entry(model, stage, tag, fmt, x_cal, job: Job):
    xte, yte = job.test_data
    runs = job.export["latency_runs"]
    path = os.path.join(stage, f"{tag}_{fmt}.tflite")
    rec, warned = _quiet_export(model, path, _QUANTIZE[fmt], x_cal)
    e = {"file": os.path.basename(path), "bytes": rec.bytes, "gzip_bytes": rec.gzip_bytes,
         "sparse": rec.sparse, "max_abs_error_vs_keras": rec.verification.get("max_abs_error"),
         "top1_vs_keras": rec.verification.get("top1_agreement"),
         "decision": rec.decision, "resolver": rec.resolver, "kernels": rec.kernels,
         "notes": [*rec.notes, *warned]}
    if runs:
        e["latency_ms"] = rec.latency_ms
        e["dense_latency_ms"] = rec.dense_latency_ms
        if rec.latency_ms is None:
            e["latency_ms"] = export.latency(path, runs=runs, warmup=min(10, runs)).median_ms
    e[job.metric] = _litert_metric(path, xte, yte, job)
    return e


def _micro_entry(model, stage, tag, x_cal):
    rec = export.micro(model, os.path.join(stage, f"micro_{tag}"), representative_data=x_cal,
                       name=tag.replace("-", "_"), overwrite=True)
    return {"folder": f"micro_{tag}", "flash_bytes": rec.flash_bytes,
            "arena_bytes": rec.arena_bytes, "ops": list(rec.ops),
            "top1_vs_keras": (rec.vs_keras or {}).get("top1_agreement"),
            "max_step_diff_vs_litert": rec.tflm_vs_litert.get("max_step_diff")}


def _save(model, path, keras3: bool) -> None:
    """Keras 3 in, Keras 3 out: a model loaded from a Keras 3 file is saved as Keras 3."""
    if keras3 and not compat.is_keras3_object(model):
        model = compat.to_keras3(model)
    model.save(path)


def _evaluate(model, job: Job, lr=1e-3) -> float:
    """``job.metric`` of the Keras model on the test set (the loss for ``"loss"``)."""
    xte, yte = job.test_data
    _compile(model, lr, job.train["loss"], job.metric)
    res = model.evaluate(xte, yte, verbose=0, batch_size=256)
    return float(res[-1] if isinstance(res, (list, tuple)) else res)


def _say_record(e: dict, say) -> None:
    """The export's decision, its latency against the dense encoding and its notes."""
    if e.get("decision"):
        say(f"    {e['decision']}")
    if e.get("latency_ms") is not None and e.get("dense_latency_ms") is not None:
        say(f"    latency {e['latency_ms']:.3f} ms (dense encoding {e['dense_latency_ms']:.3f} ms)")
    for note in e.get("notes", ()):
        say(f"    note: {note}")


def measure(model, job: Job, stage: str, tag: str, *, say=print) -> dict:
    """The job's metric (accuracy, or MAE for regression), size, MACs, per-layer counts and
    the exports of one variant."""
    entry = {"metric": job.metric, job.metric: _evaluate(model, job)}
    s = analysis.summary(model, print_fn=None)
    entry.update({k: s[k] for k in ("params", "nonzero_params", "sparsity", "macs")})
    entry["layers"] = {r["name"]: {"params": r["params"], "nonzero_params": r["nonzero_params"],
                                   "sparsity": round(r["sparsity"], 4)}
                       for r in s["layers"] if r["params"]}
    _save(model, os.path.join(stage, f"{tag}.keras"), job.keras3)
    x_cal = job.train_data[0][:200]
    entry["tflite"] = {}
    for fmt in job.export["tflite"]:
        say(f"  export {tag}: {fmt} .tflite")
        entry["tflite"][fmt] = _tflite_entry(model, stage, tag, fmt, x_cal, job)
        _say_record(entry["tflite"][fmt], say)
    if job.export["micro"]:
        say(f"  export {tag}: microcontroller (TFLM)")
        entry["micro"] = _micro_entry(model, stage, tag, x_cal)
    return entry


def quantize_aware_variant(model, job: Job, stage: str, *, quiet=False, say=print):
    """The recipe's ``quantize_aware`` step on the (plain) pruned ``model``:
    :func:`tfprune.quantize_aware` (zeros stay zero), ``epochs`` of training at
    ``learning_rate``, then the int8 .tflite measured like the post-training one.

    Returns ``(entry, history)``; ``entry`` holds the settings, the Keras (fake-quantised)
    metric, the fraction of zeros kept and ``tflite.int8`` (the file's record and metric).
    """

    cfg = {**DEFAULTS["quantize_aware"], **job.recipe.get("quantize_aware", {})}
    batch = cfg.get("batch_size", job.train["batch_size"])
    qat = quantization.quantize_aware(model)
    _compile(qat, cfg["learning_rate"], job.train["loss"], job.metric)
    hist = _fit(qat, *job.train_data, epochs=cfg["epochs"], batch_size=batch,
                desc="quantization-aware training", quiet=quiet)
    check_finite(qat, hist, "quantization-aware training", _DIVERGED)
    before, after = quantization.zero_fractions(model), quantization.zero_fractions(qat)
    entry = {"epochs": cfg["epochs"], "learning_rate": cfg["learning_rate"], "metric": job.metric,
             job.metric: _evaluate(qat, job, cfg["learning_rate"]),
             "zeros_before": round(float(np.mean(list(before.values()) or [0.0])), 4),
             "zeros_after": round(float(np.mean(list(after.values()) or [0.0])), 4)}
    say("  export pruned: int8 .tflite after quantization-aware training")
    entry["tflite"] = {"int8": _tflite_entry(qat, stage, "pruned_qat", "int8",
                                             job.train_data[0][:200], job)}
    _say_record(entry["tflite"]["int8"], say)
    return entry, hist


def finish(report: dict, stage: str, *, plots_on: bool = True) -> dict:
    """Plots, report.json and report.md into the stage folder."""
    report["plots"] = plots.all_plots(report, stage) if plots_on else []
    reports.write_report(stage, report)
    return report


class RunFailedError(errors.TfpruneError, RuntimeError):
    """A run started but gave no valid result (non-finite loss or weights, a refusal while
    training, pruning or exporting); the run folder holds ``failure.json``/``failure.md``.
    The CLI exits with code 1 (``exit_code``)."""

    exit_code = 1


def check_finite(model, history: dict | None, what: str, fix: str) -> None:
    """Refuse a model whose weights, or a history whose loss, are NaN/inf (a diverged run).

    Example:
        >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="d")])
        >>> check_finite(m, {"loss": [0.5, float("nan")]}, "dense training", "lower the rate")
        Traceback (most recent call last):
        ...
        tfprune.app.pipeline.RunFailedError: dense training: the loss became NaN/inf at epoch 2 \
(losses: 0.5, nan). lower the rate
    """
    losses = (history or {}).get("loss", [])
    bad = [i for i, v in enumerate(losses) if not np.isfinite(v)]
    if bad:
        shown = ", ".join(f"{v:.4g}" for v in losses[:8])
        raise RunFailedError(f"{what}: the loss became NaN/inf at epoch {bad[0] + 1} "
                             f"(losses: {shown}). {fix}")
    for layer in model.layers if model is not None else ():
        for w in layer.weights:
            v = np.asarray(w.numpy() if hasattr(w, "numpy") else w)
            if v.dtype.kind == "f" and not np.all(np.isfinite(v)):
                n = int(v.size - np.count_nonzero(np.isfinite(v)))
                raise RunFailedError(f"{what}: layer {layer.name!r} has {n:,} of {v.size:,} "
                                     f"NaN/inf values in {w.name}. {fix}")


_DIVERGED = ("Lower the learning rate (train.learning_rate / prune.learning_rate) or check "
             "the data; nothing non-finite was saved as a result model.")


def run_recipe(recipe: dict, out: str, *, quiet: bool = False, say=print,
               safe_mode: bool = True) -> dict:
    """Run a validated ``tfprune run`` recipe; write the run folder ``out`` atomically.

    Everything the recipe names is checked first (:func:`prepare`): those refusals leave
    ``out`` untouched. A run that starts and then fails with a tfprune error (the loss or the
    weights become NaN/inf, an export refuses the model) is never reported as a success: ``out``
    then holds only ``failure.json`` and ``failure.md`` saying where and why, and
    :class:`RunFailedError` is raised. ``safe_mode=False`` (the CLI's ``--unsafe``) allows
    a model file carrying Python code.

    Returns:
        The report dict (also ``out/report.json``).
    """
    start = time.time()
    folder = reports.RunFolder(out)  # checks --out before any work
    job = prepare(recipe, safe_mode=safe_mode)
    logger = _mlflow_logger(recipe)
    where = ["dense training"]
    try:
        with folder as stage, logger:
            return _run_steps(job, stage, start, logger, where, quiet=quiet, say=say)
    except errors.TfpruneError as exc:
        raise _record_failure(folder.out, recipe, where[0], exc, start) from None


def _run_steps(job, stage, start, logger, where, *, quiet, say):
    recipe = job.recipe
    say(f"[1/3] dense model: {job.train['epochs']} epochs")
    hist = {"dense": train(job, quiet=quiet, callbacks=logger.callbacks("dense"))}
    check_finite(job.model, hist["dense"], "dense training", _DIVERGED)
    where[0] = "measuring and exporting the dense model"
    variants = {"dense": measure(job.model, job, stage, "dense", say=say)}
    spec = job.prune
    where[0] = "running the sweep / sensitivity scan / allocation"
    extra, alloc = _analyse(job, stage, quiet=quiet, say=say)
    if "sweep" in recipe and "prune" not in recipe:
        return _finish_run(recipe, job, variants, hist, extra, stage, start, logger)
    how = "allocated" if alloc is not None else f"{spec['sparsity']:.0%}"
    say(f"[2/3] pruning: {spec['granularity']} at {how}")
    where[0] = "pruning"
    pruned, hist["pruned"], info = prune_variant(job.model, spec, job, quiet=quiet,
                                                 callbacks=logger.callbacks("prune"),
                                                 allocation=alloc)
    check_finite(pruned, hist["pruned"], "pruning", _DIVERGED)
    say("[3/3] measuring and exporting the pruned model")
    where[0] = "measuring and exporting the pruned model"
    variants["pruned"] = measure(pruned, job, stage, "pruned", say=say)
    variants["pruned"]["pruning"] = info
    if "quantize_aware" in recipe:
        say("[3/3] quantization-aware training (pruning-preserving, int8)")
        where[0] = "quantization-aware training"
        variants["pruned"]["qat"], hist["qat"] = quantize_aware_variant(
            pruned, job, stage, quiet=quiet, say=say)
    where[0] = "writing the report"
    return _finish_run(recipe, job, variants, hist, extra, stage, start, logger)


def _record_failure(out, recipe, where, exc, start) -> RunFailedError:
    """Write ``failure.json`` and ``failure.md`` as the run folder ``out``; the error to raise."""
    import json

    message = str(exc)
    record = {"status": "failed", "stage": where, "error": type(exc).__name__,
              "message": message, "seconds": round(time.time() - start, 1), "recipe": recipe}
    try:
        with reports.RunFolder(out) as stage:
            reports.write_text(os.path.join(stage, "failure.json"),
                               json.dumps(record, indent=2, default=str))
            reports.write_text(os.path.join(stage, "failure.md"),
                               f"# tfprune run failed\n\nStage: {where}\n\n"
                               f"{type(exc).__name__}: {message}\n\nNo result model was "
                               "written.\n")
        note = f" The run folder {out!r} holds failure.md."
    except (OSError, errors.TfpruneError) as write_exc:
        note = f" (The failure record could not be written: {write_exc}.)"
    return RunFailedError(f"run failed while {where}: {message}{note}")


def _finish_run(recipe, job, variants, hist, extra, stage, start, logger):
    report = {"title": f"tfprune run: {recipe.get('name', recipe['model'])}",
              "recipe": recipe, "resolved": {"train": job.train, "prune": job.prune,
                                             "export": job.export},
              "variants": variants, "history": hist, "seconds": None, **extra}
    report["seconds"] = round(time.time() - start, 1)
    finish(report, stage, plots_on=recipe.get("report", {}).get("plots", True))
    logger.log_report(report, stage)
    return report


def _analyse(job, stage, *, quiet, say):
    """Sweep, sensitivity scan and allocation when the recipe asks: ``(report_extra, alloc)``."""
    recipe, extra, alloc = job.recipe, {}, None
    if "sweep" in recipe:
        say("[2/3] sweep (tfprune.tuning.PruningTuner)")
        extra["sweep"] = sweep(job, stage, say=say)
    if "sensitivity" in recipe or "allocate" in recipe:
        say(f"[2/3] sensitivity scan ({_unit_granularity(job.prune)} units)")
        res, extra["sensitivity"] = sensitivity_scan(job, quiet=quiet)
        extra["sensitivity_metric"] = res.metric
        if "allocate" in recipe:
            alloc = _allocate(job.model, recipe, job.prune, res)
            extra["allocation"] = alloc.to_dict()
            say(f"  allocated {alloc.target[0]} <= {alloc.target[1]:,}: predicted "
                + ", ".join(f"{k} {v:,.4g}" for k, v in alloc.predicted.items()
                            if v is not None))
    return extra, alloc


def _mlflow_logger(recipe):
    return mlflow_lib.RunLogger(recipe.get("mlflow"), recipe)
