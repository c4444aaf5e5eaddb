"""The flags of the ``tfprune`` commands with many options, one frozen dataclass per command.

click hands a command every flag as a keyword; :mod:`tfprune.app.cli` collects them with
``**flags`` into the command's dataclass (a misspelt or missing field fails at once), and the
work behind the command (:mod:`tfprune.app.inspection`) reads the one object. The help text
of each flag is in :mod:`tfprune.app.cli`; the defaults here are the command line's.

Example:
    >>> ExportFlags(out="m.tflite", quantize="int8", data_source="mnist5k").micro
    {}
    >>> ExportFlags(out="mcu", fmt="micro", compress="auto").micro
    {'compress': 'auto'}
"""

from __future__ import annotations

import dataclasses

__all__ = ["ExportFlags", "ShrinkFlags", "SensitivityFlags"]


@dataclasses.dataclass(frozen=True)
class ExportFlags:
    """``tfprune export MODEL``.

    Attributes:
        out: the .tflite file (``fmt="tflite"``) or the micro build folder.
        fmt: ``"tflite"`` or ``"micro"`` (``--format``).
        quantize: ``"float"``, ``"int8"``, ``"dynamic"`` or ``"float16"`` (tflite only).
        data_source: representative data (``--data``): mnist5k, digits, a .npz or an image
            folder.
        image_size: for an image folder, e.g. ``"96,96"``.
        latency_runs: timed LiteRT invokes (``--latency``; 0: none).
        compress: micro only: ``"none"``, ``"auto"``, ``"prune"``, ``"lut"``, ``"huffman"``.
        arena: micro only: tensor arena limit in bytes (None: no limit).
        overwrite: replace existing files.
        quiet: print nothing but errors.
        unsafe: load model files carrying Python code.
    """

    out: str
    fmt: str = "tflite"
    quantize: str = "float"
    data_source: str | None = None
    image_size: str | None = None
    latency_runs: int = 0
    compress: str = "none"
    arena: int | None = None
    overwrite: bool = False
    quiet: bool = False
    unsafe: bool = False

    @property
    def micro(self) -> dict:
        """The micro-only options given: ``compress`` (not ``"none"``) and ``arena``."""
        given = {"compress": None if self.compress == "none" else self.compress,
                 "arena": self.arena}
        return {k: v for k, v in given.items() if v is not None}


@dataclasses.dataclass(frozen=True)
class ShrinkFlags:
    """``tfprune shrink MODEL``.

    Attributes:
        out: the smaller model (.keras or .h5).
        sparsity: fraction of each group's channels to remove (None: the all-zero ones).
        criterion: ``"l1"``, ``"l2"``, ``"fpgm"`` or ``"bn_scale"``.
        scope: ``"layer"`` or ``"global"``.
        round_to: kept channel counts are multiples of this.
        exclude: layers whose channels are kept.
        overwrite: replace an existing ``out`` file.
        input_shape: for built models, e.g. ``"96,96,3"``.
        quiet: print nothing but errors.
        unsafe: load model files carrying Python code.
    """

    out: str
    sparsity: float | None = None
    criterion: str = "l2"
    scope: str = "layer"
    round_to: int = 1
    exclude: tuple = ()
    overwrite: bool = False
    input_shape: str | None = None
    quiet: bool = False
    unsafe: bool = False


@dataclasses.dataclass(frozen=True)
class SensitivityFlags:
    """``tfprune sensitivity MODEL``.

    Attributes:
        data_source: labelled data (``--data``): mnist5k, digits, a .npz or an image folder.
        granularity: ``"weight"``, ``"channel"`` or ``"head"``.
        levels: sparsities to try, comma-separated.
        metric: the metric measured (None: from the model's compile state or its task).
        samples: test samples evaluated per point.
        out: also write the report here (None: print only).
        input_shape: for built models, e.g. ``"96,96,3"``.
        unsafe: load model files carrying Python code.
    """

    data_source: str
    granularity: str = "weight"
    levels: str = "0.25,0.5,0.75,0.9"
    metric: str | None = None
    samples: int = 256
    out: str | None = None
    input_shape: str | None = None
    unsafe: bool = False
