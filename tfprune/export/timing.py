"""Median LiteRT invoke time of a .tflite model.

Example:
    >>> from tfprune.compat import keras
    >>> from tfprune.export import tflite_bytes
    >>> m = keras.Sequential([keras.layers.Dense(3, input_shape=(4,))])
    >>> latency(tflite_bytes(m), runs=5, warmup=1).median_ms > 0
    True
"""

from __future__ import annotations

import dataclasses
import os
import time

import numpy as np

from tfprune import errors
from tfprune.export import _inspect, _litert

__all__ = ["latency", "Latency", "fill_inputs", "interleaved"]


@dataclasses.dataclass(frozen=True)
class Latency:
    """Invoke times in milliseconds over ``runs`` timed runs after ``warmup`` untimed ones."""

    median_ms: float
    p10_ms: float
    p90_ms: float
    runs: int
    threads: int
    resolver: str


def latency(file_or_bytes, *, threads: int = 1, runs: int = 200, warmup: int = 20) -> Latency:
    """Median wall time of one LiteRT ``invoke()`` on a fixed random input (batch 1;
    token-id inputs get valid ids; every input of a multi-input model is filled).

    Uses LiteRT's default delegate when it accepts the model, otherwise the builtin resolver
    (reported in ``resolver``).

    Args:
        file_or_bytes: a .tflite path or its bytes.
        threads: LiteRT threads.
        runs: timed invokes (>= 1); warmup: untimed invokes first (>= 0).

    Returns:
        A :class:`Latency` (``median_ms``, ``p10_ms``, ``p90_ms``, ...).

    Raises:
        tfprune.errors.ConfigError: non-positive ``threads``/``runs`` or negative ``warmup``.
        tfprune.errors.ExportError: a path that does not exist, or bytes that are not a
            .tflite model (e.g. a truncated download).

    Example:
        >>> from tfprune.compat import keras
        >>> from tfprune.export import tflite_bytes
        >>> m = keras.Sequential([keras.layers.Dense(3, input_shape=(4,))])
        >>> latency(tflite_bytes(m), runs=3, warmup=0).runs
        3
    """
    for arg, value, low in (("threads", threads, 1), ("runs", runs, 1), ("warmup", warmup, 0)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise errors.ConfigError(f"`{arg}` must be an integer >= {low}, got {value!r}.")
    if isinstance(file_or_bytes, (bytes, bytearray)):
        content = bytes(file_or_bytes)
    elif isinstance(file_or_bytes, (str, os.PathLike)) and os.path.isfile(file_or_bytes):
        with open(file_or_bytes, "rb") as f:
            content = f.read()
    else:
        raise errors.ExportError(f"{file_or_bytes!r} is neither .tflite bytes nor a file path.")
    summary = _inspect.summarize(content)  # refuses bytes that are not a .tflite model
    it, resolver, _ = _litert.interpreter(content, threads=threads)
    fill_inputs(it, summary)
    for _ in range(warmup):
        it.invoke()
    times = np.empty(runs)
    for i in range(runs):
        t0 = time.perf_counter()
        it.invoke()
        times[i] = time.perf_counter() - t0
    ms = times * 1e3
    return Latency(float(np.median(ms)), float(np.percentile(ms, 10)),
                   float(np.percentile(ms, 90)), runs, threads, resolver)


def fill_inputs(it, summary) -> None:
    """Set every input of interpreter ``it`` to a fixed random value: valid token ids for
    token-id inputs (``summary`` from ``_inspect.summarize``), the full range of an integer
    input, [0, 1) for a float input."""
    rng = np.random.default_rng(0)
    for d, t in zip(it.get_input_details(), summary.inputs, strict=True):
        if t.dtype in ("int32", "int64") and not t.quantized:  # token ids: valid ones
            x = rng.integers(0, t.vocab or 1, d["shape"]).astype(d["dtype"])
        elif np.issubdtype(d["dtype"], np.integer):
            info = np.iinfo(d["dtype"])
            x = rng.integers(info.min, info.max + 1, d["shape"]).astype(d["dtype"])
        else:
            x = rng.random(d["shape"]).astype(d["dtype"])
        it.set_tensor(d["index"], x)


def _block(it, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        it.invoke()
    return (time.perf_counter() - t0) / n


def interleaved(interpreters: dict, summary, *, rounds: int = 15, block_ms: float = 1.0,
                max_invokes: int = 300, statistic: str = "min") -> dict:
    """Per-invoke time (ms) of each interpreter, measured interleaved.

    Each of ``rounds`` rounds times a block of ``n`` invokes of every interpreter in turn, so
    a slow spell of a shared machine hits all of them alike; ``n`` is chosen once so that a
    block of the slowest takes about ``block_ms`` (at least 2, at most ``max_invokes``): short
    blocks, so that some of them run between the scheduler's interruptions.
    All interpreters must run the same model (``summary``: its ``_inspect`` summary).
    ``statistic``: "min" (the fastest block: other processes only ever add time, so on a
    busy machine it is the steadiest estimate), "median", or "all" (every block's time).

    Returns:
        ``{key: ms}`` with the keys of ``interpreters`` (a list of ms per round for "all").

    Example:
        >>> from tfprune.compat import keras
        >>> from tfprune.export import _inspect, _litert, tflite_bytes
        >>> b = tflite_bytes(keras.Sequential([keras.layers.Dense(3, input_shape=(4,))]))
        >>> its = {r: it for r, it, _ in _litert.resolvers(b)}
        >>> sorted(interleaved(its, _inspect.summarize(b), rounds=2))
        ['builtin_without_default_delegates', 'default']
    """
    slowest = 0.0
    for it in interpreters.values():
        fill_inputs(it, summary)
        it.invoke()  # warm-up
        slowest = max(slowest, _block(it, 3))
    n = int(min(max_invokes, max(2, block_ms / 1e3 / max(slowest, 1e-7))))
    times = {k: [] for k in interpreters}
    for _ in range(rounds):
        for k, it in interpreters.items():
            times[k].append(_block(it, n))
    if statistic == "all":
        return {k: [t * 1e3 for t in v] for k, v in times.items()}
    reduce = {"min": np.min, "median": np.median}[statistic]
    return {k: float(reduce(v)) * 1e3 for k, v in times.items()}
