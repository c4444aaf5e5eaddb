"""One table comparing Keras float, LiteRT (float and int8 files) and TFLM outputs.

Example:
    >>> row = {"name": "keras", "runtime": "Keras", "kind": "float32", "max_abs_error": 0.0,
    ...        "max_rel_error": 0.0, "top1_agreement": 1.0, "accuracy": None, "note": ""}
    >>> print(Verification([row]).to_markdown().splitlines()[2])
    | keras | Keras | float32 | 0 | 1.000 | - | |
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from tfprune import errors
from tfprune.compat import keras3_io
from tfprune.export import _data, _inspect, _io, _litert, _model, _tflm

__all__ = ["verify", "Verification"]

_HEAD = ("| file | runtime | kind | max abs error | top-1 agreement | accuracy | note |\n"
         "|---|---|---|---|---|---|---|")


@dataclasses.dataclass
class Verification:
    """Rows of :func:`verify`, each a dict: name, runtime ("Keras", "LiteRT", "TFLM"), kind
    (float32 / float16 / dynamic / int8, plus "+sparse"), output (the Keras output name for
    a multi-output model, one row per output; else None), max_abs_error and max_rel_error
    against Keras (output units), top1_agreement with Keras, accuracy (with labels), note."""

    rows: list

    def to_markdown(self) -> str:
        """The rows as a markdown table."""
        many = any(r.get("output") for r in self.rows)
        lines = [_HEAD.replace("| kind |", "| kind | output |").replace(
            "|---|---|---|", "|---|---|---|---|", 1) if many else _HEAD]
        for r in self.rows:
            top1 = "-" if r["top1_agreement"] is None else f"{r['top1_agreement']:.3f}"
            acc = "-" if r["accuracy"] is None else f"{r['accuracy']:.4f}"
            err = "-" if r["max_abs_error"] is None else f"{r['max_abs_error']:.3g}"
            kind = f"{r['kind']} | {r.get('output') or '-'}" if many else r["kind"]
            lines.append(f"| {r['name']} | {r['runtime']} | {kind} | {err} | {top1} | "
                         f"{acc} | {r['note']} |".replace("|  |", "| |"))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_markdown()

    def to_dict(self) -> dict:
        """A JSON-ready dict: ``{"rows": [...]}``."""
        return dataclasses.asdict(self)


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


def _row(name, runtime, kind, reference, out, labels, note="", output=None):
    """One table row; ``reference``/``out`` are one output's arrays (Keras, file)."""
    stats = _litert.compare(reference, out) if out is not None else {}
    acc = None
    if labels is not None and out is not None:
        acc = float(np.mean(out.reshape(len(out), -1).argmax(1) == labels))
    return {"name": name, "runtime": runtime, "kind": kind, "output": output,
            "max_abs_error": stats.get("max_abs_error"),
            "max_rel_error": stats.get("max_rel_error"),
            "top1_agreement": stats.get("top1_agreement"), "accuracy": acc, "note": note}


def _rows(name, runtime, kind, refs, outs, labels, io, note=""):
    """One row per Keras output (the output column names it when there are several)."""
    many = len(refs) > 1
    return [_row(name, runtime, kind, r, None if outs is None else outs[j],
                 labels if not many else None, note, io.output_names[j] if many else None)
            for j, r in enumerate(refs)]


def _tflm_rows(name, kind, content, it, summary, xs, refs, labels, io):
    if not all(t.dtype == "int8" or (t.dtype in ("int32", "int64") and not t.quantized)
               for t in summary.inputs) or not all(t.dtype in ("int8", "int32")
                                                   for t in summary.outputs):
        return []
    codes = _litert.encode_inputs(it, xs, io)
    res = _tflm.run(content, codes, n_outputs=len(summary.outputs))
    if not res["ok"]:
        note = "missing op " + ", ".join(res["missing"]) if res["missing"] else res["error"]
        return _rows(name, "TFLM", kind, refs, None, labels, io, note=note)
    outs = _litert.decode_outputs(it, res["outputs"], io)
    note = "sparse file: TFLM may miscompute" if "sparse" in kind else ""
    return _rows(name, "TFLM", kind, refs, outs, labels, io, note=note)


@keras3_io(returns="record", own_paths=True)
def verify(model, *files, data, labels=None, tflm: bool = True) -> Verification:
    """Compare .tflite files with the Keras model on ``data`` in LiteRT and TFLM.

    Every file runs in LiteRT; a file with an integer input and output (a micro export) also
    runs in the real TFLM interpreter (in a child process). Errors are in output units. Each
    file's inputs and outputs are matched to the model's by name (else order) and a file that
    does not fit the model (another model's export) is refused before anything runs. A
    multi-output model gets one row per output.

    Args:
        model: the tf_keras reference model (pruning wrappers allowed) or its saved file.
        *files: .tflite paths or bytes.
        data: inputs ``[n, *input_shape]``, ``(x, y)`` or a tf.data.Dataset; for several
            inputs a list/tuple/dict of arrays (or ``(that, y)``); all samples are used.
        labels: integer class labels for an accuracy column (taken from ``(x, y)`` data;
            single-output models only).
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
        >>> from tfprune.export import _tflite_bytes
        >>> m = keras.Sequential([keras.layers.Dense(3, input_shape=(4,))])
        >>> x = np.random.rand(20, 4).astype("float32")
        >>> v = verify(m, _tflite_bytes(m), data=x)
        >>> [r["runtime"] for r in v.rows], v.rows[1]["max_rel_error"] < 1e-4
        (['Keras', 'LiteRT'], True)
    """
    keras_model, _ = _model.resolve(model)
    contents = [_read(f, i) for i, f in enumerate(files)]
    specs = _data.input_specs(keras_model)
    if labels is None and isinstance(data, tuple) and len(data) == 2 and (
            len(specs) == 1 or isinstance(data[0], (list, tuple, dict))):
        labels = data[1]
    xs = _data.representative(keras_model, data, limit=np.iinfo(np.int64).max, arg="data")
    if labels is not None and len(keras_model.outputs) == 1:
        labels = np.asarray(labels).reshape(-1)
        if len(labels) != len(xs[0]):
            raise errors.ExportError(f"`labels` has {len(labels)} entries for {len(xs[0])} "
                                     "samples.")
    else:
        labels = None  # one accuracy column needs one output
    plain = _model.strip(keras_model)
    refs = _io.predict(plain, xs)
    names = _model.output_names(plain)
    _litert.check_finite(refs, names, f"The Keras model {keras_model.name!r}")
    checked = []
    for name, content in contents:  # every file is checked before anything runs
        summary = _inspect.summarize(content)
        io = _io.match(summary, specs, _io.output_shapes(plain), names,
                       model_name=keras_model.name, file_name=name)
        checked.append((name, content, summary, io))
    rows = _rows(keras_model.name, "Keras", "float32", refs, refs, labels,
                 _io.identity(len(specs), len(names), names))
    for name, content, summary, io in checked:
        kind = _kind(summary)
        it, resolver, _ = _litert.interpreter(content, what=name)
        outs, _ = _litert.run(it, xs, io)
        _litert.check_finite(outs, io.output_names, f"{name} (LiteRT)")
        note = "" if resolver == _litert.DEFAULT else "builtin resolver (delegate refused)"
        rows.extend(_rows(name, "LiteRT", kind, refs, outs, labels, io, note=note))
        if tflm:
            rows.extend(_tflm_rows(name, kind, content, it, summary, xs, refs, labels, io))
    return Verification(rows)
