"""Figures of the export report (not a test): sizes and disagreements of the tiny models.

Run: .venv/bin/python tests/export/export_figures.py   (about 4 minutes on 2 busy cores)
"""

import json
import os
import tempfile
import warnings

import numpy as np

from tfprune import export
from tfprune.compat import keras
from tfprune.export import _io, _litert, _model, tflite_file

L = keras.layers


def text_model():
    keras.utils.set_random_seed(5)
    inp = keras.Input((6,), dtype="int32", name="ids")
    h = L.GlobalAveragePooling1D()(L.Embedding(50, 8, name="emb")(inp))
    return keras.Model(inp, L.Dense(3, name="out")(h), name="text")


def lstm_model():
    keras.utils.set_random_seed(1)
    inp = keras.Input((5, 3), name="seq")
    return keras.Model(inp, L.Dense(2, name="head")(L.LSTM(4, name="lstm")(inp)), name="lstm")


def stateful_error(model, x):
    """Float error if the LSTM state were NOT reset between samples (what LiteRT does)."""
    plain = _model.strip(model)
    it, _, _ = _litert.interpreter(tflite_file.convert(plain))
    d_in, d_out = it.get_input_details()[0], it.get_output_details()[0]
    outs = []
    for s in x:
        it.set_tensor(d_in["index"], s[None])
        it.invoke()
        outs.append(it.get_tensor(d_out["index"])[0].copy())
    return _litert.compare(_io.predict(plain, [x])[0], np.stack(outs))["max_rel_error"]


def main():
    out = tempfile.mkdtemp()
    rng = np.random.default_rng(0)
    cases = {"text": (text_model(), rng.integers(0, 50, (48, 6)).astype("int32")),
             "lstm": (lstm_model(), rng.random((48, 5, 3)).astype("float32"))}
    res = {}
    for name, (model, x) in cases.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            f = export.tflite(model, os.path.join(out, f"{name}_f.tflite"), representative_data=x)
            q = export.tflite(model, os.path.join(out, f"{name}_q.tflite"), quantize="int8",
                              representative_data=x)
            m = export.micro(model, os.path.join(out, f"{name}_mcu"), representative_data=x)
        res[name] = {
            "float_bytes": f.bytes, "int8_bytes": q.bytes, "micro_flash": m.flash_bytes,
            "micro_arena": m.arena_bytes, "ops": list(m.ops),
            "float_rel_vs_keras": f.verification["max_rel_error"],
            "int8_rel_vs_keras": q.verification["max_rel_error"],
            "tflm_vs_litert_steps": m.tflm_vs_litert["max_step_diff"],
            "tflm_exact_fraction": m.tflm_vs_litert["exact_fraction"],
            "tflm_rel_vs_keras": m.vs_keras["max_rel_error"],
            "warnings": [str(w.message)[:120] for w in caught]}
    res["lstm"]["float_rel_without_state_reset"] = stateful_error(cases["lstm"][0],
                                                                 cases["lstm"][1])
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
