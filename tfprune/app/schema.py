"""The recipe JSON schema (:data:`SCHEMA`, draft 2020-12): the ``run`` recipe of ``tfprune run``
(``configs/*.yaml``) and the flat ``demo`` budget of ``tfprune demo --config``, with the size
limits :mod:`tfprune.app.recipes` reads recipes under. Data only; no Keras.

Example:
    >>> sorted(SCHEMA["$defs"])
    ['demo', 'run']
    >>> "model" in SCHEMA["$defs"]["run"]["required"]
    True
"""

from __future__ import annotations

__all__ = ["SCHEMA", "DEMO_SCHEMA", "RUN", "DEMO", "MAX_BYTES", "MAX_ALIASES"]

MAX_BYTES = 64 * 1024  # a recipe is a page of settings, not data
MAX_ALIASES = 32

_FRACTION = {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}
_SPARSITY = {"type": "number", "minimum": 0, "exclusiveMaximum": 1}
_POS_INT = {"type": "integer", "minimum": 1, "maximum": 1_000_000}
_EPOCHS = {"type": "integer", "minimum": 0, "maximum": 10_000}
_LR = {"type": "number", "exclusiveMinimum": 0, "maximum": 10}
_SEED = {"type": "integer", "minimum": 0, "maximum": 2**32 - 1}
_NAMES = {"type": "array", "items": {"type": "string"}}
_SHAPE = {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 4096},
          "minItems": 1, "maxItems": 4}


def _obj(props: dict, required=(), min_props=0) -> dict:
    return {"type": "object", "additionalProperties": False, "properties": props,
            "required": list(required), "minProperties": min_props}


DEMO = _obj({
    "sparsity": _FRACTION,
    "channels": _FRACTION,
    "dense_epochs": {**_POS_INT, "maximum": 1000},
    "finetune_epochs": {**_POS_INT, "maximum": 1000},
    "train_samples": {"type": "integer", "minimum": 64, "maximum": 4000},
    "batch_size": {**_POS_INT, "maximum": 4096},
    "learning_rate": _LR,
    "frequency": _POS_INT,
    "ramp_fraction": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
    "seed": _SEED,
    "scope": {"enum": ["layer", "global"]},
})

RUN = _obj({
    "name": {"type": "string", "maxLength": 100},
    "seed": _SEED,
    "model": {"type": "string", "minLength": 1},
    "task": {"enum": ["auto", "sparse_categorical", "categorical", "binary", "regression"]},
    # what the run measures: a metric name, or for several outputs loss / <output>_<metric>
    "metric": {"type": "string", "minLength": 1, "maxLength": 100},
    "model_options": _obj({
        "input_shape": _SHAPE, "classes": _POS_INT,
        "alpha": {"type": "number", "exclusiveMinimum": 0, "maximum": 4}}),
    "data": _obj({
        "source": {"type": "string", "minLength": 1},
        "test_fraction": _FRACTION,
        "limit": {"type": "integer", "minimum": 10, "maximum": 10_000_000},
        "image_size": {**_SHAPE, "minItems": 2, "maxItems": 2},
        "resize": {**_SHAPE, "minItems": 2, "maxItems": 2},
        "rgb": {"type": "boolean"},
        "scale": {"type": "number", "exclusiveMinimum": 0, "maximum": 1e6},
    }, required=["source"]),
    "train": _obj({
        "epochs": _EPOCHS, "batch_size": {**_POS_INT, "maximum": 4096},
        "learning_rate": _LR,
        "loss": {"oneOf": [{"type": "string"},  # one loss (for every output), or per output
                           {"type": "object", "additionalProperties": {"type": "string"},
                            "minProperties": 1}]}}),
    "prune": _obj({
        # one value: a name, "N:M" (e.g. "1:4") or "block:RxC" (e.g. "block:8x1"); the
        # keys n_m/block below are still read (granularity "n:m"/"block" with a pair)
        "granularity": {"anyOf": [
            {"enum": ["weight", "unstructured", "channel", "n:m", "block"]},
            {"type": "string", "pattern": r"^[0-9]+:[0-9]+$"},
            {"type": "string", "pattern": r"^block:[0-9]+x[0-9]+$"}]},
        "schedule": {"enum": ["agp", "one_shot"]},
        "compensate": {"type": "boolean"},
        "sparsity": _SPARSITY,
        "criterion": {"type": "string"},
        "scope": {"enum": ["layer", "global"]},
        "exclude": _NAMES,
        "epochs": _EPOCHS,
        "learning_rate": _LR,
        "batch_size": {**_POS_INT, "maximum": 4096},
        "frequency": _POS_INT,
        "ramp_fraction": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
        "round_to": {**_POS_INT, "maximum": 1024},
        "min_channels": {**_POS_INT, "maximum": 1_000_000},
        "n_m": {"type": "array", "items": _POS_INT, "minItems": 2, "maxItems": 2},
        "block": {"type": "array", "items": _POS_INT, "minItems": 2, "maxItems": 2},
        "distill": _obj({"temperature": {"type": "number", "exclusiveMinimum": 0, "maximum": 100},
                         "alpha": {"type": "number", "minimum": 0, "maximum": 1}}),
    }),
    "export": _obj({
        "tflite": {"type": "array", "items": {"enum": ["float", "int8", "dynamic", "float16"]},
                   "uniqueItems": True},
        "micro": {"oneOf": [{"type": "boolean"}, _obj({
            "compress": {"enum": ["none", "auto", "prune", "lut", "huffman"]},
            "arena": {"type": "integer", "minimum": 1, "maximum": 2**31}})]},
        "latency_runs": {"type": "integer", "minimum": 0, "maximum": 100_000},
    }),
    "quantize_aware": _obj({
        "epochs": {**_EPOCHS, "minimum": 1}, "learning_rate": _LR,
        "batch_size": {**_POS_INT, "maximum": 4096}}),
    "report": _obj({"plots": {"type": "boolean"}}),
    "mlflow": _obj({"tracking_uri": {"type": "string"}, "experiment": {"type": "string"},
                    "run_name": {"type": "string"}}),
    "sensitivity": _obj({
        "levels": {"type": "array", "items": _FRACTION, "minItems": 1, "maxItems": 20},
        "metric": {"type": "string", "minLength": 1, "maxLength": 100},
        "samples": {"type": "integer", "minimum": 8, "maximum": 100_000},
        "criterion": {"type": "string"}}),
    "allocate": _obj({
        "sparsity": _FRACTION,
        "params": {"type": "number", "exclusiveMinimum": 0, "maximum": 1e12},
        "macs": {"type": "number", "exclusiveMinimum": 0, "maximum": 1e15},
        "bytes": {"type": "number", "exclusiveMinimum": 0, "maximum": 1e12},
        "flash": {"type": "number", "exclusiveMinimum": 0, "maximum": 1e12},
        "method": {"enum": ["sensitivity", "uniform", "erk", "lamp"]},
    }, min_props=1),
    "sweep": _obj({
        "space": {"type": "object"},
        "oracle": {"enum": ["random", "bayesian", "hyperband", "grid"]},
        "max_trials": {"type": "integer", "minimum": 1, "maximum": 10_000},
        "objective": {"type": "string"},
        "quality": {"type": "string"},
        "cost": {"type": "string"},
        "measure": {"type": "array", "items": {"enum": ["tflite_bytes", "latency_ms"]}},
    }),
}, required=["model", "data"])

SCHEMA = {"$schema": "https://json-schema.org/draft/2020-12/schema",
          "$defs": {"run": RUN, "demo": DEMO}}
DEMO_SCHEMA = DEMO  # kept name: the demo's flat budget
