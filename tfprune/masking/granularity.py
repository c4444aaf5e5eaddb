"""Granularity: one table of strategies, one per unit a mask removes.

Stop of the path: ``prune``/``one_shot`` (which layers are wrapped) and the pruner (how a
wrapper's scores become a mask). Every strategy answers the same questions:

========== ======================== ====================== ===================== ==================
name       units                    scores -> units        units selected by     masks written
========== ======================== ====================== ===================== ==================
weight     single weights           as they are            top-k / global top-k  as they are
n:m        single weights, N of M   as they are            ``nm_mask`` (no       as they are
           along the input axis                            global ranking)
block      ``(r, c)`` blocks        mean over the block    top-k / global top-k  tiled over blocks
channel    channels of a dependency summed over slices,    ``group_keep_masks``  every member
           group                    reduced over members                         (``channels``)
head       heads of a               summed over the head's ``group_keep_masks``  q/k/v/out slices
           MultiHeadAttention       slices                                       (``channels``)
========== ======================== ====================== ===================== ==================

``GRANULARITIES`` (the names) is defined once, in :mod:`tfprune.core.criteria.base`
(criteria declare which they support); this module holds what each name does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from tfprune import errors
from tfprune.core import masks
from tfprune.core.criteria.base import GRANULARITIES, resolve_granularity
from tfprune.core.criteria.granularity import Granularity, parse
from tfprune.masking import scope as scope_lib

__all__ = ["GRANULARITIES", "Strategy", "STRATEGIES", "get", "spec"]


def _same(scores, wrapper):
    del wrapper
    return scores


def _block_pool(scores, wrapper):
    r, c = wrapper.block
    shape = scores.shape.as_list()
    rows = int(np.prod(shape[:-1]))
    return tf.reduce_mean(tf.reshape(scores, [rows // r, r, shape[-1] // c, c]), axis=[1, 3])


def _block_alive(alive, wrapper):
    return masks.block_mask(tf.cast(alive, tf.float32), 0.0, wrapper.block) > 0


def _block_expand(unit_mask, shape, wrapper):
    r, c = wrapper.block
    return tf.reshape(tf.tile(unit_mask[:, None, :, None], [1, r, 1, c]), shape)


def _reshape(unit_mask, shape, wrapper):
    del wrapper
    return tf.reshape(unit_mask, shape)


def _topk(unit_scores, sparsity, wrapper):
    del wrapper
    return masks.topk_mask(unit_scores, sparsity)


def _nm(unit_scores, sparsity, wrapper):
    nm = masks.nm_mask(unit_scores, *wrapper.n_m)
    return tf.cond(sparsity > 0, lambda: nm, lambda: tf.ones_like(nm))


def _fits_any(var, shape, n_m, block, who, fix):
    del var, shape, n_m, block, who, fix


def _fits_nm(var, shape, n_m, block, who, fix):
    del block
    n, m = n_m
    if n >= m:
        raise errors.ConfigError(f"n:m needs N < M, got n_m={tuple(n_m)}.")
    axis = 0 if len(shape) == 1 else len(shape) - 2
    if shape[axis] % m:
        raise errors.ConfigError(
            f"{who}n:m with M={m} needs input-channel axis {axis} of weight {var} (shape "
            f"{shape}) divisible by {m}{fix}")


def _fits_block(var, shape, n_m, block, who, fix):
    del n_m
    r, c = block
    rows = int(np.prod(shape[:-1])) if len(shape) > 1 else 0
    if len(shape) < 2 or rows % r or shape[-1] % c:
        raise errors.ConfigError(
            f"{who}block {tuple(block)} does not tile weight {var} (shape {shape}, viewed as "
            f"{rows}x{shape[-1]}); choose a block that divides it, or{fix[1:]}")


@dataclasses.dataclass(frozen=True)
class Strategy:
    """What one granularity does.

    Attributes:
        name: the granularity name.
        units: what one unit is (for messages and docs).
        wraps: which layers ``prune`` wraps: ``"layers"`` (every prunable layer, one mask
            per weight), ``"groups"`` (every layer holding a channel of a dependency group)
            or ``"heads"`` (every MultiHeadAttention).
        grouped: the pruner chooses the units per group (:mod:`tfprune.masking.channels`)
            and writes every member's mask; the wrapper never updates its own mask.
        global_ranking: ``scope="global"`` can rank these units across layers.
        pool: ``(scores, wrapper) -> unit scores`` (per-weight granularities).
        alive: ``(mask > 0, wrapper) -> bool per unit`` (per-weight granularities).
        select: ``(unit scores, sparsity, wrapper) -> 0/1 unit mask`` (layer ranking).
        expand: ``(unit mask, weight shape, wrapper) -> 0/1 weight mask``.
        fits: ``(weight name, shape, n_m, block, who, fix)``: raises ConfigError when a
            weight cannot be cut into these units (per-weight granularities).

    Example:
        >>> get("block").units, get("channel").grouped, get("n:m").global_ranking
        ('(r, c) blocks of the kernel viewed as [inputs, outputs]', True, False)
    """

    name: str
    units: str
    wraps: str = "layers"
    grouped: bool = False
    global_ranking: bool = True
    pool: Callable | None = _same
    alive: Callable | None = _same
    select: Callable | None = _topk
    expand: Callable | None = _reshape
    fits: Callable = _fits_any


STRATEGIES = {s.name: s for s in (
    Strategy("weight", "single weights"),
    Strategy("n:m", "N of every M weights along the input-channel axis", global_ranking=False,
             select=_nm, fits=_fits_nm),
    Strategy("block", "(r, c) blocks of the kernel viewed as [inputs, outputs]",
             pool=_block_pool, alive=_block_alive, expand=_block_expand, fits=_fits_block),
    Strategy("channel", "channels of a dependency group", wraps="groups", grouped=True,
             pool=None, alive=None, select=None, expand=None),
    Strategy("head", "heads of a MultiHeadAttention", wraps="heads", grouped=True,
             pool=None, alive=None, select=None, expand=None),
)}
assert tuple(STRATEGIES) == GRANULARITIES  # one table for the one list of names


def get(granularity, criterion=None) -> Strategy:
    """The strategy of ``granularity`` (``None``: the criterion's default; the deprecated
    ``"unstructured"`` is ``"weight"``).

    Raises:
        ConfigError: an unknown name (the valid ones are listed).

    Example:
        >>> get(None).name, get("head").wraps
        ('weight', 'heads')
    """
    name = resolve_granularity(granularity, criterion)
    if name not in STRATEGIES:  # pragma: no cover - resolve_granularity refuses first
        raise errors.unknown_name("granularity", name, GRANULARITIES)
    return STRATEGIES[name]


def spec(granularity, criterion=None, scope=None) -> Granularity:
    """The :class:`~tfprune.core.criteria.granularity.Granularity` of any spelling
    (``None``: the granularity of ``scope`` when it is an ``Allocation``, else the
    criterion's default, with its default unit shape).

    Example:
        >>> str(spec("1:4")), str(spec(None, "l1")), spec("block").block
        ('1:4', 'channel', (4, 1))
    """
    if scope is not None:
        resolved = scope_lib.resolve(scope)  # checked first, whatever the granularity
        if granularity is None:
            granularity = resolved.granularity  # None: not an Allocation
    return parse(granularity, resolve_granularity(None, criterion))  # None: the default
