"""The work behind ``tfprune inspect``, ``shrink``, ``export`` and ``report``.

Example:
    >>> from tfprune.app.data import demo_cnn
    >>> info = inspect_model(demo_cnn())
    >>> info["macs"] > 2_000_000, [g["name"] for g in info["groups"] if g["prunable"]]
    (True, ['conv1', 'conv2', 'fc1'])
"""

from __future__ import annotations

import json
import os
import tempfile

from tfprune import analysis, errors, export, graph, layers, structured
from tfprune.app import compiled, models, outputs, plots, reports
from tfprune.app import data as data_lib
from tfprune.app.flags import ExportFlags

__all__ = ["inspect_model", "render", "advise", "shrink_model", "check_model_out", "save_model_atomic",
           "export_model", "combine_reports", "write_combined", "sensitivity_report", "outputs_line"]


def _weights_row(layer) -> dict:
    names = layers.prunable_weight_names(layer)
    if names:
        return {"layer": layer.name, "type": type(layer).__name__, "prunable": names}
    if layer.weights:
        why = ("no rule for this layer type (tfprune.register(cls, [...weight names]))"
               if names is None else "its weights are not pruned (biases, norms, embeddings)")
        return {"layer": layer.name, "type": type(layer).__name__, "prunable": [], "why_not": why}
    return None


def _all(model):
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.weights and layer is not model:
            yield from _all(layer)
        else:
            yield layer


def inspect_model(model) -> dict:
    """Params, MACs, per-layer prunable weights and the channel groups (prunable or why not)."""

    s = analysis.summary(model, print_fn=None)
    info = {"name": model.name, "input_shape": list(model.inputs[0].shape[1:]),
            "params": s["params"], "nonzero_params": s["nonzero_params"], "macs": s["macs"],
            "layers": [r for r in (_weights_row(x) for x in _all(model)) if r]}
    try:
        g = graph.build(model)
        info["groups"] = [{"name": x.name, "channels": x.channels, "prunable": x.prunable,
                           "layers": x.layers(), "why_not": list(x.pinned_by)} for x in g]
        info["channel_pruning"] = None
    except errors.TfpruneError as exc:
        info["groups"] = []
        info["channel_pruning"] = str(exc)
    info["summary_table"] = s
    return info


def render(info: dict) -> str:
    """The text shown by ``tfprune inspect``."""
    out = [f"model {info['name']!r}: input {tuple(info['input_shape'])}, "
           f"{info['params']:,} params ({info['nonzero_params']:,} non-zero), "
           f"{info['macs']:,} MACs per sample", "", "Weights (unstructured, n:m, block pruning):"]
    for r in info["layers"]:
        what = ", ".join(r["prunable"]) if r["prunable"] else "not prunable: " + r["why_not"]
        out.append(f"  {r['layer']:<28} {r['type']:<22} {what}")
    out += ["", "Channel groups (structured pruning + shrink):"]
    if info["channel_pruning"]:
        out.append("  not available: " + info["channel_pruning"])
    for g in info["groups"]:
        state = "prunable" if g["prunable"] else "kept: " + "; ".join(g["why_not"])
        out.append(f"  {g['name']:<28} {g['channels']:>5} channels  {state}  "
                   f"({len(g['layers'])} layers)")
    n = sum(g["prunable"] for g in info["groups"])
    out.append(f"  {n} of {len(info['groups'])} groups prunable")
    return "\n".join(out)


def advise(model, *, target: str = "all"):
    """``tfprune inspect --advise``: :func:`tfprune.export.advise` (predicted, not measured).

    Example:
        >>> from tfprune.app.data import demo_cnn
        >>> rows = advise(demo_cnn(), target="micro").rows
        >>> sorted({r["pattern"] for r in rows})
        ['DECODE prune', 'channels']
    """

    return export.advise(model, target=target)


def check_model_out(out, *, overwrite: bool, source: str) -> str:
    """``--out`` for a model file: .keras/.h5, not the input, not a folder, writable."""
    path = os.path.abspath(out)
    if not path.endswith((".keras", ".h5")):
        raise errors.ConfigError(f"--out {out!r}: give a .keras or .h5 file name.")
    if os.path.isdir(path):
        raise errors.ConfigError(f"--out {out!r} is a folder; give a .keras file name.")
    if os.path.exists(source) and os.path.realpath(source) == os.path.realpath(path):
        raise errors.ConfigError(f"--out {out!r} is the input model; write a new file.")
    if os.path.exists(path) and not overwrite:
        raise errors.ConfigError(f"--out {out!r} exists; pass --overwrite to replace it.")
    folder = os.path.dirname(path)
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        raise errors.ConfigError(f"--out {out!r}: the folder {folder!r} does not exist or is "
                                 "not writable.")
    return path


def save_model_atomic(model, path: str) -> None:
    """Save next to ``path`` under a temporary name, then rename (never a half-written file)."""
    folder, name = os.path.split(path)
    tmp = tempfile.mkdtemp(prefix=".tfprune-", dir=folder)
    try:
        model.save(os.path.join(tmp, name))
        os.replace(os.path.join(tmp, name), path)
    finally:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


def shrink_model(model, *, sparsity, criterion="l2", scope="layer", round_to=1, exclude=()):
    """Plan (or read the zero channels when ``sparsity`` is None), mask and shrink.

    Returns ``(small_model, summary_before, summary_after, channels_removed)``.
    """

    before = analysis.summary(model, print_fn=None)
    if sparsity is None:
        small = structured.shrink(model)
    else:
        errors.check_sparsity(sparsity, "--sparsity")
        p = structured.plan(model, sparsity=sparsity, criterion=criterion, scope=scope,
                            round_to=round_to, exclude=list(exclude) or None)
        small = structured.shrink(structured.apply_masks(model, p), p)
    after = analysis.summary(small, print_fn=None)
    removed = _channels(model) - _channels(small)
    return small, before, after, removed


def _channels(model) -> int:
    return sum(int(g.channels) for g in graph.build(model))


def _representative(model, data_source, image_size):
    if data_source is None:
        return None

    spec = {"source": data_source}
    if image_size:
        try:
            spec["image_size"] = [int(s) for s in image_size.split(",")]
        except ValueError:
            spec["image_size"] = []
        if len(spec["image_size"]) != 2 or min(spec["image_size"]) < 1:
            raise errors.ConfigError(f"--image-size {image_size!r}: give height,width as two "
                                     "positive integers, e.g. 96,96.")
    (x, _), _ = data_lib.load_data(spec)
    if model is not None:
        x = data_lib.for_model(model, x)
        data_lib.check_input(model, x, source=f"--data {data_source!r}")
    return x[:300]


def export_model(model, flags: ExportFlags) -> dict:
    """``tfprune export``: checks the model and data, then exports and returns a summary.

    ``flags.micro`` (``--compress``/``--arena``) is refused with ``fmt="tflite"``."""
    micro, fmt, out, overwrite = flags.micro, flags.fmt, flags.out, flags.overwrite
    if micro and fmt != "micro":
        raise errors.ConfigError(f"--compress/--arena apply to --format micro, not --format "
                                 f"{fmt}: drop them or add --format micro.")

    is_tflite = model.endswith(".tflite")
    if is_tflite and not os.path.isfile(model):
        raise errors.ConfigError(f"Model {model!r} does not exist.")
    keras_model = None if is_tflite else models.load_model(model, safe_mode=not flags.unsafe)
    x = _representative(keras_model, flags.data_source, flags.image_size)
    if fmt == "micro":
        if x is None and not is_tflite:
            raise errors.ConfigError("--format micro quantizes to int8: give --data (e.g. "
                                     "--data mnist5k or --data my_data.npz).")
        rec = export.micro(model if is_tflite else keras_model, out, representative_data=x,
                           overwrite=overwrite, **micro)
        encodings = sorted({t["encoding"] for t in (rec.compression or {}).get("tensors", [])})
        return {"folder": rec.out_dir, "flash_bytes": rec.flash_bytes,
                **({"encodings": ", ".join(encodings)} if micro.get("compress") else {}),
                "arena_bytes": rec.arena_bytes, "ops": ", ".join(rec.ops),
                "tflm_vs_litert_max_step_diff": rec.tflm_vs_litert.get("max_step_diff")}
    if is_tflite:
        raise errors.ConfigError(f"{model!r} is already a .tflite file; export --format micro "
                                 "takes it, --format tflite needs a Keras model.")
    q = None if flags.quantize == "float" else flags.quantize
    if q == "int8" and x is None:
        raise errors.ConfigError("--quantize int8 needs --data for calibration (e.g. --data "
                                 "mnist5k).")
    rec = export.tflite(keras_model, out, quantize=q, representative_data=x, overwrite=overwrite)
    result = {"file": rec.path, "bytes": rec.bytes, "gzip_bytes": rec.gzip_bytes,
              "sparse": rec.sparse, "max_abs_error_vs_keras": rec.verification.get("max_abs_error"),
              "decision": rec.decision}
    result.update(_per_output_errors(rec.verification))
    if flags.latency_runs:
        result["latency_ms"] = round(export.latency(rec.path, runs=flags.latency_runs).median_ms,
                                     4)
        if rec.dense_latency_ms is not None:
            result["dense_encoding_latency_ms"] = round(rec.dense_latency_ms, 4)
    for i, note in enumerate(rec.notes):
        result[f"note {i + 1}"] = note
    return result


def combine_reports(folders) -> dict:
    """One report whose variants are every run's variants, named ``<run>/<variant>``."""
    variants, notes = {}, []
    for folder in folders:
        path = os.path.join(folder, "report.json")
        failed = os.path.join(folder, "failure.json")
        if not os.path.exists(path) and os.path.exists(failed):
            raise errors.ConfigError(f"{folder!r} holds a failed run (see failure.md in it); "
                                     "there are no results to show. Fix what it says and "
                                     "run it again.")
        try:
            with open(path, encoding="utf-8") as f:
                rep = json.load(f)
        except (OSError, ValueError) as exc:
            raise errors.ConfigError(f"{folder!r} is not a tfprune run folder (report.json: "
                                     f"{exc}).") from None
        if "variants" not in rep:
            raise errors.ConfigError(f"{path!r} was written by an older tfprune (no "
                                     "'variants'); re-run it.")
        run = os.path.basename(os.path.normpath(folder))
        for name, v in rep["variants"].items():
            variants[name if len(folders) == 1 else f"{run}/{name}"] = v
        notes.append(f"{run}: {rep.get('title', '')}")
    return {"title": "tfprune report", "variants": variants, "notes": notes}


def write_combined(report: dict, out) -> None:
    """Write a combined report folder atomically (report.json, report.md, plots)."""

    with reports.RunFolder(out) as stage:
        report["plots"] = plots.all_plots(report, stage)
        reports.write_report(stage, report)


def _per_output_errors(verification: dict) -> dict:
    """Each output's error against Keras, one line per output (several outputs only).

    Example:
        >>> _per_output_errors({"outputs": {"reg": {"max_abs_error": 0.01, "top1_agreement": None}}})
        {'output reg vs keras': 'max_abs_error 0.01'}
    """
    return {f"output {name} vs keras": ", ".join(
        f"{k} {v[k]:.4g}" for k in ("max_abs_error", "top1_agreement") if v.get(k) is not None)
        for name, v in (verification.get("outputs") or {}).items()}


def sensitivity_report(model, data_source, *, granularity, levels, metric, samples, out=None):
    """``tfprune sensitivity``: checks, scan, optional report folder. Returns ``(result, report)``."""

    try:
        lv = tuple(float(v) for v in levels.split(","))
    except ValueError:
        raise errors.ConfigError(f"--levels {levels!r}: comma-separated numbers in (0, 1), "
                                 "e.g. 0.25,0.5,0.75.") from None
    folder = reports.RunFolder(out) if out else None  # checked before the scan
    _, (x, y) = data_lib.load_data({"source": data_source})
    x = data_lib.for_model(model, x)
    source = f"--data {data_source!r}"
    outputs.check_labels(model, y, source)  # several outputs: y_<output> arrays
    data_lib.check_input(model, x, None if isinstance(y, dict) else y, source=source)
    if getattr(model, "loss", None) is None and not isinstance(y, dict):
        model.compile(loss=data_lib.default_loss(model, y))  # not compiled: the task's loss
    metric = metric or compiled.metric_for(model, None if isinstance(y, dict) else y)
    res = analysis.sensitivity(model, (x[:samples], outputs.head(y, samples)),
                               granularity=granularity, levels=lv, metric=metric,
                               progress=False)
    curves = {u: [[0.0, res.baseline]] + [[float(a), float(b)] for a, b in zip(res.levels, c, strict=True)]
              for u, c in res.curves.items()}
    report = {"title": f"tfprune sensitivity: {model.name}", "variants": {},
              "sensitivity": curves, "sensitivity_metric": res.metric,
              "result": res.to_dict(),
              "outputs": outputs.per_output_measures(model, x[:samples],
                                                     outputs.head(y, samples))}
    if folder:
        with folder as stage:
            report["plots"] = plots.sensitivity_curves(report, stage)
            reports.write_text(os.path.join(stage, "report.json"),
                               json.dumps(report, indent=2, default=str))
            reports.write_text(os.path.join(stage, "report.md"),
                               f"# {report['title']}\n\n```\n{res.table()}\n```\n\n"
                               + outputs_line(report["outputs"]) + "\n\n"
                               + "".join(f"![{p}]({p})\n" for p in report["plots"]))
    return res, report


def outputs_line(measures) -> str:
    """The per-output measures of the dense model, one line (empty for one output).

    Example:
        >>> outputs_line({"cls_accuracy": 0.75, "reg_mae": 1.25})
        'dense model per output: cls_accuracy 0.75, reg_mae 1.25'
    """
    if not measures:
        return ""
    return "dense model per output: " + ", ".join(f"{k} {v:.4g}" for k, v in measures.items())
