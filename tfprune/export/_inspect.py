"""Read a .tflite flatbuffer: ops, optimisation modes, sparse tensors, op-to-layer names.

Example:
    >>> MODE_NAMES[3001]
    'RANDOM_SPARSITY'
"""

from __future__ import annotations

import dataclasses
import re

from tfprune import errors

__all__ = ["MODE_NAMES", "SPARSITY_MODES", "Summary", "TensorInfo", "summarize", "layers_for_op",
           "check_content"]

_IDENTIFIER = b"TFL3"  # flatbuffer file identifier of every .tflite model, bytes 4..8

MODE_NAMES = {
    1001: "PTQ_FLOAT16",
    1002: "PTQ_DYNAMIC_RANGE",
    1003: "PTQ_FULL_INTEGER",
    1004: "PTQ_INT16",
    2000: "QUANTIZATION_AWARE_TRAINING",
    3001: "RANDOM_SPARSITY",
    3002: "BLOCK_SPARSITY",
    3003: "STRUCTURED_SPARSITY",
}
SPARSITY_MODES = frozenset({3001, 3002, 3003})


@dataclasses.dataclass(frozen=True)
class OpInfo:
    """One operator of the graph: its name and the names of its tensors."""

    name: str
    inputs: tuple
    outputs: tuple
    is_model_output: bool


@dataclasses.dataclass(frozen=True)
class TensorInfo:
    """A graph input or output: its signature name (or tensor name), shape, dtype, quantised.

    ``shape`` keeps -1 for dynamic dimensions; ``vocab`` is the number of rows of the
    embedding table an integer input indexes (a GATHER reading it), else None.
    """

    name: str
    shape: tuple
    dtype: str
    quantized: bool
    vocab: int | None = None


@dataclasses.dataclass(frozen=True)
class Summary:
    """What a .tflite file holds. ``modes`` come from its conversion metadata."""

    ops: tuple  # unique op names, in order of first use
    graph: tuple  # OpInfo per operator
    modes: tuple  # ints, e.g. (1003, 3001)
    sparse_tensors: tuple  # names of tensors stored in a sparse format
    input_dtype: str
    output_dtype: str
    inputs: tuple = ()  # TensorInfo per graph input, in the file's order
    outputs: tuple = ()  # TensorInfo per graph output, in the file's order

    @property
    def mode_names(self):
        return tuple(MODE_NAMES.get(m, str(m)) for m in self.modes)

    @property
    def is_sparse(self) -> bool:
        return bool(SPARSITY_MODES.intersection(self.modes) or self.sparse_tensors
                    or "DENSIFY" in self.ops)


def _op_names():
    from tensorflow.lite.python import schema_py_generated as fb

    return {v: k for k, v in vars(fb.BuiltinOperator).items() if not k.startswith("_")}


_TYPES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 9: "int8", 7: "int16"}


def check_content(content, what: str = "the file") -> bytes:
    """Return ``content`` as bytes if it looks like a .tflite flatbuffer, else raise ExportError.

    Example:
        >>> try:
        ...     check_content(b"garbage", "x")
        ... except ValueError as e:
        ...     print(str(e)[:24])
        x is not a .tflite model
    """

    content = bytes(content)
    if len(content) < 16 or content[4:8] != _IDENTIFIER:
        raise errors.ExportError(
            f"{what} is not a .tflite model ({len(content)} bytes without the 'TFL3' identifier "
            "at bytes 4-8). Pass the bytes or path of a file written by tfprune.export.tflite / "
            "micro or tf.lite.TFLiteConverter.")
    return content


def _tensor_infos(sub, positions, names):
    infos = []
    for pos in positions:
        t = sub.tensors[pos]
        shape = t.shapeSignature if t.shapeSignature is not None else t.shape
        q = t.quantization
        quantized = bool(q is not None and q.scale is not None and len(q.scale)
                         and float(q.scale[0]) != 0.0)
        infos.append(TensorInfo(names.get(int(pos)) or (t.name or b"").decode(),
                                tuple(int(d) for d in (shape if shape is not None else [])),
                                _TYPES.get(t.type, "other"), quantized))
    return infos


def _signature_names(model, side):
    names = {}
    for sig in model.signatureDefs or []:
        if sig.subgraphIndex == 0:
            for tmap in getattr(sig, side) or []:
                names[int(tmap.tensorIndex)] = tmap.name.decode()
    return names


def _vocab(sub, codes, pos):
    for op in sub.operators or []:
        if codes[op.opcodeIndex] == "GATHER" and op.inputs is not None and len(op.inputs) > 1 \
                and int(op.inputs[1]) == pos:
            table = sub.tensors[op.inputs[0]].shape
            return int(table[0]) if table is not None and len(table) else None
    return None


def summarize(content: bytes) -> Summary:
    """Parse ``content`` (the bytes of a .tflite file)."""
    from tensorflow.lite.python import schema_py_generated as fb
    from tensorflow.lite.python import util

    content = check_content(content)
    model = fb.ModelT.InitFromObj(fb.Model.GetRootAsModel(bytearray(content), 0))
    names = _op_names()
    codes = []
    for oc in model.operatorCodes:
        code = max(oc.builtinCode, oc.deprecatedBuiltinCode)
        custom = oc.customCode.decode() if oc.customCode else None
        codes.append(custom if code == fb.BuiltinOperator.CUSTOM and custom else names[code])
    sub = model.subgraphs[0]
    tname = [(t.name or b"").decode() for t in sub.tensors]
    outputs = set(int(i) for i in sub.outputs)
    graph, ops = [], []
    for op in sub.operators or []:
        name = codes[op.opcodeIndex]
        if name not in ops:
            ops.append(name)
        ins = tuple(tname[i] for i in (op.inputs if op.inputs is not None else []) if i >= 0)
        outs = [int(i) for i in (op.outputs if op.outputs is not None else [])]
        graph.append(OpInfo(name, ins, tuple(tname[i] for i in outs),
                            bool(outputs.intersection(outs))))
    sparse = tuple(tname[i] for i, t in enumerate(sub.tensors) if t.sparsity is not None)
    meta = util.get_conversion_metadata(bytes(content))
    modes = ()
    if meta is not None and meta.options is not None and meta.options.modelOptimizationModes is not None:
        modes = tuple(int(m) for m in meta.options.modelOptimizationModes)
    ins = _tensor_infos(sub, sub.inputs, _signature_names(model, "inputs"))
    ins = [dataclasses.replace(t, vocab=_vocab(sub, codes, int(p)))
           if t.dtype in ("int32", "int64") else t for t, p in zip(ins, sub.inputs, strict=True)]
    outs = _tensor_infos(sub, sub.outputs, _signature_names(model, "outputs"))
    return Summary(
        ops=tuple(ops), graph=tuple(graph), modes=modes, sparse_tensors=sparse,
        input_dtype=ins[0].dtype, output_dtype=outs[0].dtype, inputs=tuple(ins),
        outputs=tuple(outs),
    )


def layers_for_op(summary: Summary, op_name: str, layer_names, output_layers=()) -> list:
    """Keras layer names whose tensors an ``op_name`` operator reads or writes.

    Tensor names look like ``model/conv2d_1/Conv2D``; a graph-output tensor is named
    ``StatefulPartitionedCall:0``, so an op writing the model output maps to ``output_layers``.
    """
    found = []
    for op in summary.graph:
        if op.name != op_name:
            continue
        hits = [n for n in layer_names if any(_mentions(t, n) for t in op.outputs)]
        if not hits and op.is_model_output:
            hits = list(output_layers)
        if not hits:
            hits = [n for n in layer_names if any(_mentions(t, n) for t in op.inputs)][-1:]
        found.extend(h for h in hits if h not in found)
    return found


def _mentions(tensor_name: str, layer: str) -> bool:
    return re.search(r"(^|[/;])" + re.escape(layer) + r"(/|$|;)", tensor_name) is not None
