"""Choose a .tflite encoding (dense or sparse) and LiteRT resolver by measured latency and size.

The converter stores pruned kernels sparse when asked; whether that file runs faster, at the
same speed or slower depends on the runtime: LiteRT's default XNNPACK delegate refuses sparse
int8 FULLY_CONNECTED (the builtin kernels then run it, 1.7x slower on the demo), densifies
sparse float kernels at load (same speed), and the builtin resolver has sparse kernels only for
block-sparse FULLY_CONNECTED (FACTS.md). So every candidate file is measured with every
resolver that accepts it, and the rule of :func:`choose` keeps the one that fits the objective.

Example:
    >>> c = [Candidate("dense", "default", 100, 0.12), Candidate("sparse", "default", 40, 0.21)]
    >>> choose(c, "balanced")[0].encoding
    'dense'
    >>> choose(c, "size")[0].encoding
    'sparse'
"""

from __future__ import annotations

import dataclasses

from tfprune import errors
from tfprune.export import _inspect, _litert, timing

__all__ = ["OBJECTIVES", "LATENCY_TOLERANCE", "Candidate", "choose", "effective", "measure", "notes",
           "check_objective"]

OBJECTIVES = ("balanced", "latency", "size")
# "balanced" keeps a smaller file only when it runs within this fraction of the fastest
# candidate; the builtin resolver is preferred to the default delegate only when it is faster
# by more than this fraction (timing noise on a shared machine is about 1-2 %).
LATENCY_TOLERANCE = 0.03


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One encoding run with one resolver: ``latency_ms`` None when not measured or refused
    (``note`` then holds LiteRT's reason); ``kernels`` is ``_litert.kernels`` as text."""

    encoding: str  # "dense" or "sparse"
    resolver: str  # _litert.DEFAULT or _litert.BUILTIN
    bytes: int
    latency_ms: float | None = None
    kernels: str = ""
    note: str | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def check_objective(objective, measure_) -> None:
    """Refuse an unknown objective, or ``"latency"`` without measuring."""
    if objective not in OBJECTIVES:
        raise errors.unknown_name("objective", objective, list(OBJECTIVES))
    if not isinstance(measure_, bool):
        raise errors.ConfigError(f"`measure` must be True or False, got {measure_!r}.")
    if objective == "latency" and not measure_:
        raise errors.ConfigError("objective='latency' needs measure=True (the fastest file is "
                                 "found by timing each candidate in LiteRT); use "
                                 "objective='size' to skip timing.")


def measure(files: dict, *, threads: int = 1) -> list:
    """Time every file of ``files`` (``{encoding: bytes}``) with every resolver that runs it,
    interleaved in one process; returns :class:`Candidate` objects (refused ones included)."""
    its, out = {}, []
    summary = None
    for encoding, content in files.items():
        summary = summary or _inspect.summarize(content)
        for resolver, it, reason in _litert.resolvers(content, threads=threads):
            if it is None:
                out.append(Candidate(encoding, resolver, len(content), note=reason))
                continue
            its[(encoding, resolver)] = it
            out.append(Candidate(encoding, resolver, len(content),
                                 kernels=_litert.kernels_text(_litert.kernels(it))))
    times = timing.interleaved(its, summary)
    return [dataclasses.replace(c, latency_ms=times.get((c.encoding, c.resolver)))
            for c in out]


def effective(candidates) -> list:
    """One candidate per encoding: the default delegate unless it refused the file or the
    builtin resolver is faster by more than LATENCY_TOLERANCE."""
    best = {}
    for c in candidates:
        if c.latency_ms is None:
            continue
        cur = best.get(c.encoding)
        if cur is None:
            best[c.encoding] = c
            continue
        default, builtin = (cur, c) if cur.resolver == _litert.DEFAULT else (c, cur)
        faster = builtin.latency_ms < default.latency_ms * (1 - LATENCY_TOLERANCE)
        best[c.encoding] = builtin if faster else default
    return list(best.values())


def choose(candidates, objective: str, tolerance: float = LATENCY_TOLERANCE, *,
           encoding: str | None = None):
    """Pick the candidate that fits ``objective``; returns ``(candidate, reason)``.

    ``encoding`` forces the pick to that encoding (``sparse=True``); the reason still gives
    the other files' figures.

    - ``"size"``: the smallest file (the faster one on a tie); latency is not needed.
    - ``"latency"``: the fastest measured candidate.
    - ``"balanced"``: the smallest file among those within ``tolerance`` of the fastest.

    For each encoding, the default delegate is used unless it refused the file or the builtin
    resolver is faster by more than ``tolerance``.

    Example:
        >>> c = [Candidate("dense", "default", 100, 0.100),
        ...      Candidate("sparse", "default", 40, 0.102)]
        >>> choose(c, "balanced")[0].encoding, choose(c, "latency")[0].encoding
        ('sparse', 'dense')
    """
    if objective == "size" or not any(c.latency_ms is not None for c in candidates):
        by_size = {}
        for c in candidates:  # one per encoding; the default resolver first
            by_size.setdefault(c.encoding, c)
        pick = min(by_size.values(), key=lambda c: (c.bytes, c.encoding != "dense"))
        if encoding is not None:
            pick = by_size[encoding]
            return pick, f"{pick.encoding} file kept: sparse=True ({pick.bytes} bytes)"
        return pick, f"{pick.encoding} file kept: the smallest ({pick.bytes} bytes)"
    cands = effective(candidates)
    fastest = min(cands, key=lambda c: c.latency_ms)
    if encoding is not None:
        pick = next(c for c in cands if c.encoding == encoding)
        reason = f"{pick.encoding} file kept: sparse=True ({pick.latency_ms:.4g} ms)"
    elif len(cands) == 1:
        pick = fastest
        reason = f"{pick.encoding} file: the only encoding ({pick.latency_ms:.4g} ms)"
    elif objective == "latency":
        pick = fastest
        reason = f"{pick.encoding} file kept: the fastest ({pick.latency_ms:.4g} ms)"
    else:
        near = [c for c in cands if c.latency_ms <= fastest.latency_ms * (1 + tolerance)]
        pick = min(near, key=lambda c: (c.bytes, c.latency_ms))
        reason = (f"{pick.encoding} file kept: the smallest within {tolerance:.0%} of the "
                  f"fastest ({pick.latency_ms:.4g} ms vs {fastest.latency_ms:.4g} ms)")
    others = [c for c in cands if c.encoding != pick.encoding]
    for c in others:
        reason += (f"; {c.encoding} file: {c.bytes} bytes, {c.latency_ms:.4g} ms "
                   f"({c.latency_ms / pick.latency_ms:.2f}x)")
    return pick, reason


def notes(pick, candidates) -> list:
    """Plain lines for the record: delegate refusals and a resolver the user must select."""
    lines = [f"LiteRT's default delegate (XNNPACK) refused the {c.encoding} file ({c.note}); "
             "LiteRT falls back to the builtin kernels" for c in candidates
             if c.note and c.encoding == pick.encoding]
    default = next((c for c in candidates if c.encoding == pick.encoding
                    and c.resolver == _litert.DEFAULT and c.latency_ms is not None), None)
    if pick.resolver == _litert.BUILTIN and default is not None:
        lines.append(
            f"the builtin kernels ran this file in {pick.latency_ms:.4g} ms, the default "
            f"delegate in {default.latency_ms:.4g} ms: create the LiteRT Interpreter with "
            "experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES")
    dense = next((c for c in effective(candidates) if c.encoding == "dense"), None)
    if pick.latency_ms is not None and dense is not None and pick.encoding != "dense" and \
            pick.latency_ms > dense.latency_ms * (1 + LATENCY_TOLERANCE):
        lines.append(f"the {pick.encoding} file is {pick.latency_ms / dense.latency_ms:.2f}x "
                     f"slower than the dense file ({pick.latency_ms:.4g} vs "
                     f"{dense.latency_ms:.4g} ms)")
    return lines
