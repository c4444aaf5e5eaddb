"""tfprune.export.compress._encode: the TFLM DECODE prune encoding's layout and refusals."""

import numpy as np

from tfprune.export.compress import _encode


def test_layout_matches_the_cc_reader():
    # decode_state_prune_test.cc: mask byte 0xA5 -> elements 1,0,1,0,0,1,0,1 (MSB first)
    enc = _encode.encode(np.array([7, 0, 8, 0, 0, 9, 0, 6], np.int8))
    assert enc.mask == bytes([0xA5]) and enc.values.tolist() == [7, 8, 9, 6]
    anc = _encode.ancillary(enc)
    assert anc[:5] == bytes([2, 1, 0, 0, 1]) and anc[5:16] == bytes(11)
    assert anc[16:] == bytes([7, 8, 9, 6])
    # int8 per-channel zero points, axis 0 (blocks) and last axis (cycling)
    w = np.array([[-128, 5, -128], [0, 0, 3]], np.int8)
    enc0 = _encode.encode(w, zero_points=[-128, 0], axis=0)
    assert np.unpackbits(np.frombuffer(enc0.mask, np.uint8))[:6].tolist() == [0, 1, 0, 0, 0, 1]
    enc1 = _encode.encode(w, zero_points=[-128, 5, 0], axis=1)
    assert np.unpackbits(np.frombuffer(enc1.mask, np.uint8))[:6].tolist() == [0, 0, 1, 1, 1, 1]
    for e, zps, ax in ((enc0, [-128, 0], 0), (enc1, [-128, 5, 0], 1)):
        assert np.array_equal(_encode.decode(e, w.shape, np.int8, zps, ax), w)
    # int32 bias (little-endian values) and float32 (-0.0 kept: it is not the +0.0 pattern)
    b = _encode.encode(np.array([0, 300, 0, -1], np.int32))
    assert _encode.ancillary(b)[16:] == np.array([300, -1], "<i4").tobytes()
    assert _encode.encode(np.array([0.0, -0.0, 1.5], np.float32)).values.size == 2
    assert _encode.refusal(np.int8, (3, 4, 5), [0, 0, 0, 0], 1)  # middle axis
    assert _encode.refusal(np.int32, (4,), [1, 0, 0, 0], 0)  # non-zero zp on int32
    assert _encode.refusal(np.int8, (4, 3), [0, 0, 0], 1) is None
