"""The one config walk of the Keras-compatibility step, shared by every translation.

A layer, optimizer, loss or metric config from one Keras becomes the config of the other
Keras' class the same way: keep the keys the target class takes (converted), drop the keys that
hold the value meaning "off" in the other Keras, refuse the rest with a message that names the
key. :func:`init_args` says which keys a class takes.

Example:
    >>> class Dense:
    ...     def __init__(self, units, activation=None):
    ...         pass
    >>> sorted(init_args(Dense))
    ['activation', 'units']
    >>> filter_config({"units": 2, "lora_rank": None}, accepted=init_args(Dense),
    ...               droppable={"lora_rank": (None,)}, refuse=ValueError)
    {'units': 2}
"""

from __future__ import annotations

import functools
import inspect

__all__ = ["filter_config", "init_args", "shift_nodes"]


@functools.cache
def init_args(klass, until=None) -> frozenset:
    """The keyword arguments ``klass(...)`` takes, from the ``__init__`` of its MRO.

    Without ``until``, parents count only while each ``__init__`` passes ``**kwargs`` on;
    with ``until`` (a base class, e.g. ``Layer``), every ``__init__`` up to and including it.

    Example:
        >>> class A:
        ...     def __init__(self, a, **kwargs):
        ...         pass
        >>> class B(A):
        ...     def __init__(self, b, **kwargs):
        ...         pass
        >>> sorted(init_args(B)), sorted(init_args(B, until=B))
        (['a', 'b'], ['b'])
    """
    names = set()
    for k in klass.__mro__:
        if "__init__" in k.__dict__:
            params = inspect.signature(k.__dict__["__init__"]).parameters
            names.update(p for p in params if p not in ("self", "args", "kwargs"))
            if until is None and not any(p.kind is p.VAR_KEYWORD for p in params.values()):
                break
        if k is until:
            break
    return frozenset(names)


def filter_config(config: dict, *, accepted, droppable: dict, refuse, convert=None) -> dict:
    """``config`` for another class: accepted keys kept, "off" keys dropped, others refused.

    Args:
        config: the source config (not changed).
        accepted: the keys the target class takes (see :func:`init_args`).
        droppable: ``{key: values meaning "off"}``; ``None`` drops the key whatever its value.
        refuse: ``refuse(key, value)`` returns the exception raised for any other key.
        convert: ``convert(key, value)`` gives the value kept for an accepted key
            (default: the value unchanged).

    Returns:
        A new dict of the accepted keys.

    Example:
        >>> filter_config({"a": 1, "b": 2}, accepted={"a"}, droppable={"b": None},
        ...               refuse=KeyError, convert=lambda k, v: v * 10)
        {'a': 10}
    """
    out = {}
    for key, value in config.items():
        if key in accepted:
            out[key] = value if convert is None else convert(key, value)
            continue
        allowed = droppable.get(key, ())
        if allowed is None or value in allowed:
            continue
        raise refuse(key, value)
    return out


def shift_nodes(value, names, delta):
    """Shift node indices of references ``[name, node, tensor(, kwargs)]`` to models in ``names``.

    tf_keras counts a nested model's own construction as its node 0; Keras 3 does not.

    Example:
        >>> shift_nodes({"inbound_nodes": [["inner", 0, 0, {}]]}, {"inner"}, 1)
        {'inbound_nodes': [['inner', 1, 0, {}]]}
    """
    if isinstance(value, dict):
        return {k: shift_nodes(v, names, delta) for k, v in value.items()}
    if not isinstance(value, list):
        return value
    if (len(value) in (3, 4) and isinstance(value[0], str) and value[0] in names
            and isinstance(value[1], int) and isinstance(value[2], int)):
        return [value[0], value[1] + delta, *[shift_nodes(v, names, delta) for v in value[2:]]]
    return [shift_nodes(v, names, delta) for v in value]
