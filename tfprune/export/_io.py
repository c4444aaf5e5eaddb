"""Match a .tflite file's inputs and outputs to a Keras model's, by name then by order.

A converted file may order its inputs and outputs differently from the Keras model; its
signature names them (the Keras input and output names). A file whose inputs or outputs do
not fit the model (another model's file) is refused, naming what differs.

Example:
    >>> identity(2, 1)
    IOMap(inputs=(0, 1), outputs=(0,), output_names=('output_0',))
"""

from __future__ import annotations

import dataclasses

from tfprune import errors

__all__ = ["IOMap", "identity", "match", "predict", "output_shapes"]


def output_shapes(model) -> list:
    """Each Keras output's shape without the batch axis."""
    return [tuple(t.shape[1:]) for t in model.outputs]


def predict(model, xs) -> list:
    """Keras outputs (a list, Keras order) for ``xs`` (one array per input)."""
    out = model.predict(xs[0] if len(xs) == 1 else list(xs), verbose=0, batch_size=64)
    return list(out) if isinstance(out, (list, tuple)) else [out]


@dataclasses.dataclass(frozen=True)
class IOMap:
    """``inputs[p]``: the Keras input fed to the file's input p; ``outputs[j]``: the file
    output holding Keras output j; ``output_names[j]``: its name."""

    inputs: tuple
    outputs: tuple
    output_names: tuple


def identity(n_in: int, n_out: int, names=None) -> IOMap:
    """The file's own order (no Keras model to match)."""
    names = tuple(names) if names else tuple(f"output_{j}" for j in range(n_out))
    return IOMap(tuple(range(n_in)), tuple(range(n_out)), names)


def _order(file_names, keras_names, side, model_name, file_name):
    """Position in ``keras_names`` of each of ``file_names``: by name if they agree, else
    by order when the counts agree."""
    if len(file_names) != len(keras_names):
        raise errors.ExportError(
            f"{file_name} has {len(file_names)} {side}s {list(file_names)}, but model "
            f"{model_name!r} has {len(keras_names)} {list(keras_names)}: it was not exported "
            "from this model. Pass the model the file came from (or re-export it).")
    if sorted(file_names) == sorted(keras_names) and len(set(keras_names)) == len(keras_names):
        return tuple(keras_names.index(n) for n in file_names)
    return tuple(range(len(file_names)))


def _fits(file_shape, keras_shape) -> bool:
    dims = tuple(file_shape[1:])
    return len(dims) == len(keras_shape) and all(
        k is None or f in (-1, k) for f, k in zip(dims, keras_shape, strict=True))


def _shape_text(shape) -> str:
    return "(" + ", ".join("None" if d in (None, -1) else str(d) for d in shape) + ")"


def match(summary, specs, output_shapes, out_names, *, model_name, file_name) -> IOMap:
    """Map the file's inputs/outputs (``summary``, from ``_inspect.summarize``) to the Keras
    inputs (``specs``, from ``samples.input_specs``) and outputs; refuse a file that does not fit.
    """
    f_in = [t.name.replace("serving_default_", "").split(":")[0] for t in summary.inputs]
    in_order = _order(f_in, [s.name for s in specs], "input", model_name, file_name)
    for t, k in zip(summary.inputs, in_order, strict=True):
        spec = specs[k]
        integer_file = t.dtype in ("int32", "int64") and not t.quantized
        if not _fits(t.shape, spec.shape) or integer_file != spec.is_integer:
            raise errors.ExportError(
                f"{file_name} does not fit model {model_name!r}: its input {t.name!r} is "
                f"{t.dtype} {_shape_text(t.shape[1:])}, the model input {spec.name!r} is "
                f"{spec.dtype.name} {_shape_text(spec.shape)}. Pass the model the file was "
                "exported from.")
    f_out = [t.name for t in summary.outputs]
    file_pos = _order(f_out, list(out_names), "output", model_name, file_name)
    outputs = [0] * len(file_pos)
    for p, j in enumerate(file_pos):
        outputs[j] = p
        t = summary.outputs[p]
        if not _fits(t.shape, tuple(output_shapes[j])):
            raise errors.ExportError(
                f"{file_name} does not fit model {model_name!r}: its output {t.name!r} has "
                f"shape {_shape_text(t.shape[1:])}, the model output {out_names[j]!r} "
                f"{_shape_text(output_shapes[j])}. Pass the model the file was exported from.")
    return IOMap(in_order, tuple(outputs), tuple(out_names))
