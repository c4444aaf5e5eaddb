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
from tfprune.export import _inspect, _litert, _model, _tflm

__all__ = ["verify", "Verification"]

_HEAD = ("| file | runtime | kind | max abs error | top-1 agreement | accuracy | note |\n"
         "|---|---|---|---|---|---|---|")


@dataclasses.dataclass
class Verification:
    """Rows of :func:`verify`, each a dict: name, runtime ("Keras", "LiteRT", "TFLM"), kind
    (float32 / float16 / dynamic / int8, plus "+sparse"), max_abs_error and max_rel_error
    against Keras (output units), top1_agreement with Keras, accuracy (with labels), note."""

    rows: list

    def to_markdown(self) -> str:
        """The rows as a markdown table."""
        lines = [_HEAD]
        for r in self.rows:
            top1 = "-" if r["top1_agreement"] is None else f"{r['top1_agreement']:.3f}"
            acc = "-" if r["accuracy"] is None else f"{r['accuracy']:.4f}"
            err = "-" if r["max_abs_error"] is None else f"{r['max_abs_error']:.3g}"
            lines.append(f"| {r['name']} | {r['runtime']} | {r['kind']} | {err} | {top1} | "
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
        return f"bytes[{i}]", bytes(f)
    if not isinstance(f, (str, os.PathLike)) or not os.path.isfile(f):
        raise errors.ExportError(f"files[{i}]={f!r} is neither .tflite bytes nor a file path.")
    with open(f, "rb") as fh:
        return os.path.basename(os.fspath(f)), fh.read()


def _row(name, runtime, kind, reference, out, labels, note=""):
    stats = _litert.compare(reference, out) if out is not None else {}
    acc = None
    if labels is not None and out is not None:
        acc = float(np.mean(out.reshape(len(out), -1).argmax(1) == labels))
    return {"name": name, "runtime": runtime, "kind": kind,
            "max_abs_error": stats.get("max_abs_error"),
            "max_rel_error": stats.get("max_rel_error"),
            "top1_agreement": stats.get("top1_agreement"), "accuracy": acc, "note": note}


def _tflm_row(name, kind, content, it, x, reference, labels):
    d_in, d_out = it.get_input_details()[0], it.get_output_details()[0]
    if not np.issubdtype(d_in["dtype"], np.integer) or not np.issubdtype(d_out["dtype"],
                                                                         np.integer):
        return None
    codes = _litert.quantize(x, *d_in["quantization"], d_in["dtype"])
    res = _tflm.run(content, codes)
    if not res["ok"]:
        note = "missing op " + ", ".join(res["missing"]) if res["missing"] else res["error"]
        return _row(name, "TFLM", kind, reference, None, labels, note=note)
    out = _litert.dequantize(res["outputs"], *d_out["quantization"])
    note = "sparse file: TFLM may miscompute" if "sparse" in kind else ""
    return _row(name, "TFLM", kind, reference, out, labels, note=note)


def verify(model, *files, data, labels=None, tflm: bool = True) -> Verification:
    """Compare .tflite files with the Keras model on ``data`` in LiteRT and TFLM.

    Every file runs in LiteRT; a file with an integer input and output (a micro export) also
    runs in the real TFLM interpreter (in a child process). Errors are in output units.

    Args:
        model: the tf_keras reference model (pruning wrappers allowed) or its saved file.
        *files: .tflite paths or bytes.
        data: inputs ``[n, *input_shape]``, ``(x, y)`` or a tf.data.Dataset; all are used.
        labels: integer class labels for an accuracy column (taken from ``(x, y)`` data).
        tflm: also run integer-interface files in TFLM.

    Returns:
        A :class:`Verification`; ``print(result)`` shows the markdown table.

    Raises:
        tfprune.errors.ExportError: a file that is neither bytes nor an existing path, or
            data that does not fit the model.

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
    if labels is None and isinstance(data, tuple) and len(data) == 2:
        labels = data[1]
    x = _model.representative(keras_model, data, limit=np.iinfo(np.int64).max, arg="data")
    if labels is not None:
        labels = np.asarray(labels).reshape(-1)
        if len(labels) != len(x):
            raise errors.ExportError(f"`labels` has {len(labels)} entries for {len(x)} samples.")
    plain = _model.strip(keras_model)
    reference = plain.predict(x, verbose=0, batch_size=256)
    rows = [_row(keras_model.name, "Keras", "float32", reference, reference, labels)]
    for name, content in contents:
        kind = _kind(_inspect.summarize(content))
        it, resolver, _ = _litert.interpreter(content)
        out, _ = _litert.run(it, x)
        note = "" if resolver == _litert.DEFAULT else "builtin resolver (delegate refused)"
        rows.append(_row(name, "LiteRT", kind, reference, out, labels, note=note))
        if tflm:
            row = _tflm_row(name, kind, content, it, x, reference, labels)
            if row is not None:
                rows.append(row)
    return Verification(rows)
