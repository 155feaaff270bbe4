"""Traefik's three access-log formats, each built from the field table into one renderer per log.

* ``json``: logrus' ``JSONFormatter`` over Traefik's fields: every kept field present for the request, keys in
  Go's sorted order, then ``level``, ``msg``, the logged request headers as ``request_<Name>`` and ``time``.
* ``common`` and ``genericCLF``: Traefik's ``CommonLogFormatter`` and ``GenericCLFLogFormatter``, a Go format string
  over a fixed list of fields (:data:`COMMON`, :data:`GENERIC_CLF`); a field that is dropped or empty prints ``-``.

Go's HTML escaping of ``<>&`` in JSON strings (``\\u003c``) is not reproduced: the JSON values are the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import orjson

from hanzo_edge.observability.accesslog.codegen import Renderer, compile_renderer
from hanzo_edge.observability.accesslog.fields import FIELDS, Field

__all__ = ["COMMON", "FORMATS", "GENERIC_CLF", "ClfFormat", "Slot", "clf_renderer", "json_renderer"]

FORMATS: Final = ("json", "common", "genericCLF")

_BY_KEY: Final = {field.key: field for field in FIELDS}
_HEADER_PREFIX: Final = "request_"
_ENVELOPE: Final = ("level", "msg", "time")  # logrus' own keys, after Traefik's in Go's order

_COMMON_CASE: Final = {
    # A field's `present` condition -> its value for the usual request: routed, proxied, plain HTTP, not traced.
    "host": True,
    "route is not None": True,
    "server_url": True,
    "route is not None and route.service": True,
    "trace is not None": False,
    "tls is not None": False,
    "tls is not None and tls.client_subject": False,
}


# ------------------------------------------------------------------------------------------------------------ json


def json_renderer(kept: frozenset[str], names: dict[str, Any], log_headers: bool) -> Renderer:
    """The JSON line renderer for a log that keeps the fields ``kept``.

    ``log_headers`` is False when every request header is dropped: the line then has no ``request_`` keys to look for.
    """
    fields = sorted((f for f in FIELDS if f.key in kept), key=lambda f: f.key)
    if fields and fields[-1].key > _ENVELOPE[0]:
        # The templates put logrus' keys after the fields; a field sorting after them needs placing there.
        raise ValueError(f"access log field {fields[-1].key!r} sorts after logrus' {_ENVELOPE[0]!r}")
    # A line is a copy of a template dict holding every key in Go's order, then one store per value: a copy of a
    # 30-key dict plus the stores costs about half of one 30-key dict literal (~0.5 µs a line, issue 22). The
    # fields this request does not have are deleted after it, which keeps the order without sorting; their
    # placeholder avoids evaluating an expression that needs what is missing.
    envelope = {"level": "info", "msg": ""}
    general = ["line = GENERAL.copy()"]
    general += [f"line[{f.key!r}] = {_guarded(f, f.value, 'None')}" for f in fields]
    absent: dict[str, list[str]] = {}
    for f in fields:
        if f.present:
            absent.setdefault(f.present, []).append(f"line[{f.key!r}]")
    general += [f"if not ({condition}): del {', '.join(keys)}" for condition, keys in absent.items()]
    templates: dict[str, Any] = {"GENERAL": {**dict.fromkeys(f.key for f in fields), **envelope}}
    body = general
    if absent and all(condition in _COMMON_CASE for condition in absent):
        # The usual request (routed, proxied, plain HTTP, no trace) gets a template of exactly its fields: no
        # placeholders, no deletions (~0.6 µs of ~5 a line).
        usual = [f for f in fields if not f.present or _COMMON_CASE[f.present]]
        templates["USUAL"] = {**dict.fromkeys(f.key for f in usual), **envelope}
        test = " and ".join(f"({c})" if _COMMON_CASE[c] else f"not ({c})" for c in absent)
        body = [
            f"if {test}:",
            "    line = USUAL.copy()",
            *(f"    line[{f.key!r}] = {f.value}" for f in usual),
            "else:",
            *(f"    {line}" for line in general),
        ]
    if log_headers:
        body += [
            "if headers:",
            "    for name in sorted(headers):",
            f"        line[{_HEADER_PREFIX!r} + name] = headers[name]",
        ]
    body += [
        "line['time'] = now_text",
        "return dumps(line, option=APPEND_NEWLINE)",
    ]
    json_names = {"collect_headers": log_headers, "dumps": orjson.dumps, "APPEND_NEWLINE": orjson.OPT_APPEND_NEWLINE}
    return compile_renderer("json", body, {**names, **json_names, **templates})


def _guarded(field: Field, expr: str, absent: str) -> str:
    # The expression, or `absent` for a request that does not have the field.
    return f"({expr}) if ({field.present}) else {absent}" if field.present else expr


# ------------------------------------------------------------------------------------------------------------- CLF


@dataclass(frozen=True, slots=True)
class Slot:
    """One argument of a CLF format string: the value of the first of ``keys`` the log keeps.

    ``missing`` is printed when the log keeps none of them, the request does not have the field, or its string is
    empty (Traefik's ``toLog`` default). Request headers are not fields: their slot depends on the header modes.
    """

    keys: tuple[str, ...]
    """Field keys, or ``request_<Name>`` for a logged request header."""
    quoted: bool = False
    """Printed in double quotes (Traefik's ``toLog(..., true)`` for strings)."""
    missing: str = "-"


@dataclass(frozen=True, slots=True)
class ClfFormat:
    """A CLF format as Traefik writes it: a Go format string (``%s``, ``%v``, ``%d``) and its arguments."""

    template: str
    slots: tuple[Slot, ...]

    @property
    def fields(self) -> frozenset[str]:
        """The table fields this format can print."""
        return frozenset(key for slot in self.slots for key in slot.keys if key in _BY_KEY)


_START: Final = Slot(("StartUTC", "StartLocal"))  # Traefik prints StartUTC, else StartLocal in local time

GENERIC_CLF: Final = ClfFormat(
    '%s - %s [%s] "%s %s %s" %v %v %s %s\n',
    (
        Slot(("ClientHost",)),
        Slot(("ClientUsername",)),
        _START,
        Slot(("RequestMethod",)),
        Slot(("RequestPath",)),
        Slot(("RequestProtocol",)),
        Slot(("DownstreamStatus",)),
        Slot(("DownstreamContentSize",)),
        Slot(("request_Referer",), quoted=True, missing='"-"'),
        Slot(("request_User-Agent",), quoted=True, missing='"-"'),
    ),
)
"""Traefik's ``genericCLF``: the combined log format."""

COMMON: Final = ClfFormat(
    GENERIC_CLF.template[:-1] + " %v %s %s %dms\n",
    (
        *GENERIC_CLF.slots,
        Slot(("RequestCount",)),
        Slot(("RouterName",), quoted=True, missing='"-"'),
        Slot(("ServiceURL",), quoted=True, missing='"-"'),
        Slot(("Duration",), missing="0"),
    ),
)
"""Traefik's ``common``: the combined log format, then the request count, router, backend URL and milliseconds."""


def clf_renderer(form: ClfFormat, kept: frozenset[str], names: dict[str, Any], collect_headers: bool) -> Renderer:
    """The line renderer of ``form`` for a log that keeps the fields ``kept``.

    ``collect_headers`` is whether the logged-header map is needed (Referer or User-Agent is not dropped).
    """
    body: list[str] = []
    parts = form.template.replace("{", "{{").replace("}", "}}").split("%")
    text = parts[0]
    for index, (slot, part) in enumerate(zip(form.slots, parts[1:], strict=True)):
        local = f"arg{index}"
        body += _slot_lines(local, slot, kept)
        text += f"{{{local}}}{part[1:]}"  # part[0] is the verb (s, v, d): every argument is already text or int
    body.append(f"return f{text!r}.encode()")
    return compile_renderer("clf", body, {**names, "collect_headers": collect_headers})


def _slot_lines(local: str, slot: Slot, kept: frozenset[str]) -> list[str]:
    # Lines that bind `local` to the text (or int) this slot prints.
    key = next((k for k in slot.keys if k in kept or k.startswith(_HEADER_PREFIX)), "")
    if not key:
        return [f"{local} = {slot.missing!r}"]
    if key.startswith(_HEADER_PREFIX):
        name = key[len(_HEADER_PREFIX) :]
        value = f"headers.get({name!r}, '') if headers else ''"
    else:
        field = _BY_KEY[key]
        if field.kind is int:
            return [f"{local} = {_guarded(field, field.clf or field.value, repr(slot.missing))}"]
        value = _guarded(field, field.clf or field.value, "''")
    shown = f"f'\"{{{local}}}\"'" if slot.quoted else local
    return [f"{local} = {value}", f"{local} = {shown} if {local} else {slot.missing!r}"]
