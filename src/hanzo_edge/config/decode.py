"""Generic, schema-driven decoding of raw data (dicts, lists, scalars, strings) into the frozen config models.

One walker serves every source: static files, flags and env (after they are turned into a nested tree) and
dynamic documents. Like Traefik's paerser it is case-insensitive for keys and lenient for scalars (``"80"`` is an
int, ``"true"`` a bool, ``"10s"`` or ``10`` a duration, ``"a,b"`` a list). Errors are `ConfigError`s naming the
option as the user wrote it; unknown keys are errors or `ConfigWarning`s depending on the context.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Literal

import msgspec

from hanzo_edge.config._schema import Kind, StructSpec, TypeSpec, struct_spec
from hanzo_edge.config.durations import parse_duration
from hanzo_edge.config.errors import ConfigError, ConfigWarning, quote
from hanzo_edge.config.types import FrozenDict, freeze

__all__ = ["DecodeContext", "Path", "decode_into", "dotted"]

Path = tuple[str | int, ...]

_TRUE = frozenset({"true", "t", "1", "yes", "on"})
_FALSE = frozenset({"false", "f", "0", "no", "off"})


def dotted(path: Path) -> str:
    """Return `path` as ``a.b[0].c`` (the spelling used in messages about documents)."""
    out: list[str] = []
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        else:
            out.append(f".{part}" if out else part)
    return "".join(out)


def _no_location(_path: Path) -> str:
    return ""


class DecodeContext:
    """How to report problems while decoding: unknown-key policy, path spelling, source location.

    Args:
        unknown: ``"error"`` raises on an unknown key, ``"warn"`` records a `ConfigWarning` and skips it.
        display: path → the option as the user wrote it (default: dotted path).
        locate: path → ``file:line`` (or "") for messages.
    """

    __slots__ = ("display", "locate", "unknown", "warnings")

    def __init__(
        self,
        *,
        unknown: Literal["error", "warn"] = "error",
        display: Callable[[Path], str] = dotted,
        locate: Callable[[Path], str] = _no_location,
    ) -> None:
        self.unknown = unknown
        self.display = display
        self.locate = locate
        self.warnings: list[ConfigWarning] = []

    def error(self, path: Path, message: str) -> ConfigError:
        """Return (not raise) a `ConfigError` for `path`."""
        return ConfigError(self.display(path), message, location=self.locate(path))

    def warn(self, path: Path, message: str) -> None:
        """Record a `ConfigWarning` for `path`."""
        self.warnings.append(ConfigWarning(self.display(path), message, self.locate(path)))

    def unknown_key(self, path: Path) -> None:
        """Handle an unknown key at `path` according to the policy (raises `ConfigError` under ``"error"``)."""
        if self.unknown == "error":
            raise self.error(path, "unknown option")
        self.warn(path, "unknown option (ignored)")


def _describe(raw: Any) -> str:
    if raw is None:
        return "null"
    if isinstance(raw, bool):
        return f"boolean {str(raw).lower()}"
    if isinstance(raw, str):
        return f"string {quote(raw)}"
    if isinstance(raw, (int, float)):
        return f"number {raw}"
    if isinstance(raw, Mapping):
        return "a section"
    if isinstance(raw, (list, tuple)):
        return "a list"
    return type(raw).__name__


def decode_into(cls: type[msgspec.Struct], raw: Any, ctx: DecodeContext, path: Path = ()) -> Any:
    """Return an instance of the Struct `cls` decoded from `raw` (a mapping, or None/True for all defaults).

    Raises:
        ConfigError: a value has the wrong type or is invalid, a required option is missing, an exactly-one rule
            is broken, or (with ``unknown="error"``) a key is unknown.
    """
    return _decode_struct(struct_spec(cls), raw, path, ctx)


def _decode_struct(spec: StructSpec, raw: Any, path: Path, ctx: DecodeContext) -> Any:
    if type(raw) is not dict:
        if raw is None or raw is True or (isinstance(raw, str) and raw.strip().lower() == "true"):
            raw = {}
        elif not isinstance(raw, Mapping):
            raise ctx.error(path, f"expected a section, got {_describe(raw)}")
    kwargs: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    for key, value in raw.items():
        name = key if isinstance(key, str) else str(key)
        sub = (*path, name)
        field = spec.lookup(name)
        if field is None:
            ctx.unknown_key(sub)
            continue
        if field.attr in spelled:
            ctx.warn(sub, f"also given as {quote(spelled[field.attr])} (keys are case-insensitive); this value wins")
        spelled[field.attr] = name
        if value is None and not field.type.is_presence:
            kwargs.pop(field.attr, None)  # an explicit null keeps the default, as in Traefik
            continue
        kwargs[field.attr] = _decode_value(field.type, value, sub, ctx)
    for field in spec.required:
        if field.attr not in kwargs:
            raise ctx.error((*path, field.shown), "missing required option")
    if spec.exactly_one:
        present = [f.wire for f in spec.fields if kwargs.get(f.attr) is not None]
        if len(present) != 1:
            names = ", ".join(f.wire for f in spec.fields)
            got = " and ".join(present) if present else "none"
            raise ctx.error(path, f"exactly one of {names} must be set, got {got}")
    try:
        return spec.cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ctx.error(path, str(exc)) from None


def _decode_value(spec: TypeSpec, raw: Any, path: Path, ctx: DecodeContext) -> Any:
    kind = spec.kind
    if kind is Kind.STR and type(raw) is str:
        return raw  # the common case, first
    if raw is None and spec.optional and kind is not Kind.STRUCT:
        return None
    if kind is Kind.STRUCT:
        if spec.optional and (raw is False or (isinstance(raw, str) and raw.strip().lower() == "false")):
            return None
        return _decode_struct(spec.struct, raw, path, ctx)
    if spec.scalar:
        return _decode_scalar(spec, raw, path, ctx)
    if kind is Kind.LIST:
        return _decode_list(spec, raw, path, ctx)
    if kind is Kind.MAP:
        if spec.optional and (raw is True or raw is False or isinstance(raw, str)):
            # An optional raw section (e.g. an unimplemented provider) is enabled/disabled like a presence section.
            flag = _bool_text(raw)
            if flag is None:
                raise ctx.error(path, f"expected a section, got {_describe(raw)}")
            return FrozenDict() if flag else None
        return _decode_map(spec, raw, path, ctx)
    return freeze(raw)


def _bool_text(raw: Any) -> bool | None:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


def _decode_list(spec: TypeSpec, raw: Any, path: Path, ctx: DecodeContext) -> tuple[Any, ...]:
    item = spec.item
    if item is None:  # pragma: no cover - _schema always sets it
        raise ctx.error(path, "untyped list")
    if isinstance(raw, (list, tuple)):
        if item.kind is Kind.STR and all(type(v) is str for v in raw):
            return tuple(raw)
        return tuple(_decode_value(item, v, (*path, i), ctx) for i, v in enumerate(raw))
    if isinstance(raw, Mapping) and all(isinstance(k, int) for k in raw):
        # Indexed flags (--x.domains[0].main=...) arrive as {index: value}.
        return tuple(_decode_value(item, raw[i], (*path, i), ctx) for i in sorted(raw))
    if item.scalar and isinstance(raw, str):
        parts = [p.strip() for p in raw.split(",")]
        return tuple(_decode_value(item, p, path, ctx) for p in parts if p)
    if item.scalar and isinstance(raw, (int, float)):
        return (_decode_value(item, raw, path, ctx),)
    raise ctx.error(path, f"expected a list, got {_describe(raw)}")


def _decode_map(spec: TypeSpec, raw: Any, path: Path, ctx: DecodeContext) -> FrozenDict[str, Any]:
    item = spec.item
    if item is None:  # pragma: no cover - _schema always sets it
        raise ctx.error(path, "untyped map")
    if raw is None:
        return FrozenDict()
    if not isinstance(raw, Mapping):
        raise ctx.error(path, f"expected a section, got {_describe(raw)}")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        name = key if isinstance(key, str) else str(key)
        out[name] = _decode_value(item, value, (*path, name), ctx)
    return FrozenDict(out)


def _decode_scalar(spec: TypeSpec, raw: Any, path: Path, ctx: DecodeContext) -> Any:
    kind = spec.kind
    if isinstance(raw, (Mapping, list, tuple)) or raw is None:
        raise ctx.error(path, f"expected {spec.describe()}, got {_describe(raw)}")
    if kind is Kind.STR:
        if isinstance(raw, bool):
            return "true" if raw else "false"
        if isinstance(raw, float) and raw.is_integer():
            return str(int(raw)) if abs(raw) < 1e15 else str(raw)
        return raw if isinstance(raw, str) else str(raw)
    if kind is Kind.BOOL:
        flag = _bool_text(raw)
        if flag is None:
            raise ctx.error(path, f"invalid boolean {quote(str(raw))}")
        return flag
    if kind is Kind.INT:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if isinstance(raw, float) and raw.is_integer():
            return int(raw)
        if isinstance(raw, str):
            try:
                return int(raw.strip(), 10)
            except ValueError:
                pass
        raise ctx.error(path, f"invalid integer {quote(str(raw))}")
    if kind is Kind.FLOAT:
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            value = float(raw)
        else:
            try:
                value = float(str(raw).strip())
            except ValueError:
                value = math.nan
        if not math.isfinite(value):
            raise ctx.error(path, f"invalid number {quote(str(raw))}")
        return value
    if kind is Kind.DURATION:
        try:
            return parse_duration(raw)
        except ValueError as exc:
            raise ctx.error(path, str(exc)) from None
    # Kind.CHOICE: case-insensitive match, canonical spelling kept.
    text = raw if isinstance(raw, str) else str(raw)
    for choice in spec.choices:
        if choice.lower() == text.strip().lower():
            return choice
    raise ctx.error(path, f"invalid value {quote(text)} (expected one of: {', '.join(spec.choices)})")
