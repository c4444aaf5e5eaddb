"""tfprune.export._tflm_worker, run in-process against a stand-in TFLM runtime."""

import json
import os

import numpy as np

from tests.export import _fake_tflm
from tfprune.export import _tflm_worker


def _drive(works, start, ceiling, align):
    """Run the arena search, answering each probe with ``works(arena)``: (result, probes)."""
    gen, probes = _tflm_worker.arena_search(start, ceiling, align), []
    arena = next(gen)
    try:
        while True:
            probes.append(arena)
            arena = gen.send(works(arena))
    except StopIteration as stop:
        return stop.value, probes


def test_arena_search_finds_the_smallest_aligned_arena_that_works():
    smallest, probes = _drive(lambda a: a >= 1000, start=100, ceiling=10_000, align=16)
    assert smallest == 1008  # the first multiple of 16 at or above 1000
    assert probes[0] == 112 and all(p % 16 == 0 for p in probes)
    assert _drive(lambda a: True, start=64, ceiling=10_000, align=16) == (64, [64])


def test_arena_search_gives_none_when_not_even_the_ceiling_works():
    smallest, probes = _drive(lambda a: False, start=100, ceiling=500, align=16)
    assert smallest is None and probes[-1] == 500


def test_captured_returns_result_exception_and_c_level_stderr():
    def talk():
        os.write(2, b"from C\n")
        return 7

    assert _tflm_worker._captured(talk) == (7, None, "from C\n")

    def fail():
        raise RuntimeError("boom")

    result, exc, _ = _tflm_worker._captured(fail)
    assert result is None and str(exc) == "boom"


def _job(content, meta, x):
    return {"model": np.frombuffer(content, np.uint8),
            "meta": np.frombuffer(json.dumps(meta).encode(), np.uint8), "in0": x}


def test_main_runs_each_sample_and_reads_the_reported_arena(monkeypatch):
    _fake_tflm.install(monkeypatch)
    x = np.arange(6, dtype=np.int8).reshape(3, 2)
    result, outputs = _tflm_worker.main(_job(b"ok", {"n_inputs": 1, "n_outputs": 1,
                                                     "arena": 4000}, x))
    assert result["ok"] and result["arena"] == 4000 and result["reported"] == 2000
    assert len(outputs) == 1 and np.array_equal(outputs[0], 2 * x)


def test_main_names_the_missing_operators(monkeypatch):
    _fake_tflm.install(monkeypatch)
    x = np.zeros((1, 2), np.int8)
    result, outputs = _tflm_worker.main(_job(b"bad", {"n_inputs": 1, "n_outputs": 1}, x))
    assert not result["ok"] and result["missing"] == ["FOO"] and outputs == []


def test_main_searches_from_the_probes_already_tried(monkeypatch, capfd):
    _fake_tflm.install(monkeypatch)
    x = np.ones((2, 2), np.int8)
    meta = {"n_inputs": 1, "n_outputs": 1,
            "search": {"start": 64, "ceiling": 256, "align": 16, "tried": [[64, 0]]}}
    job = {**_job(b"ok", meta, x), "exp0": 2 * x}
    result, _ = _tflm_worker.main(job)
    assert result == {"ok": True, "smallest": 64 + 16}  # the fake works at any arena
    assert f"{_tflm_worker.PROGRESS} try 64\n" not in capfd.readouterr().err  # replayed
