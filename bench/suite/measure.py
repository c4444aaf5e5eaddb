"""Measurements of one pruned model: accuracy, counts, .tflite files, latency, TFLM."""

from __future__ import annotations

import os
import tempfile
import time
import warnings

import numpy as np

import tfprune
from tfprune import export


def accuracy(model, x, y) -> float:
    """Top-1 accuracy of the Keras model on (x, y)."""
    return float(np.mean(model.predict(x, verbose=0, batch_size=256).argmax(-1) == y))


def counts(model) -> dict:
    """Params, non-zero params and MACs (dense MACs of the layers as they are)."""
    s = tfprune.summary(model, print_fn=None)
    return {"params": int(s["params"]), "nonzero_params": int(s["nonzero_params"]),
            "macs": int(s["macs"])}


def exports(model, calib, *, latency_runs: int = 100) -> dict:
    """Float .tflite (sparse-encoded where it pays, LiteRT's ``sparse="auto"``) and its
    LiteRT 1-thread latency; the int8 micro export dense and DECODE prune-compressed (TFLM
    flash = model bytes, arena = smallest working tensor arena found in the real TFLM
    interpreter; compressed outputs checked bit-exact against the dense int8 file)."""
    t0 = time.perf_counter()
    out = {}
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = os.path.join(tmp, "float.tflite")
        rec = export.tflite(model, path)
        out["float_bytes"] = int(rec.bytes)
        out["float_modes"] = list(rec.mode_names)
        lat = export.latency(path, threads=1, runs=latency_runs, warmup=10)
        out["latency_ms"] = round(float(lat.median_ms), 5)
        m = export.micro(model, os.path.join(tmp, "micro"), representative_data=calib,
                         compress="prune", allow_uncompressed=True)
        c = m.compression or {}
        out["flash_bytes"] = int(m.flash_bytes)
        out["arena_bytes"] = int(m.arena_bytes)
        out["int8_bytes"] = int(c.get("dense_bytes", m.flash_bytes))
        out["int8_arena_bytes"] = int(c.get("dense_arena_bytes") or m.arena_bytes)
        out["compressed_bytes"] = int(m.flash_bytes)
        out["encoded_tensors"] = int(c.get("encoded", 0))
        out["bit_exact"] = c.get("bit_exact")
        out["decode_overhead"] = c.get("decode_overhead")
    out["measure_seconds"] = round(time.perf_counter() - t0, 1)
    return out
