"""Building blocks shared by the configuration models: `FrozenDict`, the `Duration` marker, field docs, `freeze`.

Models are frozen msgspec Structs so that a whole `Configuration` is hashable and `==` is the "unchanged" test.
Python has no hashable mapping, so named maps are `FrozenDict`: a `dict` subclass (reads, iteration, JSON encoding
and `isinstance(x, dict)` all work) whose mutators raise `TypeError` and which hashes by content.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, NoReturn, TypeVar

import msgspec

__all__ = ["Duration", "FrozenDict", "doc", "flag", "freeze"]

K = TypeVar("K")
V = TypeVar("V")

#: A duration in seconds (float). Accepts an int/float (seconds) or a Go duration string ("10s", "100ms") on input.
Duration = Annotated[float, msgspec.Meta(extra={"duration": True})]


def doc(text: str) -> msgspec.Meta:
    """Return field metadata carrying the one-line help `text` (use as ``Annotated[T, doc("...")]``)."""
    return msgspec.Meta(description=text)


def flag(name: str, text: str = "") -> msgspec.Meta:
    """Return field metadata that spells the field `name` in rendered help (e.g. ``entrypoints``), with help `text`.

    Flags, env vars and file keys are case-insensitive, so this changes only how help and messages show the field.
    """
    if text:
        return msgspec.Meta(description=text, extra={"flag": name})
    return msgspec.Meta(extra={"flag": name})


class FrozenDict(dict[K, V]):
    """An immutable, hashable `dict`. Mutating methods raise `TypeError`; the hash is computed from the items."""

    __slots__ = ("_hash",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._hash: int | None = None

    def __hash__(self) -> int:  # type: ignore[override]
        """Return a hash of the items (the values must be hashable)."""
        if self._hash is None:
            self._hash = hash(frozenset(self.items()))
        return self._hash

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as a plain dict payload (the default dict-subclass protocol would call `__setitem__`)."""
        return (type(self), (dict(self),))

    def __copy__(self) -> FrozenDict[K, V]:
        """Return self: the mapping is immutable."""
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> FrozenDict[K, V]:
        """Return self: the mapping is immutable (values are frozen too)."""
        return self

    def __repr__(self) -> str:
        """Return ``FrozenDict({...})``."""
        return f"FrozenDict({dict.__repr__(self)})"

    def _readonly(self, *_args: Any, **_kwargs: Any) -> NoReturn:
        raise TypeError("FrozenDict is immutable")

    __setitem__ = _readonly
    __delitem__ = _readonly
    __ior__ = _readonly
    clear = _readonly
    pop = _readonly
    popitem = _readonly
    setdefault = _readonly
    update = _readonly


def freeze(value: Any) -> Any:
    """Return `value` with every mapping turned into a `FrozenDict` and every list/set into a tuple (recursively).

    Used for raw, schema-less data (plugin settings, not-yet-typed sections) so that it stays hashable.
    """
    if isinstance(value, FrozenDict):
        return value
    if isinstance(value, Mapping):
        return FrozenDict({str(k): freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    if isinstance(value, (set, frozenset)):
        return tuple(sorted((freeze(v) for v in value), key=repr))
    return value
