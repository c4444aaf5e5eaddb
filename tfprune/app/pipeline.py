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

import os
import time

from tfprune import analysis, compat, errors, masking, structured
from tfprune import task as task_lib
from tfprune.app import compiled, models, multi, outputs, plots, reports
from tfprune.app import data as data_lib
from tfprune.app import mlflow as mlflow_lib
from tfprune.app.job import (
    DEFAULTS,
    DIVERGED,
    Job,
    RunFailedError,
    check_finite,
    compile_model,
    section,
)
from tfprune.app.measure import measure
from tfprune.app.training import granularity_args, prune_variant, quantize_aware_variant, train
from tfprune.compat import keras
from tfprune.core.criteria import granularity as granularity_spec

# The steps (train, prune_variant, measure, quantize_aware_variant, finish) are looked up in
# this module's namespace when a run goes, so a test can stand one in (monkeypatch).
__all__ = ["Job", "prepare", "train", "prune_variant", "measure", "quantize_aware_variant",
           "run_recipe", "check_finite", "resolve_metric", "RunFailedError", "DEFAULTS"]


def check_prune_options(model, spec: dict) -> None:
    """Refuse bad pruning options on the untrained model (cheap), before any training."""

    errors.check_sparsity(spec["sparsity"], "prune.sparsity")
    if spec.get("compensate") and (spec["schedule"] != "one_shot"
                                   or spec["granularity"] == "channel"):
        raise errors.ConfigError(
            "prune.compensate: true re-estimates statistics after a one-shot weight cut: it "
            "needs prune.schedule: one_shot and granularity weight, n:m or block (got "
            f"schedule {spec['schedule']!r}, granularity {spec['granularity']!r}). Set "
            "schedule: one_shot, or remove compensate (training re-estimates them anyway).")
    if spec["granularity"] == "channel":
        crit = spec.get("criterion", "l2")
        structured.plan(model, sparsity=spec["sparsity"], criterion=crit, scope=spec["scope"],
                        round_to=spec["round_to"], min_channels=spec["min_channels"],
                        exclude=spec.get("exclude"))
    else:
        masking.prune(model, sparsity=spec["sparsity"], scope=spec["scope"],
                      criterion=spec.get("criterion", "magnitude"), exclude=spec.get("exclude"),
                      **granularity_args(spec))


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
    if multi.is_several(model):
        multi.check_recipe(recipe, outputs.output_names(model))
    try:
        check_finite(model, None, f"model {recipe['model']!r}", "Give a model with finite "
                     "weights (re-train it or save it again from a good checkpoint).")
    except RunFailedError as exc:
        raise errors.ConfigError(str(exc)) from None
    (xtr, ytr), (xte, yte) = data_lib.load_data(recipe["data"], seed, task=recipe.get("task"))
    xtr, xte = data_lib.for_model(model, xtr), data_lib.for_model(model, xte)
    task, loss = recipe.get("task"), recipe.get("train", {}).get("loss")
    if isinstance(ytr, dict) and not multi.is_several(model):  # y_<output> of its one output
        outputs.check_labels(model, ytr, f"data {recipe['data']['source']!r}")
        ytr, yte = next(iter(ytr.values())), next(iter(yte.values()))
    for part, x, y in (("train", xtr, ytr), ("test", xte, yte)):
        source = f"data {recipe['data']['source']!r} ({part})"
        if multi.is_several(model):
            data_lib.check_input(model, x, None, source=source)
            multi.check_targets(model, y, source)
        else:
            data_lib.check_input(model, x, y, source=source, task=task, loss=loss)
    train_cfg, out_task, metric, measures = _train_and_measure(recipe, model, ytr)
    prune_cfg = section(recipe, "prune")
    prune_cfg.update(_granularity_keys(prune_cfg))
    if prune_cfg["granularity"] == "n:m" and "sparsity" not in recipe.get("prune", {}):
        n, m = prune_cfg["n_m"]
        prune_cfg["sparsity"] = 1 - n / m
    check_prune_options(model, prune_cfg)
    if "allocate" in recipe:
        _allocate(model, recipe, prune_cfg, None)  # an unreachable target: refused now

    job = Job(recipe, model, (xtr, ytr), (xte, yte), train_cfg, prune_cfg,
              section(recipe, "export"), seed, keras3=compat.is_from_keras3(model),
              task=out_task, metric=metric, measures=measures)
    if "sweep" in recipe:  # the tuner checks its space and options before any trial
        import shutil
        import tempfile

        probe = tempfile.mkdtemp(prefix="tfprune-sweep-check-")
        try:
            _sweep_tuner(job, probe)
        finally:
            shutil.rmtree(probe, ignore_errors=True)
    return job


def _train_and_measure(recipe, model, ytr):
    """The resolved ``train`` section and what the run measures: ``(train_cfg, task of the
    first output, metric, measures)``; ``measures`` (several outputs only) as
    :func:`tfprune.app.multi.measures`, the model compiled with the run's losses."""
    task, loss = recipe.get("task"), recipe.get("train", {}).get("loss")
    epochs = 0 if models.is_model_path(recipe["model"]) else DEFAULTS["train"]["epochs"]
    if multi.is_several(model):
        train_cfg = section(recipe, "train", epochs=epochs)
        train_cfg["loss"] = multi.losses(model, loss, ytr)
        train_cfg["loss_weights"] = multi.loss_weights(model)
        metric = recipe.get("metric", "loss")
        compile_model(model, train_cfg["learning_rate"], train_cfg["loss"], metric,
                      train_cfg["loss_weights"])
        measures = multi.measures(model, metric, ytr)
        sens = recipe.get("sensitivity", {}).get("metric")
        if sens is not None:
            multi.measures(model, sens, outputs.head(ytr, 8))  # refused now, not after training
        t = task_lib.resolve(model, [ytr[n] for n in outputs.output_names(model)])[0]
        return train_cfg, t, metric, measures
    if isinstance(loss, dict):
        raise errors.ConfigError("train.loss: a loss per output is for models with several "
                                 f"outputs; model {recipe['model']!r} has one. Give one name.")
    loss = loss or compiled.user_loss(model)  # the recipe's, else the model's compile state
    train_cfg = section(recipe, "train", epochs=epochs,
                        loss=loss or data_lib.default_loss(model, ytr, task))
    _check_loss(train_cfg["loss"])
    out_task, metric = resolve_metric(model, ytr, train_cfg["loss"], task, recipe.get("metric"))
    if recipe.get("sensitivity", {}).get("metric") is not None:
        task_lib.metric(out_task, recipe["sensitivity"]["metric"])  # refused before training
    return train_cfg, out_task, metric, None


def resolve_metric(model, y, loss, task=None, chosen=None):
    """The task of the model's first output (:func:`tfprune.task.resolve`) and the metric a
    run measures on it: ``chosen`` (the recipe's ``metric:``), else the one the model was
    compiled with (:mod:`tfprune.app.compiled`),
    else accuracy for class scores and binary outputs, ``mae`` for regression, the loss when
    the task cannot be told.

    Example:
        >>> import numpy as np
        >>> m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, name="price")])
        >>> t, metric = resolve_metric(m, np.array([6.5, 9.0]), "mse")
        >>> t.kind, metric
        ('regression', 'mae')
    """
    t = task_lib.resolve(model, y, loss=loss, task=task)[0]
    if chosen is not None:
        task_lib.metric(t, chosen)  # refuses a metric that cannot apply, naming the output
        return t, chosen
    chosen = compiled.user_metric(model, y, task)
    return t, chosen or (task_lib.default_metrics(t.kind) or ("loss",))[0]


def _granularity_keys(prune_cfg) -> dict:
    """The recipe's granularity read once (a name, ``"N:M"``, ``"block:RxC"``, or a name with
    the ``n_m``/``block`` keys): its name and pairs, in the keys the run uses."""
    unit = granularity_spec.from_pairs(prune_cfg["granularity"], prune_cfg.get("n_m"),
                                       prune_cfg.get("block"))
    keys = {"granularity": unit.name}
    if unit.name == "n:m":
        keys["n_m"] = list(unit.n_m)
    if unit.name == "block":
        keys["block"] = list(unit.block)
    return keys


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
    target = next(iter(target.items()))  # the recipe's {name: value} -> target=(name, value)
    if result is None:
        return analysis.allocate(model, target=target, method="uniform",
                                 granularity=_unit_granularity(prune_cfg))
    return analysis.allocate(result, target=target,
                             method=recipe["allocate"].get("method", "sensitivity"))


def sensitivity_scan(job: Job, *, quiet=False):
    """The recipe's sensitivity scan on the trained model; ``(result, curves_for_report)``."""

    cfg = job.recipe.get("sensitivity", {})
    n = cfg.get("samples", 256)
    x, y = job.test_data
    kwargs = {"levels": tuple(cfg.get("levels", (0.25, 0.5, 0.75, 0.9))),
              "metric": cfg.get("metric", job.metric), "progress": not quiet}
    if "criterion" in cfg:
        kwargs["criterion"] = cfg["criterion"]
    res = analysis.sensitivity(job.model, (x[:n], outputs.head(y, n)),
                               granularity=_unit_granularity(job.prune), **kwargs)
    curves = {u: [[0.0, res.baseline]] + [[float(lv), float(v)] for lv, v in zip(res.levels, c, strict=True)]
              for u, c in res.curves.items()}
    return res, curves


def _sweep_tuner(job: Job, directory: str):
    from tfprune import tuning  # keras-tuner (imports Keras 3: seconds) only for sweeps

    cfg = job.recipe["sweep"]
    options = tuning.SweepOptions(loss=job.train["loss"], batch_size=job.train["batch_size"],
                                  seed=job.seed, tensorboard=False,
                                  measure=tuple(cfg.get("measure", ())),
                                  loss_weights=job.train.get("loss_weights"), overwrite=True)
    return tuning.PruningTuner(job.model, cfg.get("space"), oracle=cfg.get("oracle", "random"),
                               objective=cfg.get("objective") or _several_quality(job),
                               max_trials=cfg.get("max_trials", 6), directory=directory,
                               project_name="sweep", options=options)


def _several_quality(job: Job):
    """For a model with several outputs, what the sweep optimises by default: the run's
    ``metric:`` on the validation data (``val_loss``, the weighted total, or
    ``val_<output>_<metric>``); None (the tuner's default) for one output."""
    return f"val_{job.metric}" if job.measures is not None else None


def sweep(job: Job, stage: str, *, say=print, quiet=False) -> dict:
    """The recipe's sweep (:class:`tfprune.tuning.PruningTuner`) on the trained model; the
    trials and Pareto set for the report (``report["sweep"]``)."""
    cfg = job.recipe["sweep"]
    tuner = _sweep_tuner(job, stage)
    tuner.search(*job.train_data, validation_data=job.test_data, verbose=0 if quiet else 1)
    quality = cfg.get("quality") or _several_quality(job) or tuner.quality
    cost = cfg.get("cost", "macs")
    rows = [dict(r) for r in tuner.results()]
    front = tuner.pareto(quality, cost)
    ids = [r.get("trial_id") for r in front]
    say(f"  {len(rows)} trials, {len(front)} on the Pareto front ({quality} vs {cost})")
    return {"quality": quality, "cost": cost, "trials": rows,
            "pareto": [i for i, r in enumerate(rows) if r.get("trial_id") in ids]}


def finish(report: dict, stage: str, *, plots_on: bool = True) -> dict:
    """Plots, report.json and report.md into the stage folder."""
    report["plots"] = plots.all_plots(report, stage) if plots_on else []
    reports.write_report(stage, report)
    return report


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
    check_finite(job.model, hist["dense"], "dense training", DIVERGED)
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
    check_finite(pruned, hist["pruned"], "pruning", DIVERGED)
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
        extra["sweep"] = sweep(job, stage, say=say, quiet=quiet)
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
