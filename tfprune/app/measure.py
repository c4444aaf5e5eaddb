"""Measuring one variant of a ``tfprune run``: the job's metric in Keras and in LiteRT, size,
MACs, per-layer counts, the .tflite and microcontroller exports and their records.

Example:
    >>> sorted(QUANTIZE)
    ['dynamic', 'float', 'float16', 'int8']
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import tensorflow as tf

from tfprune import analysis, compat, export
from tfprune import task as task_lib
from tfprune.app import multi, outputs, recipes
from tfprune.app.job import Job

__all__ = ["measure", "evaluate", "litert_metric", "tflite_entry", "micro_entry", "save_model",
           "say_record", "QUANTIZE"]

QUANTIZE = {"float": None, "int8": "int8", "dynamic": "dynamic", "float16": "float16"}


def litert_metric(path, x, y, job: Job, chunk=256):
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


def tflite_entry(model, stage, tag, fmt, x_cal, job: Job):
    xte, yte = job.test_data
    runs = job.export["latency_runs"]
    path = os.path.join(stage, f"{tag}_{fmt}.tflite")
    rec, warned = _quiet_export(model, path, QUANTIZE[fmt], x_cal)
    e = {"file": os.path.basename(path), "bytes": rec.bytes, "gzip_bytes": rec.gzip_bytes,
         "sparse": rec.sparse, "max_abs_error_vs_keras": rec.verification.get("max_abs_error"),
         "top1_vs_keras": rec.verification.get("top1_agreement"),
         "decision": rec.decision, "resolver": rec.resolver, "kernels": rec.kernels,
         "notes": [*rec.notes, *warned]}
    if job.measures:  # several outputs: each one's error vs Keras and its measures
        e["vs_keras"] = rec.verification.get("outputs")
        values = multi.litert_values(path, xte, yte, outputs.output_names(job.model),
                                     job.measures)
        e[job.metric] = values.pop(job.metric)
        e["outputs"] = values
    else:
        e[job.metric] = litert_metric(path, xte, yte, job)
    if runs:
        e["latency_ms"] = rec.latency_ms
        e["dense_latency_ms"] = rec.dense_latency_ms
        if rec.latency_ms is None:
            e["latency_ms"] = export.latency(path, runs=runs, warmup=min(10, runs)).median_ms
    return e


def micro_entry(model, stage, tag, x_cal, compress=None, arena=None):
    rec = export.micro(model, os.path.join(stage, f"micro_{tag}"), representative_data=x_cal,
                       name=tag.replace("-", "_"), overwrite=True, compress=compress,
                       arena=arena)
    comp = rec.compression or {}
    return {"folder": f"micro_{tag}", "flash_bytes": rec.flash_bytes,
            "compress": compress, "arena_limit": arena,
            "dense_flash_bytes": comp.get("dense_bytes"),
            "encodings": {t["name"]: t["encoding"] for t in comp.get("tensors", [])},
            "arena_bytes": rec.arena_bytes, "ops": list(rec.ops),
            "top1_vs_keras": (rec.vs_keras or {}).get("top1_agreement"),
            "max_step_diff_vs_litert": rec.tflm_vs_litert.get("max_step_diff")}


def save_model(model, path, keras3: bool) -> None:
    """Keras 3 in, Keras 3 out: a model loaded from a Keras 3 file is saved as Keras 3."""
    if keras3 and not compat.is_keras3_object(model):
        model = compat.to_keras3(model)
    model.save(path)


def evaluate(model, job: Job, lr=1e-3, per_output=None) -> float:
    """``job.metric`` of the Keras model on the test set (the loss for ``"loss"``); for
    several outputs, each output's measures are put in the dict ``per_output``."""
    xte, yte = job.test_data
    job.compile(model, lr)
    if job.measures:
        values = multi.keras_values(model, xte, yte, job.measures,
                                    outputs.output_names(job.model))
        value = values.pop(job.metric)
        if per_output is not None:
            per_output.update(values)
        return value
    res = model.evaluate(xte, yte, verbose=0, batch_size=256)
    return float(res[-1] if isinstance(res, (list, tuple)) else res)


def say_record(e: dict, say) -> None:
    """The export's decision, its latency against the dense encoding and its notes.

    Example:
        >>> say_record({"decision": "dense int8", "notes": ["no sparse kernels"]}, print)
            dense int8
            note: no sparse kernels
    """
    if e.get("decision"):
        say(f"    {e['decision']}")
    if e.get("latency_ms") is not None and e.get("dense_latency_ms") is not None:
        say(f"    latency {e['latency_ms']:.3f} ms (dense encoding {e['dense_latency_ms']:.3f} ms)")
    for note in e.get("notes", ()):
        say(f"    note: {note}")


def measure(model, job: Job, stage: str, tag: str, *, say=print) -> dict:
    """The job's metric (accuracy, or MAE for regression), size, MACs, per-layer counts and
    the exports of one variant."""
    per = {}
    entry = {"metric": job.metric, job.metric: evaluate(model, job, per_output=per)}
    if per:
        entry["outputs"] = per
    s = analysis.summary(model, print_fn=None)
    entry.update({k: s[k] for k in ("params", "nonzero_params", "sparsity", "macs")})
    entry["layers"] = {r["name"]: {"params": r["params"], "nonzero_params": r["nonzero_params"],
                                   "sparsity": round(r["sparsity"], 4)}
                       for r in s["layers"] if r["params"]}
    save_model(model, os.path.join(stage, f"{tag}.keras"), job.keras3)
    x_cal = job.train_data[0][:200]
    entry["tflite"] = {}
    for fmt in job.export["tflite"]:
        say(f"  export {tag}: {fmt} .tflite")
        entry["tflite"][fmt] = tflite_entry(model, stage, tag, fmt, x_cal, job)
        say_record(entry["tflite"][fmt], say)
    micro = recipes.micro_options(job.export["micro"])
    if micro is not None:
        how = f", {micro['compress']} compression" if micro["compress"] else ""
        say(f"  export {tag}: microcontroller (TFLM{how})")
        entry["micro"] = micro_entry(model, stage, tag, x_cal, **micro)
    return entry

