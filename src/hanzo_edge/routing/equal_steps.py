"""``a == b`` for two configuration snapshots, compared piece by piece so a reload's "unchanged?" test can be sliced.

A snapshot of 10,000 routers compared with ``==`` held the event loop 2-3.5 ms in one block when the two are equal
or differ near the end, and a reload compares three times (the file provider, the provider watcher, the app). Here
the same comparison walks the snapshot's maps and frozen msgspec structs itself and stops at a check point
(:func:`~hanzo_edge.routing.slices.slice_spent`) every :data:`_CHECK_EVERY` entries of a map; any other value (a
list, a string, a struct with its own ``__eq__``) is compared with ``==`` as it is, so the answer is the one ``==``
gives: the same identity shortcut as CPython's dict comparison and msgspec's struct comparison, the same order of
fields, the same truthiness of a rich comparison.
"""

from __future__ import annotations

from typing import Any

import msgspec

from hanzo_edge.routing.slices import Steps, slice_spent

__all__ = ["equal_in_steps"]

_CHECK_EVERY = 32
"""Map entries compared between two reads of the clock (a router's entry is a microsecond or two)."""

_MISSING = object()


def equal_in_steps(a: object, b: object) -> Steps[bool]:
    """Steps whose result is ``bool(a == b)``; they yield at check points while the slice is spent."""
    if _plain_dict(a) and _plain_dict(b):
        # A map is equal to itself: each value is compared with itself and containers shortcut identity. Not so a
        # leaf (``nan == nan`` is False), hence no identity test before the type tests.
        return a is b or (yield from _dicts_equal(a, b))  # type: ignore[arg-type]
    if _plain_struct(a) and type(a) is type(b):
        return a is b or (yield from _structs_equal(a, b))  # type: ignore[arg-type]
    return bool(a == b)


def _plain_dict(value: object) -> bool:
    """A dict (``FrozenDict`` included) compared by dict's own ``==``, which the walk below reproduces."""
    return isinstance(value, dict) and type(value).__eq__ is dict.__eq__


def _plain_struct(value: object) -> bool:
    """A msgspec struct compared field by field by msgspec (``eq`` left on, ``__eq__`` not overridden)."""
    if not isinstance(value, msgspec.Struct):
        return False
    kind = type(value)
    return bool(kind.__struct_config__.eq) and kind.__eq__ is msgspec.Struct.__eq__


def _dicts_equal(a: dict[Any, Any], b: dict[Any, Any]) -> Steps[bool]:
    if len(a) != len(b):
        return False
    for count, (key, value) in enumerate(a.items(), 1):
        other = b.get(key, _MISSING)
        if other is _MISSING:
            return False
        if value is not other and not (yield from equal_in_steps(value, other)):
            return False
        if count % _CHECK_EVERY == 0 and slice_spent():
            yield
    return True


def _structs_equal(a: msgspec.Struct, b: msgspec.Struct) -> Steps[bool]:
    for field in a.__struct_fields__:
        mine = getattr(a, field)
        theirs = getattr(b, field)
        if mine is not theirs and not (yield from equal_in_steps(mine, theirs)):
            return False
    return True
