"""The training steps of a ``tfprune run``: dense training, pruning a variant (weights with
``prune`` + ``PruningCallback`` + ``strip``; channels gradually or with a plan, then
``shrink``), optional distillation from the dense teacher, and quantization-aware training.

Example:
    >>> granularity_args({"granularity": "n:m", "n_m": [1, 4]})
    {'granularity': '1:4'}
"""

from __future__ import annotations

import numpy as np

from tfprune import callbacks, compat, graph, masking, quantization, structured
from tfprune.app.job import DEFAULTS, DIVERGED, Job, check_finite
from tfprune.app.measure import evaluate, say_record, tflite_entry
from tfprune.app.outputs import head
from tfprune.app.progress import TqdmProgress
from tfprune.callbacks import PruningCallback
from tfprune.core.criteria import granularity as granularity_spec
from tfprune.core.schedules import AGP

__all__ = ["train", "fit", "prune_variant", "quantize_aware_variant", "granularity_args"]


def granularity_args(spec):
    """The ``granularity`` keyword argument of a ``prune`` spec: one value (a recipe's
    ``n_m``/``block`` keys folded into ``"N:M"``/``"block:RxC"``)."""
    unit = granularity_spec.from_pairs(spec["granularity"], spec.get("n_m"), spec.get("block"))
    return {"granularity": str(unit)}


def fit(model, x, y, *, epochs, batch_size, desc, quiet, callbacks=()):
    """``model.fit`` with a progress bar; the history as plain floats (``{}`` for 0 epochs).

    Example:
        >>> fit(None, np.zeros((4, 2)), np.zeros(4), epochs=0, batch_size=2, desc="", quiet=True)
        {}
    """
    if epochs <= 0:
        return {}
    steps = int(np.ceil(len(x) / batch_size))
    hist = model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0,
                     callbacks=[*callbacks, TqdmProgress(epochs, steps, desc, quiet)])
    return {k: [float(v) for v in vs] for k, vs in hist.history.items()}


def train(job: Job, *, quiet=False, callbacks=()):
    """Dense training (``train.epochs``; 0 keeps the loaded weights). Returns the history."""
    t = job.train
    job.compile(job.model, t["learning_rate"])
    return fit(job.model, *job.fit_data(), epochs=t["epochs"], batch_size=t["batch_size"],
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


# training samples a one-shot weight cut calibrates on (criteria scoring from data, the
# Hessians of sparsegpt/obs, compensate's BatchNormalization statistics)
CALIBRATION_SAMPLES = 512


def _prune_weights(model, spec, job, quiet, callbacks, allocation=None):
    """Weights (N:M, blocks): gradually with an AGP schedule over ``epochs`` of training, or,
    with ``schedule: one_shot``, cut once by :func:`tfprune.one_shot` on the first
    :data:`CALIBRATION_SAMPLES` training samples (``compensate`` as there), then fine-tuned
    for ``epochs`` (0: not at all) with the masks held."""
    x, y = job.train_data
    batch = spec.get("batch_size", job.train["batch_size"])
    scope = spec["scope"] if allocation is None else allocation
    if spec["schedule"] == "one_shot":
        n = CALIBRATION_SAMPLES
        sparsity = None if allocation is not None or spec["granularity"] == "n:m" \
            else spec["sparsity"]
        pruned = masking.one_shot(model, sparsity, criterion=spec.get("criterion", "magnitude"),
                                  scope=scope, exclude=spec.get("exclude"), data=(x[:n], head(y, n)),
                                  compensate=spec.get("compensate", False),
                                  **granularity_args(spec))
        epochs, info = spec["epochs"], {"schedule": "one_shot", "calibration_samples": len(x[:n])}
    else:
        steps = int(np.ceil(len(x) / batch))
        end = max(1, int(spec["ramp_fraction"] * max(1, spec["epochs"]) * steps))
        final = spec["sparsity"] if allocation is None else max(allocation.values())
        schedule = AGP(final, begin_step=0, end_step=end, frequency=spec["frequency"])
        pruned = masking.prune(model, schedule=schedule, scope=scope,
                               criterion=spec.get("criterion", "magnitude"),
                               exclude=spec.get("exclude"), **granularity_args(spec))
        epochs, info = max(1, spec["epochs"]), {"schedule": schedule.get_config()}
    fitted, pruned = _with_teacher(pruned, model, spec, job)
    job.compile(fitted, spec.get("learning_rate", job.train["learning_rate"]))
    hist = fit(fitted, *job.fit_data(), epochs=epochs, batch_size=batch, desc="pruning weights",
               quiet=quiet, callbacks=[PruningCallback(per_layer=False), *callbacks])
    return masking.strip(pruned), hist, info


def _one_shot_plan(spec, allocation) -> bool:
    """Channels chosen once then fine-tuned (an allocation, round_to/min_channels, or asked)."""
    return (allocation is not None or spec["schedule"] == "one_shot" or spec["round_to"] != 1
            or spec["min_channels"] != 1)


def _prune_channels_gradual(model, spec, job, quiet, callbacks):
    x = job.train_data[0]
    batch = spec.get("batch_size", job.train["batch_size"])
    end = max(1, int(spec["ramp_fraction"] * max(1, spec["epochs"]) * np.ceil(len(x) / batch)))
    schedule = AGP(spec["sparsity"], begin_step=0, end_step=end, frequency=spec["frequency"])
    pruned = masking.prune(model, schedule=schedule, granularity="channel", scope=spec["scope"],
                           criterion=spec.get("criterion", "l2"), exclude=spec.get("exclude"))
    fitted, pruned = _with_teacher(pruned, model, spec, job)
    job.compile(fitted, spec.get("learning_rate", job.train["learning_rate"]))
    hist = fit(fitted, *job.fit_data(), epochs=max(1, spec["epochs"]), batch_size=batch,
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
    job.compile(fitted, spec.get("learning_rate", job.train["learning_rate"]))
    hist = fit(fitted, *job.fit_data(), epochs=spec["epochs"],
                batch_size=spec.get("batch_size", job.train["batch_size"]),
                desc="fine-tuning channels", quiet=quiet, callbacks=callbacks)
    kept = {g: f"{len(k)}/{p.channels[g]}" for g, k in p.keep.items()}
    return small, hist, {"channels_removed": p.removed, "channels_kept": kept}


def prune_variant(model, spec: dict, job: Job, *, quiet=False, callbacks=(), allocation=None):
    """Prune a copy of ``model`` as ``spec`` (or an ``allocate`` result) says; returns
    ``(plain_model, history, info)``."""
    fn = _prune_channels if spec["granularity"] == "channel" else _prune_weights
    return fn(model, spec, job, quiet, callbacks, allocation)


def quantize_aware_variant(model, job: Job, stage: str, *, quiet=False, say=print):
    """The recipe's ``quantize_aware`` step on the (plain) pruned ``model``:
    :func:`tfprune.quantize_aware` (zeros stay zero), ``epochs`` of training at
    ``learning_rate``, then the int8 .tflite measured like the post-training one.

    Returns ``(entry, history)``; ``entry`` holds the settings, the Keras (fake-quantised)
    metric, the fraction of zeros kept and ``tflite.int8`` (the file's record and metric).
    """

    cfg = {**DEFAULTS["quantize_aware"], **job.recipe.get("quantize_aware", {})}
    batch = cfg.get("batch_size", job.train["batch_size"])
    qat = quantization.quantize_aware(model, representative_data=job.train_data[0][:200])
    job.compile(qat, cfg["learning_rate"])
    hist = fit(qat, *job.fit_data(), epochs=cfg["epochs"], batch_size=batch,
                desc="quantization-aware training", quiet=quiet)
    check_finite(qat, hist, "quantization-aware training", DIVERGED)
    before, after = quantization.zero_fractions(model), quantization.zero_fractions(qat)
    entry = {"epochs": cfg["epochs"], "learning_rate": cfg["learning_rate"], "metric": job.metric,
             job.metric: evaluate(qat, job, cfg["learning_rate"]),
             "zeros_before": round(float(np.mean(list(before.values()) or [0.0])), 4),
             "zeros_after": round(float(np.mean(list(after.values()) or [0.0])), 4)}
    say("  export pruned: int8 .tflite after quantization-aware training")
    entry["tflite"] = {"int8": tflite_entry(qat, stage, "pruned_qat", "int8",
                                             job.train_data[0][:200], job)}
    say_record(entry["tflite"]["int8"], say)
    return entry, hist

