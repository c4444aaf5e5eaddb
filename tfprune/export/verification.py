"""One table comparing Keras float, LiteRT (float and int8 files) and TFLM outputs.

What is compared fits each output (:mod:`tfprune.task`): top-1 agreement and accuracy only
for class scores (accuracy also for binary outputs), max/mean absolute and relative error
for every output, and the mean absolute error against the labels for the rest (regression,
autoencoders).

Example:
    >>> row = {"name": "keras", "runtime": "Keras", "kind": "float32", "max_abs_error": 0.0,
    ...        "mean_abs_error": 0.0, "max_rel_error": 0.0, "top1_agreement": 1.0,
    ...        "accuracy": None, "label_mae": None, "note": ""}
    >>> print(Verification([row]).to_markdown().splitlines()[2])
    | keras | Keras | float32 | 0 | 0 | 1.000 | - | |
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from tfprune import errors
from tfprune import task as task_lib
from tfprune.compat import keras3_io
from tfprune.export import _inspect, _io, _litert, _model, _tflm, samples

__all__ = ["verify", "Verification"]

_HEAD = ("| file | runtime | kind | max abs error | mean abs error | top-1 agreement | vs labels "
         "| note |\n|---|---|---|---|---|---|---|---|")


@dataclasses.dataclass
class Verification:
    """Rows of :func:`verify`, each a dict: name, runtime ("Keras", "LiteRT", "TFLM"), kind
    (float32 / float16 / dynamic / int8, plus "+sparse"), output (the Keras output name for
    a multi-output model, one row per output; else None), samples (``"data"``, or
    ``"calibration"`` for rows on the ``calibration`` samples), max_abs_error, mean_abs_error
    (output units), max_rel_error (to max |Keras|), mean_rel_error (to mean |Keras|) against
    Keras, top1_agreement with Keras (class-score outputs only, else None), accuracy (with
    labels; class-score and binary outputs), label_mae (with labels; other outputs), note."""

    rows: list

    def to_markdown(self) -> str:
        """The rows as a markdown table."""
        many = any(r.get("output") for r in self.rows)
        calib = any(r.get("samples") == "calibration" for r in self.rows)
        head = _HEAD
        for flag, col in ((calib, "samples"), (many, "output")):
            if flag:
                head = head.replace("| kind |", f"| kind | {col} |").replace(
                    "|---|---|---|", "|---|---|---|---|", 1)
        lines = [head]
        for r in self.rows:
            top1 = "-" if r["top1_agreement"] is None else f"{r['top1_agreement']:.3f}"
            err = "-" if r["max_abs_error"] is None else f"{r['max_abs_error']:.3g}"
            mean = "-" if r.get("mean_abs_error") is None else f"{r['mean_abs_error']:.3g}"
            kind = r["kind"] + (f" | {r.get('output') or '-'}" if many else "")
            kind += f" | {r.get('samples') or 'data'}" if calib else ""
            lines.append(f"| {r['name']} | {r['runtime']} | {kind} | {err} | {mean} | {top1} | "
                         f"{_labels_cell(r)} | {r['note']} |".replace("|  |", "| |"))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_markdown()

    def to_dict(self) -> dict:
        """A JSON-ready dict: ``{"rows": [...]}``."""
        return dataclasses.asdict(self)


def _labels_cell(r) -> str:
    if r.get("accuracy") is not None:
        return f"accuracy {r['accuracy']:.4f}"
    if r.get("label_mae") is not None:
        return f"mae {r['label_mae']:.4g}"
    return "-"


def _kind(summary) -> str:
    kind = "float32"
    for mode, name in ((1001, "float16"), (1002, "dynamic"), (1003, "int8")):
        if mode in summary.modes:
            kind = name
    return kind + ("+sparse" if summary.is_sparse else "")


def _read(f, i):
    if isinstance(f, (bytes, bytearray)):
        return f"bytes[{i}]", _inspect.check_content(f, f"files[{i}] (bytes)")
    if not isinstance(f, (str, os.PathLike)) or not os.path.isfile(f):
        raise errors.ExportError(f"files[{i}]={f!r} is neither .tflite bytes nor a file path.")
    with open(f, "rb") as fh:
        return os.path.basename(os.fspath(f)), _inspect.check_content(fh.read(), repr(
            os.fspath(f)))


def _compare(ref, got, task) -> dict:
    """Errors of one output against Keras; top-1 agreement only for class scores (per
    position for per-pixel class scores)."""
    ref, got = np.asarray(ref, np.float64), np.asarray(got, np.float64)
    diff = np.abs(ref - got)
    big, mean = float(np.max(np.abs(ref))) if ref.size else 0.0, float(np.mean(np.abs(ref)))
    err = float(diff.max()) if diff.size else 0.0
    merr = float(diff.mean()) if diff.size else 0.0
    top1 = None
    if task.class_scores or (task.kind is None and ref.ndim == 2 and ref.shape[1] > 1):
        top1 = float(np.mean(ref.argmax(-1) == got.argmax(-1)))
    return {"max_abs_error": err, "mean_abs_error": merr,
            "max_rel_error": err / big if big else err, "mean_rel_error": merr / mean if mean
            else merr, "top1_agreement": top1}


def _vs_labels(out, labels, task) -> dict:
    """Accuracy (class scores, binary) or mean absolute error (the rest) against labels."""
    if labels is None or out is None:
        return {"accuracy": None, "label_mae": None}
    out = np.asarray(out, np.float64)
    if task.class_scores or (task.kind is None and out.ndim == 2 and out.shape[1] > 1):
        if labels.shape != out.shape and labels.size != int(np.prod(out.shape[:-1])):
            return {"accuracy": None, "label_mae": None}
        y = labels.argmax(-1) if labels.shape == out.shape else labels.reshape(out.shape[:-1])
        return {"accuracy": float(np.mean(out.argmax(-1) == y)), "label_mae": None}
    y = labels.reshape(out.shape) if labels.size == out.size else None
    if y is None:
        return {"accuracy": None, "label_mae": None}
    if task.kind == "binary":
        cut = 0.0 if task.from_logits else 0.5
        return {"accuracy": float(np.mean((out > cut) == (y > 0.5))), "label_mae": None}
    return {"accuracy": None, "label_mae": float(np.mean(np.abs(out - y)))}


@dataclasses.dataclass(frozen=True)
class _Who:
    """What a row describes: the file (or model) name, the runtime, the file kind, the note
    and which samples (``"data"`` or ``"calibration"``)."""

    name: str
    runtime: str
    kind: str
    note: str = ""
    samples: str = "data"


@dataclasses.dataclass(frozen=True)
class _Expected:
    """What a file's outputs are compared with on one sample set: the Keras outputs (one
    array per output), the labels (or None), the file-to-model match and the output tasks."""

    refs: list
    labels: object
    io: object
    tasks: list


def _row(who, reference, out, labels, task, output=None):
    """One table row; ``reference``/``out`` are one output's arrays (Keras, file)."""
    stats = _compare(reference, out, task) if out is not None else {}
    return {"name": who.name, "runtime": who.runtime, "kind": who.kind, "output": output,
            "samples": who.samples, "max_abs_error": stats.get("max_abs_error"),
            "mean_abs_error": stats.get("mean_abs_error"),
            "max_rel_error": stats.get("max_rel_error"),
            "mean_rel_error": stats.get("mean_rel_error"),
            "top1_agreement": stats.get("top1_agreement"), **_vs_labels(out, labels, task),
            "note": who.note}


def _rows(who, expected, outs):
    """One row per Keras output (the output column names it when there are several)."""
    many = len(expected.refs) > 1
    return [_row(who, r, None if outs is None else outs[j],
                 expected.labels if not many else None, expected.tasks[j],
                 expected.io.output_names[j] if many else None)
            for j, r in enumerate(expected.refs)]


def _tflm_rows(who, content, it, summary, xs, expected):
    if not all(t.dtype == "int8" or (t.dtype in ("int32", "int64") and not t.quantized)
               for t in summary.inputs) or not all(t.dtype in ("int8", "int32")
                                                   for t in summary.outputs):
        return []
    codes = _litert.encode_inputs(it, xs, expected.io)
    res = _tflm.run(content, codes, n_outputs=len(summary.outputs))
    if not res["ok"]:
        note = "missing op " + ", ".join(res["missing"]) if res["missing"] else res["error"]
        return _rows(dataclasses.replace(who, runtime="TFLM", note=note), expected, None)
    outs = _litert.decode_outputs(it, res["outputs"], expected.io)
    note = "sparse file: TFLM may miscompute" if "sparse" in who.kind else ""
    return _rows(dataclasses.replace(who, runtime="TFLM", note=note), expected, outs)


def _labels_of(data, labels, specs, n_outputs, n, arg):
    if labels is None and isinstance(data, tuple) and len(data) == 2 and (
            len(specs) == 1 or isinstance(data[0], (list, tuple, dict))):
        labels = data[1]
    if labels is None or n_outputs != 1:
        return None  # one label column needs one output
    labels = np.asarray(labels)
    if labels.ndim == 0 or len(labels) != n:
        raise errors.ExportError(f"`{arg}` has {labels.size if labels.ndim == 0 else len(labels)}"
                                 f" entries for {n} samples.")
    return labels


@keras3_io(returns="record", own_paths=True)
def verify(model, *files, data, labels=None, calibration=None, tflm: bool = True) -> Verification:
    """Compare .tflite files with the Keras model on ``data`` in LiteRT and TFLM.

    Every file runs in LiteRT; a file with an integer input and output (a micro export) also
    runs in the real TFLM interpreter (in a child process). Errors are in output units. Each
    file's inputs and outputs are matched to the model's by name (else order) and a file that
    does not fit the model (another model's export) is refused before anything runs. A
    multi-output model gets one row per output. What is measured fits each output
    (:mod:`tfprune.task`: compile state, activation, labels): top-1 agreement and accuracy for
    class scores, max/mean absolute and relative error for every output, the mean absolute
    error against the labels for regression and dense outputs.

    Args:
        model: the tf_keras reference model (pruning wrappers allowed) or its saved file, or
            a Keras 3 model (subclassed too: run through its call,
            :mod:`tfprune.export.keras3_call`).
        *files: .tflite paths or bytes.
        data: held-out inputs ``[n, *input_shape]``, ``(x, y)`` or a tf.data.Dataset; for
            several inputs a list/tuple/dict of arrays (or ``(that, y)``); all samples are
            used.
        labels: targets for the label column (taken from ``(x, y)`` data; single-output
            models only): class ids or one-hot rows (accuracy), 0/1 (binary accuracy) or
            values (mean absolute error).
        calibration: the samples the int8 files were calibrated on (same forms as ``data``):
            each file also gets rows on them (``samples="calibration"``), so an error that
            only shows on held-out data is seen next to the calibration figure.
        tflm: also run integer-interface files in TFLM.

    Returns:
        A :class:`Verification`; ``print(result)`` shows the markdown table.

    Raises:
        tfprune.errors.ExportError: a file that is neither bytes nor an existing path, data
            that does not fit the model, or NaN/inf outputs (of the model or of a file):
            verification fails rather than reporting a NaN error.

    Example:
        >>> import numpy as np
        >>> from tfprune.compat import keras
        >>> from tfprune.export import tflite_bytes
        >>> m = keras.Sequential([keras.layers.Dense(3, input_shape=(4,))])
        >>> x = np.random.rand(20, 4).astype("float32")
        >>> v = verify(m, tflite_bytes(m), data=x)
        >>> [r["runtime"] for r in v.rows], v.rows[1]["max_rel_error"] < 1e-4
        (['Keras', 'LiteRT'], True)

        A regression output gets errors, never top-1 or accuracy:

        >>> r = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, name="price")])
        >>> r.compile(loss="mse")
        >>> row = verify(r, tflite_bytes(r), data=(x, 10 * x[:, 0])).rows[1]
        >>> row["top1_agreement"], row["accuracy"], row["label_mae"] > 0
        (None, None, True)
    """
    keras_model, _ = _model.resolve(model)
    contents = [_read(f, i) for i, f in enumerate(files)]
    specs = samples.input_specs(keras_model)
    xs = samples.representative(keras_model, data, limit=np.iinfo(np.int64).max, arg="data")
    n_out = len(keras_model.outputs)
    labels = _labels_of(data, labels, specs, n_out, len(xs[0]), "labels")
    sets = [("data", xs, labels)]
    if calibration is not None:
        cx = samples.representative(keras_model, calibration, limit=np.iinfo(np.int64).max,
                                  arg="calibration")
        sets.append(("calibration", cx, _labels_of(calibration, None, specs, n_out,
                                                   len(cx[0]), "calibration labels")))
    plain = _model.strip(keras_model)
    tasks = task_lib.resolve(plain, labels, loss=getattr(keras_model, "loss", None),
                             metrics=task_lib.compiled_metrics(keras_model))
    names = _model.output_names(plain)
    checked = []
    for name, content in contents:  # every file is checked before anything runs
        summary = _inspect.summarize(content)
        io = _io.match(summary, specs, _io.output_shapes(plain), names,
                       model_name=keras_model.name, file_name=name)
        checked.append((name, content, summary, io))
    refs = [_io.predict(plain, x) for _, x, _ in sets]
    for ref in refs:
        _litert.check_finite(ref, names, f"The Keras model {keras_model.name!r}")
    rows = _rows(_Who(keras_model.name, "Keras", "float32"),
                 _Expected(refs[0], labels, _io.identity(len(specs), len(names), names), tasks),
                 refs[0])
    for name, content, summary, io in checked:
        kind = _kind(summary)
        it, resolver, _ = _litert.interpreter(content, what=name)
        note = "" if resolver == _litert.DEFAULT else "builtin resolver (delegate refused)"
        for (which, x, y), ref in zip(sets, refs, strict=True):
            outs, _ = _litert.run(it, x, io)
            _litert.check_finite(outs, io.output_names, f"{name} (LiteRT)")
            who, expected = _Who(name, "LiteRT", kind, note, which), _Expected(ref, y, io, tasks)
            rows.extend(_rows(who, expected, outs))
            if tflm:
                rows.extend(_tflm_rows(who, content, it, summary, x, expected))
    return Verification(rows)
