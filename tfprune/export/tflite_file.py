"""Export a (possibly pruned) tf_keras model to a .tflite file, checked in LiteRT.

Example:
    >>> import os, tempfile
    >>> from tfprune.compat import keras
    >>> m = keras.Sequential([keras.layers.Dense(4, input_shape=(8,))])
    >>> rec = tflite(m, os.path.join(tempfile.mkdtemp(), "m.tflite"))
    >>> rec.verification["max_rel_error"] < 1e-4
    True
"""

from __future__ import annotations

import dataclasses
import gzip
import logging
import os
import warnings

import numpy as np

from tfprune import errors
from tfprune.compat import keras3_io
from tfprune.export import _choice, _inspect, _io, _litert, _model, atomic, samples

__all__ = ["tflite", "ExportRecord", "convert", "tflite_bytes", "QUANTIZE_MODES", "FLOAT_TOLERANCE"]

log = logging.getLogger(__name__)

QUANTIZE_MODES = (None, "dynamic", "float16", "int8")
SPARSE_MODES = ("auto", True, False)
MIN_ZERO_FRACTION = 0.30  # the converter leaves tensors with fewer zeros dense (FACTS.md)
# Largest relative disagreement (max |LiteRT - Keras| / max |Keras|) of a float file before
# tflite() warns; quantised files ("dynamic", "int8") are not checked against a bound.
FLOAT_TOLERANCE = {None: 1e-3, "float16": 1e-2}


@dataclasses.dataclass
class ExportRecord:
    """What :func:`tflite` wrote and how the file behaves in LiteRT.

    Attributes:
        path: the .tflite file written.
        bytes: its size; ``gzip_bytes``: its size gzip-compressed (level 9).
        quantize: None, "dynamic", "float16" or "int8".
        sparse: True if the file stores tensors in a sparse format.
        modes: optimisation modes read from the file's conversion metadata (e.g. (1003, 3001));
            ``mode_names``: the same as names.
        ops: builtin op names used, in order of first use.
        resolver: "default" (XNNPACK delegate) or "builtin_without_default_delegates": the
            resolver the file was verified (and timed) with.
        resolver_note: why the default delegate was not used, or None.
        verification: against the Keras model on sample inputs: ``max_abs_error`` (output
            units), ``max_rel_error``, ``top1_agreement`` (None for one output unit), ``samples``.
        objective: "balanced", "latency" or "size" (what chose the encoding).
        latency_ms: median LiteRT invoke time of the written file (1 thread, batch 1, with
            ``resolver``); None when not measured (``objective="size"`` or ``measure=False``).
        dense_latency_ms: the same for the dense encoding of the model (equal to
            ``latency_ms`` when the written file is dense).
        kernels: which ops ran on the XNNPACK delegate and which on builtin kernels, e.g.
            ``"XNNPACK: QUANTIZE, DEQUANTIZE; builtin: FULLY_CONNECTED x2"`` ("" if not run).
        candidates: every (encoding, resolver) tried, as dicts (bytes, latency_ms, kernels,
            note: why a delegate refused it).
        decision: one line saying which encoding was kept and why, with the others' figures.
        notes: plain lines a report should print: delegate fallbacks, a resolver to select.
    """

    path: str
    bytes: int
    gzip_bytes: int
    quantize: str | None
    sparse: bool
    modes: tuple
    mode_names: tuple
    ops: tuple
    resolver: str
    resolver_note: str | None
    verification: dict
    objective: str = "balanced"
    latency_ms: float | None = None
    dense_latency_ms: float | None = None
    kernels: str = ""
    candidates: tuple = ()
    decision: str = ""
    notes: tuple = ()

    def to_dict(self) -> dict:
        """A JSON-ready dict of the record."""
        return dataclasses.asdict(self)


def _zero_fraction(plain) -> float:
    """Largest fraction of exact zeros in any kernel of ``plain`` (kernels have rank >= 2)."""
    best = 0.0
    for w in plain.weights:
        if w.shape.rank is not None and w.shape.rank >= 2 and w.shape.num_elements():
            best = max(best, float(np.mean(w.numpy() == 0)))
    return best


def _error_text(e) -> str:
    """The converter's message without its hundreds of location lines."""
    lines = [ln.strip() for ln in str(e).splitlines()]
    errs = [ln[ln.index("error:"):] for ln in lines if "error:" in ln and len(ln) < 2000]
    errs = list(dict.fromkeys(errs))[:4] or [lines[0][:300] if lines else ""]
    return "; ".join(errs)


def _serving_function(plain, static):
    """A concrete function of ``plain`` whose signature names inputs and outputs as the Keras
    model does; batch 1 if ``static`` (RNNs convert only with a static batch size, FACTS.md)."""
    import tensorflow as tf

    specs = samples.input_specs(plain)
    names = _model.output_names(plain)
    signature = [tf.TensorSpec([1 if static else None, *s.shape], tf.as_dtype(s.dtype),
                               name=s.name) for s in specs]

    @tf.function(input_signature=signature)
    def serve(*xs):
        out = plain(list(xs) if len(xs) > 1 else xs[0], training=False)
        return dict(zip(names, out if isinstance(out, (list, tuple)) else [out], strict=True))

    return serve


def _converter(plain, static):
    import tensorflow as tf

    serve = _serving_function(plain, static)
    # The converter saves its trackable as a SavedModel first: a module holding only the
    # variables and `serve` saves `serve` alone, where the Keras model would have tf_keras
    # trace every layer's call again (4x slower for an LSTM).
    holder = tf.Module()
    holder.model_variables = list(plain.variables)
    holder.serve = serve
    return tf.lite.TFLiteConverter.from_concrete_functions([serve.get_concrete_function()],
                                                           holder)


def _calibration(plain, data):
    names = [s.name for s in samples.input_specs(plain)]
    n = len(data[0])
    if len(data) == 1:
        return lambda: ([data[0][i : i + 1]] for i in range(n))
    return lambda: ({k: x[i : i + 1] for k, x in zip(names, data, strict=True)}
                    for i in range(n))


def convert(plain, *, quantize=None, sparse=False, data=None, int8_io=False,
            static_batch=None) -> bytes:
    """Convert a plain (stripped) tf_keras model to .tflite bytes.

    ``data``: one array per model input (or one array). ``int8_io`` makes quantised
    inputs/outputs int8; token-id inputs stay integer. ``static_batch`` (default: only for
    models with RNN layers, or after the converter asks for it) converts a batch-1 function.
    """
    import numpy as np

    if isinstance(data, np.ndarray):
        data = [data]
    if quantize == "int8":
        _model.check_int8_recurrent(plain)
    static = _model.is_recurrent(plain) if static_batch is None else static_batch
    try:
        return _convert(plain, quantize, sparse, data, int8_io, static)
    except errors.ExportError as e:
        if static or static_batch is not None or "TensorList" not in str(e):
            raise
        return _convert(plain, quantize, sparse, data, int8_io, True)


def tflite_bytes(model, **kwargs) -> bytes:
    """``model`` (a path, Keras 3 or tf_keras; pruning wrappers stripped) as .tflite bytes,
    neither written nor verified: for measurements, examples and tests. ``kwargs`` are those
    of :func:`convert`; :func:`tflite` is the export that checks and writes a file.

    Example:
        >>> from tfprune.compat import keras
        >>> m = keras.Sequential([keras.layers.Dense(2, input_shape=(3,))])
        >>> tflite_bytes(m)[4:8]
        b'TFL3'
    """
    return convert(_model.strip(_model.resolve(model)[0]), **kwargs)


def _convert(plain, quantize, sparse, data, int8_io, static) -> bytes:
    import tensorflow as tf

    conv = _converter(plain, static)
    opts = [tf.lite.Optimize.DEFAULT] if quantize else []
    if sparse:
        opts.append(tf.lite.Optimize.EXPERIMENTAL_SPARSITY)
    conv.optimizations = opts
    if quantize == "float16":
        conv.target_spec.supported_types = [tf.float16]
    if quantize == "int8":
        conv.representative_dataset = _calibration(plain, data)
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if int8_io:
            conv.inference_input_type = tf.int8
            conv.inference_output_type = tf.int8
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return conv.convert()
        except Exception as e:  # the converter raises many types; name the step
            raise errors.ExportError(f"TFLite conversion failed ({type(e).__name__}): "
                                     f"{_error_text(e)}") from e


def _check_options(quantize, sparse, representative_data, objective, measure):
    _choice.check_objective(objective, measure)
    if quantize not in QUANTIZE_MODES:
        raise errors.unknown_name("quantize mode", quantize, [m for m in QUANTIZE_MODES if m])
    if sparse not in SPARSE_MODES or isinstance(sparse, int) and not isinstance(sparse, bool):
        raise errors.ConfigError(f"`sparse` must be 'auto', True or False, got {sparse!r}.")
    if quantize == "int8" and representative_data is None:
        raise errors.ExportError(
            "quantize='int8' needs `representative_data` (a few hundred typical inputs, "
            "an array [n, *input_shape] or a tf.data.Dataset) to calibrate activations.")


@keras3_io(returns="record", own_paths=True)
def tflite(model, path, *, quantize=None, sparse="auto", representative_data=None,
           overwrite=False, objective="balanced", measure=True) -> ExportRecord:
    """Strip pruning wrappers, convert to TFLite, write atomically and verify in LiteRT.

    Works for multi-input/multi-output models (verified per output), token-id (integer)
    inputs, which stay integer in the file, and RNN layers (LSTM/GRU convert through a batch-1
    function: the file's batch size is 1). A float file that disagrees with Keras by more
    than ``FLOAT_TOLERANCE`` (relative) gives a warning.

    Args:
        model: a tf_keras Sequential/Functional model (pruning wrappers allowed) or the path
            of a saved one (.keras, .h5, SavedModel); a Keras 3 model; or a subclassed
            model (tf_keras, or Keras 3 with float32 input: converted from its call,
            :mod:`tfprune.export.keras3_call`; tfprune's masks stripped first). It is never
            modified.
        path: the .tflite file to write. Never the input model file.
        quantize: None (float32), "dynamic" (int8 weights), "float16" (float16 weights) or
            "int8" (full-integer kernels; float32 input/output; needs representative data).
        sparse: "auto" tries a sparse encoding when some kernel has >= 30% zeros and keeps
            the file ``objective`` prefers; True always asks the converter for sparse
            encoding; False never. Dense layers pruned with ``granularity="block:4x1"``
            (float) or ``"block:16x1"`` (int8) — blocks along the Keras input
            axis, TFLite's 1x4 / 1x16 — are stored natively block-sparse (mode 3002, no
            DENSIFY) and run on LiteRT's builtin sparse kernels; other layouts get a DENSIFY
            op. ``tfprune.export.advise`` says which pattern pays on which runtime.
        representative_data: array ``[n, *input_shape]``, ``(x, y)`` or tf.data.Dataset; for
            a multi-input model a list/tuple of arrays in input order or a dict
            ``{input_name: array}`` (or ``(that, y)``). Token-id inputs take integer ids, all
            below the Embedding's ``input_dim``. Up to 300 samples calibrate int8, the first
            64 are used for verification (otherwise random inputs in [0, 1), or random valid
            ids for token-id inputs).
        overwrite: replace an existing file at ``path``.
        objective: which candidate file to keep (dense or sparse encoding, each timed in
            LiteRT with the default XNNPACK delegate and with the builtin kernels):
            "balanced" (default) keeps the smaller file only when it runs within 3 %
            (``LATENCY_TOLERANCE``) of the fastest; "latency" the fastest; "size" the
            smallest, without timing. The record says which ran and how fast.
        measure: time the candidates (a few hundred invokes each, interleaved); False skips
            timing (then "balanced" keeps the smaller file, as "size" does).

    Returns:
        An :class:`ExportRecord` (``latency_ms``, ``dense_latency_ms``, ``kernels``,
        ``decision``, ``notes`` say what runs and how fast).

    Raises:
        tfprune.errors.ExportError: bad path, bad representative data, int8 without data,
            a NaN/inf weight (naming the layer), conversion failure, NaN/inf outputs of the
            file. Raised before anything is written.
        tfprune.errors.ConfigError: an unknown ``quantize``, ``sparse`` or ``objective``
            value, or ``objective="latency"`` with ``measure=False``.

    Example:
        >>> import os, tempfile
        >>> from tfprune.compat import keras
        >>> m = keras.Sequential([keras.layers.Dense(2, input_shape=(3,))])
        >>> tflite(m, os.path.join(tempfile.mkdtemp(), "m.tflite")).ops
        ('FULLY_CONNECTED',)
    """
    _check_options(quantize, sparse, representative_data, objective, measure)
    keras_model, source = _model.resolve(model)
    _model.check_finite_weights(keras_model)
    path = atomic.check_output_file(path, overwrite=overwrite, inputs=[source])
    data = None
    if representative_data is not None:
        data = samples.representative(keras_model, representative_data)
    plain = _model.strip(keras_model)
    with atomic.scratch(path):
        return _export(keras_model, plain, path, quantize, sparse, data, objective, measure)


def _export(keras_model, plain, path, quantize, sparse, data, objective,
            measure) -> ExportRecord:
    timed = measure and objective != "size"
    files = _candidate_files(plain, quantize, sparse, data, measured=timed)
    cands = [_choice.Candidate(e, _litert.DEFAULT, len(c)) for e, c in files.items()]
    if timed:
        cands = _choice.measure(files)
    pick, decision = _choice.choose(cands, objective if timed else "size",
                                    encoding="sparse" if sparse is True else None)
    if not measure:
        decision += " (measure=False: not timed)"
    content = files[pick.encoding]
    summary = _inspect.summarize(content)
    if timed:
        it, resolver, _ = _litert.interpreter(content, resolver=pick.resolver)
        note = next((c.note for c in cands if c.encoding == pick.encoding and c.note), None)
    else:
        it, resolver, note = _litert.interpreter(content)
        if note:
            cands = [dataclasses.replace(c, resolver=resolver, note=note)
                     if c is pick else c for c in cands]
            pick = dataclasses.replace(pick, resolver=resolver, note=note)
    if note and sparse is True:
        warnings.warn(f"LiteRT's default delegate refused {os.path.basename(path)} ({note}); it "
                      f"runs with the {resolver!r} op resolver.", stacklevel=2)
    xs = samples.sample_inputs(keras_model, data, n=64)
    io = _io.match(summary, samples.input_specs(plain), _io.output_shapes(plain),
                   _model.output_names(plain), model_name=plain.name, file_name="the file")
    out, _ = _litert.run(it, xs, io)
    ref = _io.predict(plain, xs)
    _litert.check_finite(ref, io.output_names, f"The Keras model {plain.name!r}")
    _litert.check_finite(out, io.output_names, f"The converted file (LiteRT, {resolver})")
    verification = _litert.compare(ref, out, io.output_names)
    _warn_disagreement(verification, quantize, path)
    dense = next((c for c in _choice.effective(cands) if c.encoding == "dense"), None)
    atomic.write_bytes(path, content)
    log.info("wrote %s (%d bytes)", path, len(content))
    return ExportRecord(
        path=path, bytes=len(content), gzip_bytes=len(gzip.compress(content, 9)),
        quantize=quantize, sparse=summary.is_sparse, modes=summary.modes,
        mode_names=summary.mode_names, ops=summary.ops, resolver=resolver, resolver_note=note,
        verification=verification, objective=objective,
        latency_ms=pick.latency_ms if timed else None,
        dense_latency_ms=dense.latency_ms if dense is not None else None,
        kernels=_litert.kernels_text(_litert.kernels(it)),
        candidates=tuple(c.to_dict() for c in cands), decision=decision,
        notes=tuple(_choice.notes(pick, cands)),
    )


def _warn_disagreement(verification, quantize, path):
    bound = FLOAT_TOLERANCE.get(quantize)
    err = verification["max_rel_error"]
    if bound is not None and err > bound:
        warnings.warn(
            f"{os.path.basename(path)} ({quantize or 'float32'}) disagrees with the Keras model "
            f"by {err:.3g} relative (max |error| / max |Keras output|), above the documented "
            f"tolerance {bound:g} (tfprune.export.FLOAT_TOLERANCE). Check record.verification;"
            " recurrent layers (LSTM/GRU kernels) and custom layers are the usual cause.",
            stacklevel=3)


def _candidate_files(plain, quantize, sparse, data, measured) -> dict:
    """``{encoding: bytes}`` to choose from: "dense" and/or "sparse" (only when the
    converter stored some tensor sparse). With ``sparse=True`` the dense file is converted
    too when timing, for ``dense_latency_ms``."""
    if sparse is False:
        return {"dense": convert(plain, quantize=quantize, data=data)}
    if sparse is True:
        packed = convert(plain, quantize=quantize, sparse=True, data=data)
        if not _inspect.SPARSITY_MODES.intersection(_inspect.summarize(packed).modes):
            warnings.warn("sparse=True, but no kernel was sparse enough (about 30% zeros) to be "
                          "stored sparse; the file is dense.", stacklevel=4)
        if not measured:
            return {"sparse": packed}
        return {"sparse": packed, "dense": convert(plain, quantize=quantize, data=data)}
    dense = convert(plain, quantize=quantize, data=data)
    if _zero_fraction(plain) < MIN_ZERO_FRACTION:
        return {"dense": dense}
    packed = convert(plain, quantize=quantize, sparse=True, data=data)
    if not _inspect.SPARSITY_MODES.intersection(_inspect.summarize(packed).modes):
        return {"dense": dense}
    return {"dense": dense, "sparse": packed}
