"""tfprune/export/_tflm.py: TFLM runs in child processes, and the arena search that runs its
probes in one child and survives the crashes TFLM has on far too small arenas."""

import numpy as np
import pytest

from tfprune import export
from tfprune.compat import keras
from tfprune.export import _tflm


@pytest.fixture(scope="module")
def int8_file(tmp_path_factory):
    """A full-int8 TFLM file (untrained conv + dense: the arena does not depend on training)."""
    keras.utils.set_random_seed(0)
    L = keras.layers
    m = keras.Sequential([keras.Input((8, 8, 1)), L.Conv2D(8, 3, activation="relu"),
                          L.Flatten(), L.Dense(10)])
    x = np.random.default_rng(0).random((16, 8, 8, 1), dtype=np.float32)
    rec = export.micro(m, tmp_path_factory.mktemp("tflm"), representative_data=x)
    content = open(rec.files["tflite"], "rb").read()
    codes = np.random.default_rng(1).integers(-128, 128, (3, 8, 8, 1), dtype=np.int8)
    return content, codes, _tflm.run(content, codes)


def _fits(content, codes, expected, arena):
    res = _tflm.run(content, codes, arena=arena)
    return res["ok"] and np.array_equal(res["outputs"], expected)


@pytest.mark.slow
def test_the_search_finds_the_smallest_arena_and_goes_on_after_crashes(int8_file, monkeypatch):
    content, codes, base = int8_file
    assert base["ok"] and base["reported"] > 0
    children = []
    real = _tflm._child

    def counted(*args, **kwargs):
        children.append(real(*args, **kwargs))
        return children[-1]

    monkeypatch.setattr(_tflm, "_child", counted)
    from_report = _tflm.smallest_arena(content, codes, base["outputs"], start=base["reported"],
                                       ceiling=base["arena"])
    assert len(children) == 1 and not children[0]["crashed"]  # every probe in one child
    children.clear()
    # from 16 bytes TFLM dies (SIGSEGV) on the first probes: each crash counts as too small
    from_tiny = _tflm.smallest_arena(content, codes, base["outputs"], start=16,
                                     ceiling=base["arena"])
    assert any(c["crashed"] for c in children) and not children[-1]["crashed"]
    assert from_tiny == from_report and from_report % _tflm.ALIGN == 0
    monkeypatch.setattr(_tflm, "_child", real)
    assert _fits(content, codes, base["outputs"], from_report)
    assert not _fits(content, codes, base["outputs"], from_report - _tflm.ALIGN)


@pytest.mark.slow
def test_a_ceiling_too_small_gives_none(int8_file):
    content, codes, base = int8_file
    assert _tflm.smallest_arena(content, codes, base["outputs"], start=64, ceiling=256) is None


def test_progress_lines_name_the_probe_that_crashed():
    err = ("noise\n@tfprune-arena try 2096\n@tfprune-arena done 2096 0\n"
           "@tfprune-arena try 2160\n")
    assert _tflm._progress(err) == ([[2096, False]], 2160)
    assert _tflm._progress("@tfprune-arena try 64\n@tfprune-arena done 64 1\n") == \
        ([[64, True]], None)
