"""A stand-in for ``tflite_micro.python.tflite_micro.runtime`` for in-process worker tests.

Its interpreter doubles its one input (times ``factor``), prints its arena total on the C-level
stderr like TFLM, and refuses a model whose bytes are ``b"bad"`` with TFLM's missing-op message.
"""

import os
import sys
import types

import numpy as np


class Interpreter:
    def __init__(self, content, arena_size):
        self.factor = 3 if content == b"odd" else 2
        self.arena, self.x, self.resets = arena_size, None, 0

    @classmethod
    def from_bytes(cls, content, arena_size):
        if content == b"bad":
            os.write(2, b"Didn't find op for builtin opcode 'FOO'\n")
            raise RuntimeError("Failed to allocate")
        return cls(content, arena_size)

    def set_input(self, x, i):
        self.x = np.asarray(x)

    def invoke(self):
        self.y = self.x * self.factor

    def get_output_details(self, i):
        if i > 0:
            raise IndexError(i)
        return {}

    def get_output(self, i):
        return self.y

    def reset(self):
        self.resets += 1

    def print_allocations(self):
        os.write(2, f"Arena allocation total {self.arena // 2} bytes\n".encode())


runtime = types.SimpleNamespace(Interpreter=Interpreter)


def install(monkeypatch):
    """Make ``from tflite_micro.python.tflite_micro import runtime`` give this fake."""
    monkeypatch.setitem(sys.modules, "tflite_micro.python.tflite_micro",
                        types.SimpleNamespace(runtime=runtime))
