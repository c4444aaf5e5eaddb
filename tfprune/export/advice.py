"""Will it speed up? Per layer, which pruning pattern pays on which runtime, predicted and measured.

Only some patterns make a deployed file faster or smaller, and which depends on the runtime
(FACTS.md, bench/results/sparse_kernels.json):

- channels (``granularity="channel"`` + ``tfprune.shrink``): every runtime; time, flash and
  arena fall with the MACs and weights removed. Always applies.
- LiteRT's builtin FULLY_CONNECTED has block-sparse kernels: float 1x4 and int8 1x16 blocks
  along the input axis, i.e. ``granularity="block:4x1"`` / ``"block:16x1"`` on Dense
  layers (our block is (input rows, output columns) of the Keras kernel; TFLite stores the
  kernel transposed). XNNPACK does not take those files: they run on the builtin kernels.
- XNNPACK sparse inference: 1x1 convolutions with >= 2/3 zeros, NHWC->NCHW rewrite; XNNPACK
  turns it off on x86 CPUs with AVX, so it is inactive on most desktops and servers.
- TFLite Micro DECODE (``export.micro(compress="prune")``): flash only; a decoded tensor
  lives in the arena while its consumer runs, and decoding costs time.

Example:
    >>> from tfprune.compat import keras
    >>> m = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, name="fc")])
    >>> [r["pattern"] for r in advise(m).rows]
    ['channels', 'block 1x4 / 1x16', 'DECODE prune']
"""

from __future__ import annotations

import dataclasses
import platform

import numpy as np

from tfprune import errors
from tfprune import layers as layer_facts
from tfprune.compat import keras, keras3_io
from tfprune.core import masks
from tfprune.export import _inspect, _litert, _model, tflite_file, timing

__all__ = ["advise", "Advice", "TARGETS", "cpu_has_avx"]

TARGETS = ("all", "litert", "micro")
XNNPACK_SPARSE_MIN = 2 / 3  # XNNPACK's sparse inference needs >= 2/3 zeros in a 1x1 conv
# Measured on this repository's x86 host, LiteRT 1 thread (bench/sparse_kernels.py): the
# builtin block-sparse FULLY_CONNECTED at 90 % blocks against the dense file on XNNPACK.
MEASURED_FLOAT = ("2.4-3.7x faster than the dense XNNPACK file at 90 % blocks, 1.5-1.9x at "
                  "80 % (LeNet-300-100, MLPerf Tiny AD autoencoder, x86)")
MEASURED_INT8 = ("slower than the dense int8 XNNPACK file even at 95 % blocks (0.46-0.83x; "
                 "2-3.6x faster than dense int8 on the builtin kernels): export.tflite keeps "
                 "the dense file")
_COLUMNS = ("layer", "type", "zeros", "pattern", "runtime", "applies", "predicted", "measured")


def cpu_has_avx() -> bool | None:
    """True on an x86 CPU with AVX (XNNPACK's sparse inference is then off), False on other
    CPUs, None when it cannot be read (no /proc/cpuinfo on an x86 host)."""
    if platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686", "x86"):
        return False
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return "avx" in f.read().split()
    except OSError:
        return None


@dataclasses.dataclass
class Advice:
    """Result of :func:`advise`: ``rows`` (dicts with the columns ``layer``, ``type``,
    ``zeros`` (fraction now), ``pattern``, ``runtime``, ``applies`` (bool), ``predicted``,
    ``measured`` (None unless asked), ``how`` (the tfprune call)), the ``target`` and a
    ``cpu`` line; ``str(advice)`` is a table."""

    rows: list
    target: str
    cpu: str

    def __str__(self) -> str:
        head = "| " + " | ".join(_COLUMNS) + " |"
        lines = [f"CPU: {self.cpu}", head, "|" + "---|" * len(_COLUMNS)]
        for r in self.rows:
            cells = [r["layer"], r["type"], f"{r['zeros']:.0%}", r["pattern"], r["runtime"],
                     "yes" if r["applies"] else "no", r["predicted"], r["measured"] or "-"]
            lines.append("| " + " | ".join(str(c) for c in cells) + " |")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return dataclasses.asdict(self)


def _kernel(layer):
    for w in layer.weights:
        if w.name.split("/")[-1].split(":")[0] in ("kernel", "depthwise_kernel"):
            return w
    return None


def _is_1x1(layer) -> bool:
    return isinstance(layer, keras.layers.Conv2D) and not isinstance(
        layer, (keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D,
                keras.layers.Conv2DTranspose)) and tuple(layer.kernel_size) == (1, 1) and \
        getattr(layer, "groups", 1) == 1


def _row(layer, zeros, pattern, runtime, applies, predicted, how):
    return {"layer": layer.name, "type": type(layer).__name__, "zeros": zeros,
            "pattern": pattern, "runtime": runtime, "applies": bool(applies),
            "predicted": predicted, "measured": None, "how": how}


def _channels(layer, zeros, is_output):
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return _row(layer, zeros, "channels", "any (LiteRT, TFLM)", True,
                    "follows the channels of its producer (removed with them: time and "
                    "weights fall alike)", "prune(granularity='channel') + strip + shrink")
    if is_output:
        return _row(layer, zeros, "channels", "any (LiteRT, TFLM)", False,
                    "a model output: its channels are the model's outputs (its inputs shrink "
                    "with the layer before)", "-")
    return _row(layer, zeros, "channels", "any (LiteRT, TFLM)", True,
                "time, weights and MACs fall with the channels removed (50 % -> ~0.5x this "
                "layer and the next one's inputs)",
                "prune(granularity='channel') + strip + tfprune.shrink")


def _rows(layer, kernel, target, sparsity, avx, is_output=False) -> list:
    value = kernel.numpy()
    zeros = float(np.mean(value == 0))
    n = int(value.size)
    dense = isinstance(layer, keras.layers.Dense)
    rows = [_channels(layer, zeros, is_output)]
    if target in ("all", "litert"):
        if dense:
            n_in = int(value.shape[0])
            ok = [b for b, m in (("float 1x4", 4), ("int8 1x16", 16)) if n_in % m == 0]
            rows.append(_row(
                layer, zeros, "block 1x4 / 1x16", "LiteRT builtin FULLY_CONNECTED", ok,
                f"float: {MEASURED_FLOAT}; int8: {MEASURED_INT8}" if ok else
                f"input width {n_in} is not a multiple of 4: the blocks do not tile it",
                "prune(granularity='block:4x1') (float) or granularity='block:16x1' (int8), "
                "export.tflite(sparse=True)" + ("" if len(ok) == 2 else
                                                 f"; only {ok[0]} tiles it" if ok else "")))
        if _is_1x1(layer):
            active = avx is False
            rows.append(_row(
                layer, zeros, "1x1 conv >= 2/3 zeros", "XNNPACK sparse inference", active,
                "1.3-2.4x for 1x1 convs at 70-90 % zeros on ARM (Elsen et al. 2020)" if active
                else "inactive on this CPU (x86 with AVX: XNNPACK turns sparse inference "
                     "off); no change here, only on ARM phones",
                f"prune(sparsity>={XNNPACK_SPARSE_MIN:.2f}) on 1x1 convs; whole-model NCHW "
                "conditions apply"))
    if target in ("all", "micro"):
        packed = int(np.ceil(n * (1 - sparsity))) + int(np.ceil(n / 8))
        rows.append(_row(
            layer, zeros, "DECODE prune", "TFLite Micro", True,
            f"flash only: int8 kernel {n:,} -> ~{packed:,} bytes at {sparsity:.0%} zeros "
            f"(bitmask + non-zeros); no speedup (decoding adds time); arena grows by up to "
            f"{n:,} bytes (the largest decoded tensor lives in it)",
            "prune(...) + strip + export.micro(compress='prune')"))
    return rows


def _single(layer, factor=1.0):
    """A one-layer model of ``layer``'s config (random weights), ``units``/``filters``
    scaled by ``factor``."""
    cfg = dict(layer.get_config(), name=layer.name)
    for key in ("units", "filters"):
        if key in cfg:
            cfg[key] = max(1, int(round(cfg[key] * factor)))
    x = keras.Input(tuple(layer.input.shape[1:]))
    return keras.Model(x, type(layer).from_config(cfg)(x))


def _time(files: dict) -> dict:
    """``{key: (bytes, resolver)}`` -> ``{key: ms}``, timed interleaved."""
    its = {k: _litert.interpreter(b, resolver=r)[0] for k, (b, r) in files.items()}
    first = next(iter(files.values()))[0]
    return timing.interleaved(its, _inspect.summarize(first))


def _measure_channels(layer) -> str:
    full = tflite_file.convert(_single(layer))
    half = tflite_file.convert(_single(layer, 0.5))
    ms = _time({"full": (full, _litert.DEFAULT), "half": (half, _litert.DEFAULT)})
    return (f"50 % channels: {ms['half'] / ms['full']:.2f}x time ({ms['full'] * 1e3:.1f} -> "
            f"{ms['half'] * 1e3:.1f} us, this layer alone, float, XNNPACK)")


def _measure_block(layer, sparsity) -> str:
    model = _single(layer)
    dense_layer = model.layers[-1]
    w = dense_layer.get_weights()
    w[0] = w[0] * masks.block_mask(np.abs(w[0]), sparsity, (4, 1)).numpy()
    dense_layer.set_weights(w)
    dense = tflite_file.convert(model)
    packed = tflite_file.convert(model, sparse=True)
    ms = _time({"dense": (dense, _litert.DEFAULT), "sparse": (packed, _litert.BUILTIN)})
    return (f"float 1x4 at {sparsity:.0%}: {ms['dense'] / ms['sparse']:.2f}x faster than dense "
            f"XNNPACK ({ms['dense'] * 1e3:.1f} -> {ms['sparse'] * 1e3:.1f} us, this layer)")


@keras3_io(returns="record")
def advise(model, *, target: str = "all", measure: bool = False,
           sparsity: float = 0.9) -> Advice:
    """Per layer, which pruning pattern can make it faster or smaller on which runtime.

    Rows per layer with a kernel (Dense, convolutions): channels (always); LiteRT's builtin
    block-sparse FULLY_CONNECTED kernels (Dense layers: float 1x4, int8 1x16 blocks); XNNPACK
    sparse inference (1x1 convolutions with >= 2/3 zeros; said to be inactive on x86 CPUs
    with AVX); TFLite Micro DECODE (flash only; the arena grows by the decoded tensor).

    Args:
        model: a tf_keras or Keras 3 model (pruning wrappers allowed); not modified.
        target: "all", "litert" (phones, desktops: LiteRT/XNNPACK) or "micro" (TFLite Micro).
        measure: also time the effect on this machine (each layer alone, LiteRT 1 thread,
            interleaved): channels at 50 % and, for Dense layers, float 1x4 blocks at
            ``sparsity``. A few seconds per layer.
        sparsity: the sparsity the predictions (and block measurement) assume, in [0, 1).

    Returns:
        An :class:`Advice`: ``.rows`` (dicts) and a readable table as ``str(advice)``.

    Raises:
        tfprune.errors.ConfigError: unknown ``target``, bad ``sparsity`` or ``measure``.

    Example:
        >>> from tfprune.compat import keras
        >>> m = keras.Sequential([keras.Input((8, 8, 16)), keras.layers.Conv2D(8, 1, name="pw"),
        ...                       keras.layers.Conv2D(4, 1, name="out")])
        >>> [(r["layer"], r["pattern"], r["applies"]) for r in advise(m, target="micro").rows][:2]
        [('pw', 'channels', True), ('pw', 'DECODE prune', True)]
    """
    if target not in TARGETS:
        raise errors.unknown_name("target", target, list(TARGETS))
    if not isinstance(measure, bool):
        raise errors.ConfigError(f"`measure` must be True or False, got {measure!r}.")
    errors.check_sparsity(sparsity)
    plain = _model.strip(_model.resolve(model)[0])
    avx = cpu_has_avx()
    cpu = f"{platform.machine() or 'unknown'}" + (
        " with AVX: XNNPACK sparse inference is off" if avx else
        "" if avx is False else " (AVX unknown)")
    rows = []
    outputs = set(_model.output_names(plain))
    for layer in layer_facts.leaf_layers(plain):
        kernel = _kernel(layer)
        if kernel is None or len(kernel.shape) < 2:
            continue
        layer_rows = _rows(layer, kernel, target, sparsity, avx, layer.name in outputs)
        if measure:
            _measure_rows(layer, layer_rows, sparsity)
        rows.extend(layer_rows)
    return Advice(rows, target, cpu)


def _measure_rows(layer, layer_rows, sparsity) -> None:
    for r in layer_rows:
        if r["pattern"] == "channels" and r["applies"] and \
                not isinstance(layer, keras.layers.DepthwiseConv2D):
            r["measured"] = _measure_channels(layer)
        elif r["pattern"].startswith("block") and r["applies"] and \
                int(layer.kernel.shape[0]) % 4 == 0:
            r["measured"] = _measure_block(layer, sparsity)
        elif r["pattern"].startswith("1x1") and not r["applies"]:
            r["measured"] = "not measurable on this CPU"
        elif r["pattern"] == "DECODE prune":
            r["measured"] = "measured by export.micro(compress='prune') (bit-exact in TFLM)"
