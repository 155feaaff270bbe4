"""The schema view of the configuration models: one index per Struct class, derived from its type hints.

Every loader (flags, env, files, dynamic documents) and the help renderer walk this index, so an option is
declared exactly once: as a field of a model. The index is built lazily and cached per class.
"""

from __future__ import annotations

import collections.abc
import enum
import types
import typing
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import msgspec

from hanzo_edge.config.types import FrozenDict

__all__ = ["FieldSpec", "Kind", "StructSpec", "TypeSpec", "struct_spec"]


class Kind(enum.Enum):
    """The shape of a value in the schema."""

    STR = "string"
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    DURATION = "duration"
    CHOICE = "choice"
    STRUCT = "section"
    LIST = "list"
    MAP = "map"
    ANY = "any"


_SCALAR_KINDS = frozenset({Kind.STR, Kind.INT, Kind.FLOAT, Kind.BOOL, Kind.DURATION, Kind.CHOICE})


@dataclass(frozen=True, slots=True)
class TypeSpec:
    """A field's type: its `kind`, whether `None` is allowed, the element type of a list/map, the struct class."""

    kind: Kind
    optional: bool = False
    item: TypeSpec | None = None
    cls: type[msgspec.Struct] | None = None
    choices: tuple[str, ...] = ()
    scalar: bool = field(default=False, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "scalar", self.kind in _SCALAR_KINDS)

    @property
    def struct(self) -> StructSpec:
        """Return the struct index of a `Kind.STRUCT` type (raises `TypeError` for any other kind)."""
        if self.cls is None:
            raise TypeError(f"{self.kind} is not a struct type")
        return struct_spec(self.cls)

    @property
    def is_presence(self) -> bool:
        """Return True for an optional section that is enabled by its presence (``--ping``, ``tls: {}``)."""
        return self.kind is Kind.STRUCT and self.optional

    def describe(self) -> str:
        """Return a short human name for the type, e.g. ``list of string`` or ``duration``."""
        if self.kind is Kind.LIST and self.item is not None:
            return f"list of {self.item.describe()}"
        if self.kind is Kind.MAP and self.item is not None:
            return f"map of {self.item.describe()}"
        if self.kind is Kind.CHOICE:
            return " | ".join(self.choices)
        return str(self.kind.value)


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field of a Struct: Python `attr`, wire name `wire` (camelCase), type, default and help text."""

    attr: str
    wire: str
    type: TypeSpec
    required: bool
    default: Any
    factory: Any = None
    description: str = ""
    display: str = ""

    def default_value(self) -> Any:
        """Return the default value (calling the default factory if there is one); `msgspec.NODEFAULT` if none."""
        if self.factory is not None:
            return self.factory()
        return self.default

    @property
    def shown(self) -> str:
        """Return the spelling used in help and messages (the `flag()` override or the wire name)."""
        return self.display or self.wire


@dataclass(frozen=True, slots=True)
class StructSpec:
    """The index of one Struct class: its fields in declaration order and by lower-cased wire name."""

    cls: type[msgspec.Struct]
    fields: tuple[FieldSpec, ...]
    by_key: dict[str, FieldSpec] = field(repr=False)
    exactly_one: bool = False
    aliases: dict[str, str] = field(default_factory=dict, repr=False)
    by_wire: dict[str, FieldSpec] = field(default_factory=dict, repr=False)
    required: tuple[FieldSpec, ...] = ()

    def lookup(self, key: str) -> FieldSpec | None:
        """Return the field whose wire name (or alias) equals `key` case-insensitively, or None."""
        found = self.by_wire.get(key)  # fast path: the exact camelCase spelling
        if found is not None:
            return found
        lowered = key.lower()
        found = self.by_key.get(lowered)
        if found is None and lowered in self.aliases:
            found = self.by_key.get(self.aliases[lowered])
        return found


_SCALARS: dict[Any, Kind] = {str: Kind.STR, int: Kind.INT, float: Kind.FLOAT, bool: Kind.BOOL}


def _metas(hint: Any) -> tuple[Any, list[msgspec.Meta]]:
    metas: list[msgspec.Meta] = []
    while typing.get_origin(hint) is typing.Annotated:
        args = typing.get_args(hint)
        hint = args[0]
        metas.extend(m for m in args[1:] if isinstance(m, msgspec.Meta))
    return hint, metas


def _type_spec(hint: Any, metas: list[msgspec.Meta]) -> TypeSpec:
    hint, more = _metas(hint)
    metas = [*metas, *more]
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(members) != 1:
            # A union of several types (a JSON path's str | int in a gateway model) is shown as it is.
            return TypeSpec(Kind.ANY, len(members) < len(typing.get_args(hint)))
        inner = _type_spec(members[0], metas)
        return TypeSpec(inner.kind, True, inner.item, inner.cls, inner.choices)
    if any((m.extra or {}).get("duration") for m in metas):
        return TypeSpec(Kind.DURATION)
    if hint in _SCALARS:
        return TypeSpec(_SCALARS[hint])
    if hint is Any or hint is object:
        return TypeSpec(Kind.ANY)
    if origin is typing.Literal:
        return TypeSpec(Kind.CHOICE, choices=tuple(str(a) for a in typing.get_args(hint)))
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) != 2 or args[1] is not Ellipsis:
            # A fixed-length tuple (a pair in a gateway service model) is shown as a list of plain values; the
            # configuration loaders' own models never use one.
            return TypeSpec(Kind.LIST, item=TypeSpec(Kind.ANY))
        return TypeSpec(Kind.LIST, item=_type_spec(args[0], []))
    if origin in (dict, FrozenDict, collections.abc.Mapping) or (isinstance(origin, type) and issubclass(origin, dict)):
        key_type, value_type = typing.get_args(hint)
        if key_type is not str:
            raise TypeError(f"map keys must be str, got {hint!r}")
        return TypeSpec(Kind.MAP, item=_type_spec(value_type, []))
    if isinstance(hint, type) and issubclass(hint, msgspec.Struct):
        return TypeSpec(Kind.STRUCT, cls=hint)
    raise TypeError(f"unsupported configuration type {hint!r}")


@cache
def struct_spec(cls: type[msgspec.Struct]) -> StructSpec:
    """Return the (cached) schema index of the Struct class `cls`.

    Field metadata understood: ``msgspec.Meta(description=...)`` (help text), ``extra={"duration": True}``
    (a `Duration`), ``extra={"flag": "name"}`` (help spelling). Class attributes understood:
    ``__exactly_one__ = True`` (exactly one field must be set) and ``__aliases__ = {"oldName": "newName"}``.

    Raises:
        TypeError: a field type is not supported by the configuration loaders (a programming error).
    """
    hints = typing.get_type_hints(cls, include_extras=True)
    fields: list[FieldSpec] = []
    for info in msgspec.structs.fields(cls):
        hint, metas = _metas(hints[info.name])
        description = next((m.description for m in metas if m.description), "")
        display = next((str(m.extra["flag"]) for m in metas if m.extra and "flag" in m.extra), "")
        factory = None if info.default_factory is msgspec.NODEFAULT else info.default_factory
        fields.append(
            FieldSpec(
                attr=info.name,
                wire=info.encode_name,
                type=_type_spec(hint, metas),
                required=info.required,
                default=info.default,
                factory=factory,
                description=description or "",
                display=display,
            )
        )
    aliases = {k.lower(): v.lower() for k, v in getattr(cls, "__aliases__", {}).items()}
    return StructSpec(
        cls=cls,
        fields=tuple(fields),
        by_key={f.wire.lower(): f for f in fields},
        exactly_one=bool(getattr(cls, "__exactly_one__", False)),
        aliases=aliases,
        by_wire={f.wire: f for f in fields},
        required=tuple(f for f in fields if f.required),
    )
