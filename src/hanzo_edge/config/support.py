"""Static options that are parsed but not implemented yet, found on the model itself.

A field of a static model marked ``Annotated[..., NOT_SUPPORTED]`` (or ``not_supported("what happens instead")``) is
accepted and kept, but does nothing yet. :func:`unsupported_options` walks a loaded configuration and returns every
marked field whose value differs from its default, named by its path of wire names (``providers.docker``,
``entryPoints.websecure.http.tls``). ``ingress`` logs each at startup with :func:`warn_unsupported`, and
``ingress check`` prints each, so nothing the user wrote is ignored silently. A raw map whose default is empty
(``experimental``, ``certificatesResolvers``) is reported per key (``experimental.plugins``).
"""

from __future__ import annotations

import functools
import logging
import typing
from collections.abc import Mapping
from dataclasses import dataclass

import msgspec

from hanzo_edge.config._schema import struct_spec

__all__ = ["NOT_SUPPORTED", "NotSupported", "Unsupported", "not_supported", "unsupported_options", "warn_unsupported"]

# Its own logger, at WARNING whatever the configured level: the default level (Traefik's ERROR) would hide these,
# and the point is that nobody runs an option believing it works.
_log = logging.getLogger("hanzo_edge.unsupported")
_log.setLevel(logging.WARNING)


class NotSupported:
    """Field metadata: the option is parsed but not implemented yet; ``note`` says what happens instead."""

    __slots__ = ("note",)

    def __init__(self, note: str = "") -> None:
        self.note = note

    def __repr__(self) -> str:
        """Return ``NotSupported('note')``."""
        return f"NotSupported({self.note!r})"


NOT_SUPPORTED = NotSupported()
"""The plain marker: ``Annotated[Docker | None, doc("..."), NOT_SUPPORTED]``."""


def not_supported(note: str) -> NotSupported:
    """Return a marker whose warning adds ``note`` (e.g. what is done instead of the option)."""
    return NotSupported(note)


@dataclass(frozen=True, slots=True)
class Unsupported:
    """One option that was set but is not supported yet: its ``path`` (wire names) and an optional ``note``."""

    path: str
    note: str = ""

    def __str__(self) -> str:
        """Return ``<path>: parsed, not supported yet[ (<note>)]``."""
        suffix = f" ({self.note})" if self.note else ""
        return f"{self.path}: parsed, not supported yet{suffix}"


@functools.cache
def _marks(cls: type[msgspec.Struct]) -> dict[str, NotSupported]:
    hints = typing.get_type_hints(cls, include_extras=True)
    marks: dict[str, NotSupported] = {}
    for attr, hint in hints.items():
        if typing.get_origin(hint) is typing.Annotated:
            found = [m for m in typing.get_args(hint)[1:] if isinstance(m, NotSupported)]
            if found:
                marks[attr] = found[0]
    return marks


def unsupported_options(config: msgspec.Struct) -> list[Unsupported]:
    """Return the marked options set in ``config`` (any static model), in declaration order."""
    found: list[Unsupported] = []
    _walk(config, "", found)
    return found


def _walk(value: msgspec.Struct, path: str, found: list[Unsupported]) -> None:
    marks = _marks(type(value))
    for spec in struct_spec(type(value)).fields:
        current = getattr(value, spec.attr)
        name = f"{path}.{spec.wire}" if path else spec.wire
        mark = marks.get(spec.attr)
        if mark is not None:
            default = spec.default_value()
            if current == default:
                continue
            if isinstance(current, Mapping) and isinstance(default, Mapping) and not default:
                found.extend(Unsupported(f"{name}.{key}", mark.note) for key in current)
            else:
                found.append(Unsupported(name, mark.note))
        elif isinstance(current, msgspec.Struct):
            _walk(current, name, found)
        elif isinstance(current, Mapping):
            for key, item in current.items():
                if isinstance(item, msgspec.Struct):
                    _walk(item, f"{name}.{key}", found)


def warn_unsupported(config: msgspec.Struct) -> list[Unsupported]:
    """Log a WARN for every option of ``config`` that is set but not supported yet; return them."""
    found = unsupported_options(config)
    for item in found:
        _log.warning("%s", item)
    return found
