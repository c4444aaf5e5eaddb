"""Microcontroller export: dense full-int8 .tflite, a C array, measured in the real TFLM.

TFLM has no DENSIFY kernel and silently miscomputes native block-sparse tensors, so this
path never encodes sparsity and refuses any file that carries it (FACTS.md, "TFLite Micro").

Example:
    >>> c_array(b"\\x01\\x02", "m")[0].splitlines()[-1]
    'const unsigned int m_data_len = 2;'
"""

from __future__ import annotations

import dataclasses
import os
import re
import warnings

import numpy as np

from tfprune import errors
from tfprune.compat import keras3_io
from tfprune.export import _inspect, _io, _litert, _model, _tflm, atomic, c_source, samples
from tfprune.export import compress as _compress
from tfprune.export import tflite_file as _tflite
from tfprune.export.c_source import c_array, resolver_header
from tfprune.export.compress.measure import micro_step as _compress_step

__all__ = ["micro", "MicroRecord", "c_array", "resolver_header", "TFLM_STEP_TOLERANCE"]

SAMPLES = 32  # inputs run through LiteRT and TFLM to compare them
# Largest difference, in int8 output steps, between TFLM and LiteRT on the same file and
# inputs before micro() warns. Both use reference integer kernels; differences of one step
# come from rounding in a few ops (measured: 2 for MEAN over an Embedding, 2-3 for a tiny
# LSTM); more points at a real mismatch (31 steps were seen on a ResNet-8).
TFLM_STEP_TOLERANCE = 4


@dataclasses.dataclass
class MicroRecord:
    """What :func:`micro` wrote and what TFLM measured.

    Attributes:
        out_dir: the folder written; ``files``: role -> path ("tflite", "source", "header",
            "ops").
        name: the C symbol prefix (``<name>_data``, ``<name>_data_len``).
        flash_bytes: bytes of the model array (what the model adds to flash).
        arena_bytes: the smallest tensor arena that ran every sample input with outputs equal
            to a large arena's; ``arena_reported_bytes``: TFLM's allocation report total.
        ops: builtin op names (what the op resolver must register); ``modes``: metadata modes.
        tflm_vs_litert: ``max_step_diff`` (int8 steps), ``exact_fraction``, ``top1_agreement``.
        vs_keras: TFLM (dequantized) against the Keras float model: ``max_abs_error``,
            ``max_rel_error``, ``top1_agreement``, ``samples``; None for a .tflite input.
        compression: with ``compress=`` "prune", "lut", "huffman" or "auto", the encoder's
            report (:func:`tfprune.export.compress.prune_encode`, ``lut_encode``,
            ``huffman_encode``, ``auto_encode``:
            per encoded tensor ``encoding``, ``flash_bytes``, ``decoded_bytes``) plus
            ``bit_exact``, ``decode_overhead``, the dense file's arena and ``arena_limit``
            (``flash_bytes``/``arena_bytes`` are then the compressed file's); None otherwise.
    """

    out_dir: str
    files: dict
    name: str
    flash_bytes: int
    arena_bytes: int
    arena_reported_bytes: int
    ops: tuple
    modes: tuple
    tflm_vs_litert: dict
    vs_keras: dict | None
    compression: dict | None = None

    def to_dict(self) -> dict:
        """A JSON-ready dict of the record."""
        return dataclasses.asdict(self)


def _load(model, representative_data):
    """Return (keras_model_or_None, source_path, data): data is a list of arrays or None."""
    tflite_path = isinstance(model, (str, os.PathLike)) and os.fspath(model).endswith(".tflite")
    if isinstance(model, (bytes, bytearray)) or tflite_path:
        source = os.fspath(model) if tflite_path else None
        if source and not os.path.isfile(source):
            raise errors.ExportError(f"Model file {source!r} does not exist.")
        data = representative_data
        if data is not None:
            data = list(data) if isinstance(data, (list, tuple)) else [data]
            data = [np.asarray(x) for x in data]
        return None, source, data
    keras_model, source = _model.resolve(model)
    if representative_data is None:
        raise errors.ExportError(
            "micro() converts a Keras model to full int8 and needs `representative_data` (a "
            "few hundred typical inputs, an array [n, *input_shape] or a tf.data.Dataset) to "
            "calibrate it. Only an already full-int8 .tflite file can be passed without it.")
    return keras_model, source, samples.representative(keras_model, representative_data)


def _is_id_input(t) -> bool:
    return t.dtype in ("int32", "int64") and not t.quantized


def _check_micro_file(summary):
    if summary.is_sparse:
        what = ", ".join(summary.mode_names) or "sparse tensors/DENSIFY"
        raise errors.ExportError(
            f"The model file is sparse-encoded ({what}). TFLite Micro has no DENSIFY kernel "
            "and computes wrong outputs for block-sparse tensors, so micro() exports dense "
            "int8 only: pass the Keras model (pruning keeps its zeros; the file stays dense).")
    bad_in = [t for t in summary.inputs if t.dtype != "int8" and not _is_id_input(t)]
    bad_out = [t for t in summary.outputs if t.dtype not in ("int8", "int32")]
    if bad_in or bad_out:
        what = ", ".join(f"{t.dtype} {side} {t.name!r}" for side, ts in
                         (("input", bad_in), ("output", bad_out)) for t in ts)
        raise errors.ExportError(
            f"The model file has {what}; a microcontroller export is full-int8 (int8 inputs, "
            "or integer token ids, and int8 outputs). Pass the Keras model to micro() to "
            "convert it that way.")


@keras3_io(returns="record", own_paths=True)
def micro(model, out_dir, *, representative_data=None, name: str = "model",
          overwrite: bool = False, compress=None,
          allow_uncompressed: bool = False, arena: int | None = None) -> MicroRecord:
    """Export for a microcontroller: dense full-int8 .tflite, C array, TFLM measurements.

    Writes ``model.tflite``, ``<name>_data.cc``/``.h`` (``alignas(16) const unsigned char
    <name>_data[]`` and ``<name>_data_len``) and ``<name>_ops.h`` (registers the ops on a
    ``MicroMutableOpResolver``). Runs the file in the real TFLM interpreter (tflite-micro
    package, in a child process) to find the smallest arena and compare with LiteRT; warns
    if they differ by more than ``TFLM_STEP_TOLERANCE`` int8 steps. Multi-input/output
    models, token-id inputs (kept int32) and LSTM/GRU (batch-1 conversion) are supported.

    Args:
        model: a tf_keras model (pruning wrappers allowed) or its saved file, a Keras 3
            model (subclassed too: converted from its call, tfprune's masks stripped first,
            :mod:`tfprune.export.keras3_call`); or an existing
            .tflite file path or bytes, which must be dense full-int8 with int8 input/output.
        out_dir: folder for the files; created if missing; must not be a file.
        representative_data: for a Keras model (required): array ``[n, *input_shape]``,
            ``(x, y)``, tf.data.Dataset, or for several inputs a list/tuple/dict of arrays;
            calibrates int8 (up to 300 samples); the first 32 are run through LiteRT and TFLM.
            For a .tflite input it may be omitted (random valid inputs are used) or given as
            inputs already in the file's dtypes.
        name: C identifier prefixing the generated symbols and file names.
        compress: None (dense int8); ``"prune"``: every weight tensor where it saves bytes
            becomes a TFLM DECODE bitmask + packed non-zero values; ``"lut"``: int8 tensors
            with at most 128 distinct values per output channel (e.g. after
            :func:`tfprune.export.cluster`) become 1-7-bit indices into per-channel value
            tables; ``"huffman"``: int8 tensors as one Huffman code per tensor (few frequent
            values: zeros, clustered values); ``"auto"``: per tensor the smallest of prune,
            LUT, Huffman and none
            (tfprune.export.compress). Checked bit-exact against the dense file in TFLM
            before anything is written.
        allow_uncompressed: with ``compress="prune"``/``"lut"``/``"huffman"``, write the dense
            file when no tensor qualifies instead of raising ("auto" always allows it).
        arena: tensor arena limit in bytes (None: no limit). DECODE outputs live in the arena,
            so with a ``compress`` value the largest tensors stay uncompressed until the
            measured arena fits; raises if even the dense file needs more.
        overwrite: replace existing files in ``out_dir`` (keeping their permissions).

    Returns:
        A :class:`MicroRecord`.

    Raises:
        tfprune.errors.ExportError: a NaN/inf weight (naming the layer), sparse-encoded or
            non-int8 input file, an op TFLM lacks
            (named with the Keras layer that produced it), bad data, unwritable or bad paths.
            Nothing is written when it is raised.
        tfprune.errors.ConfigError: ``name`` is not a C identifier.

    Example:
        >>> import os, tempfile, numpy as np
        >>> from tfprune.compat import keras
        >>> m = keras.Sequential([keras.layers.Dense(3, input_shape=(4,))])
        >>> rec = micro(m, tempfile.mkdtemp(), representative_data=np.random.rand(50, 4))
        >>> rec.tflm_vs_litert["max_step_diff"] <= 1
        True
    """
    _check_arguments(name, compress, arena)
    keras_model, source, data = _load(model, representative_data)
    if keras_model is not None:
        _model.check_finite_weights(keras_model)
    files = c_source.filenames(name)
    out_dir = atomic.check_output_dir(out_dir, files.values(), overwrite=overwrite,
                                       inputs=[source])
    with atomic.scratch(out_dir):
        plain, content = _int8_file(model, keras_model, source, data)
        summary = _inspect.summarize(content)
        _check_micro_file(summary)
        if compress is not None:  # encoded (or refused) before the long TFLM runs
            encoded = _encode(content, compress, allow_uncompressed, None)
        m = _measure(content, summary, plain, data)
        if arena is not None and m["arena"] > arena:
            raise errors.ExportError(
                f"The dense int8 model alone needs a {m['arena']} B tensor arena, above "
                f"arena={arena}; compression cannot lower it (DECODE adds to the arena). "
                "Raise `arena`, or shrink the model (tfprune.structured) to cut activations.")
        ops, compression = summary.ops, None
        if compress is not None:
            content, extra, compression = _compressed(content, compress, encoded, m, arena)
            ops = (*extra, *ops)
        written = c_source.write(out_dir, files, content, name, ops)
    return MicroRecord(
        out_dir=out_dir, files=written, name=name, flash_bytes=len(content),
        arena_bytes=int(m["arena"]), arena_reported_bytes=int(m["reported"]),
        ops=ops, modes=summary.modes, tflm_vs_litert=m["agreement"],
        vs_keras=m["vs_keras"], compression=compression,
    )


def _check_arguments(name, compress, arena) -> None:
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise errors.ConfigError(f"`name` must be a C identifier like 'model', got {name!r}.")
    _compress.check_option(compress)
    if arena is not None and (isinstance(arena, bool) or not isinstance(arena, int) or arena < 1):
        raise errors.ConfigError(f"`arena` must be a positive int (bytes) or None, got {arena!r}.")


def _int8_file(model, keras_model, source, data):
    """``(plain_model_or_None, bytes)``: the Keras model converted to full int8, or the file."""
    if keras_model is not None:
        plain = _model.strip(keras_model)
        return plain, _tflite.convert(plain, quantize="int8", sparse=False, data=data,
                                      int8_io=True)
    if source is not None:
        with open(source, "rb") as f:
            return None, f.read()
    return None, bytes(model)


def _compressed(dense_content, compress, encoded, m, arena):
    """``(content, extra_ops, compression)`` of the encoded file, measured in TFLM; with an
    ``arena`` limit the largest tensors stay dense until the measured arena fits. Updates
    ``m["arena"]`` and ``m["reported"]`` to the encoded file's."""
    cap = None if arena is None else arena - m["arena"]
    if cap is not None:
        encoded = _encode(dense_content, compress, True, max(cap, 1))
    while True:
        content, extra, compression, m_arena, m_reported = _compress_step(
            dense_content, encoded, m)
        if arena is None or m_arena <= arena or not compression["encoded"]:
            break
        # the planner kept more decoded bytes live than estimated: drop the largest
        encoded = _encode(dense_content, compress, True,
                          compression["largest_decoded_bytes"] - 1)
    m["arena"], m["reported"] = m_arena, m_reported
    compression["arena_limit"] = arena
    return content, extra, compression


def _encode(content, compress, allow_uncompressed, max_decoded_bytes):
    """The ``compress=`` encoder's ``(bytes, report)`` for ``content``."""
    return _compress.encode(content, compress, allow_uncompressed=allow_uncompressed,
                            max_decoded_bytes=max_decoded_bytes)


def _measure(content, summary, plain, data) -> dict:
    """Run LiteRT and TFLM on the same codes; find the arena; compare with Keras."""
    it, _, _ = _litert.interpreter(content)
    if plain is not None:
        io = _io.match(summary, samples.input_specs(plain), _io.output_shapes(plain),
                       _model.output_names(plain), model_name=plain.name, file_name="the file")
        xs = [x[:SAMPLES] for x in data]
        codes = _litert.encode_inputs(it, xs, io)
    else:
        io = _io.identity(len(summary.inputs), len(summary.outputs),
                          [t.name for t in summary.outputs])
        codes = _random_codes(it, summary, data)
    litert_raw = _litert.run_codes(it, codes)
    n_out = len(summary.outputs)
    measured = _tflm.run(content, codes, n_outputs=n_out)
    if not measured["ok"]:
        raise _tflm_error(measured, summary, plain)
    tflm_raw = measured["outputs"]
    arena = _tflm.smallest_arena(content, codes, tflm_raw, start=measured["reported"] or 0,
                                 ceiling=measured["arena"])
    agreement = _agreement(litert_raw, tflm_raw, io)
    _warn_steps(agreement)
    vs_keras = None
    if plain is not None:
        vs_keras = _litert.compare(_io.predict(plain, xs),
                                   _litert.decode_outputs(it, tflm_raw, io), io.output_names)
    # codes / tflm_raw: TFLM inputs and outputs, lists in the file's order (for compress=)
    return {"arena": arena, "reported": measured["reported"] or 0, "agreement": agreement,
            "vs_keras": vs_keras, "codes": codes, "tflm_raw": tflm_raw}


def _random_codes(it, summary, data):
    """Inputs for a .tflite given alone: ``data`` if any, else seeded random valid codes
    (full int8 range; token ids below the vocabulary of the GATHER reading them, else 0)."""
    details = it.get_input_details()
    if data is not None:
        if len(data) != len(details):
            raise errors.ExportError(f"`representative_data` has {len(data)} arrays; the file "
                                     f"has {len(details)} inputs.")
        return [_litert.encode(x[:SAMPLES], d) for x, d in zip(data, details, strict=True)]
    rng = np.random.default_rng(0)
    codes = []
    for d, t in zip(details, summary.inputs, strict=True):
        shape = (SAMPLES, *d["shape"][1:])
        if _is_id_input(t):
            codes.append(rng.integers(0, t.vocab or 1, shape).astype(d["dtype"]))
        else:
            info = np.iinfo(d["dtype"])
            codes.append(rng.integers(info.min, info.max + 1, shape).astype(d["dtype"]))
    return codes


def _agreement(litert_raw, tflm_raw, io) -> dict:
    per = {}
    for j, p in enumerate(io.outputs):
        a, b = litert_raw[p], tflm_raw[p]
        diff = np.abs(a.astype(np.int64) - b.astype(np.int64))
        fa, fb = a.reshape(len(a), -1), b.reshape(len(b), -1)
        top1 = float(np.mean(fa.argmax(1) == fb.argmax(1))) if fa.shape[1] > 1 else None
        per[io.output_names[j]] = {"max_step_diff": int(diff.max()),
                                   "exact_fraction": float(np.mean(diff == 0)),
                                   "top1_agreement": top1, "samples": int(len(a))}
    if len(per) == 1:
        return next(iter(per.values()))
    tops = [v["top1_agreement"] for v in per.values() if v["top1_agreement"] is not None]
    return {"max_step_diff": max(v["max_step_diff"] for v in per.values()),
            "exact_fraction": min(v["exact_fraction"] for v in per.values()),
            "top1_agreement": min(tops) if tops else None,
            "samples": next(iter(per.values()))["samples"], "outputs": per}


def _warn_steps(agreement):
    steps = agreement["max_step_diff"]
    if steps > TFLM_STEP_TOLERANCE:
        warnings.warn(
            f"TFLM and LiteRT disagree by up to {steps} int8 steps on the same inputs, above "
            f"the documented bound of {TFLM_STEP_TOLERANCE} steps "
            "(tfprune.export.TFLM_STEP_TOLERANCE): the two runtimes' kernels round "
            "differently for some op. Check record.tflm_vs_litert and accuracy on the device.",
            stacklevel=4)


def _tflm_error(measured, summary, plain):
    if measured.get("missing"):
        layer_names = [layer.name for layer in plain.layers] if plain is not None else []
        outputs = _model.output_names(plain) if plain is not None else []
        parts = []
        for op in measured["missing"]:
            layers = _inspect.layers_for_op(summary, op, layer_names, outputs)
            where = f" (from Keras layer {', '.join(map(repr, layers))})" if layers else ""
            parts.append(f"{op}{where}")
        return errors.ExportError(
            f"TFLite Micro has no kernel for op {'; '.join(parts)}. Replace that layer with "
            "one TFLM supports, or implement and register the op in your firmware.")
    return errors.ExportError(f"TFLite Micro could not run the model: {measured['error']}.\n"
                              f"{measured.get('log', '')[-800:]}")
