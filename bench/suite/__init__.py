"""The one benchmark suite (issue 15): networks, pruning methods, measurements.

``bench/run.py`` drives it; ``bench/report.py`` turns its JSON into BENCHMARKS.md and plots.

- :mod:`suite.nets`: MNIST-5k, the networks, dense pre-training cached per (network, seed).
- :mod:`suite.methods`: every method as ``(dense model, target) -> plain pruned model`` on
  the same fine-tuning budget.
- :mod:`suite.measure`: accuracy, counts, .tflite bytes, LiteRT latency, TFLM flash/arena.
"""
