"""Backend decoders and endpoint renderers of KrakenD (Lura ``encoding`` and ``router/gin/render.go``, krakend-xml).

Decoders turn a backend body into the map Lura merges: ``json`` (an object; an array only with ``is_collection``,
as ``{"collection": [...]}``), ``safejson`` (object as is, array as ``collection``, anything else as ``content``),
``string`` (``{"content": body}``) and ``xml`` (attributes as ``-name``, text beside children as ``#text``).
Renderers write the merged map: ``json`` (Go's ``json.Marshal``: sorted keys, ``<>&`` escaped), ``json-collection``,
``string`` (``content`` as text) and ``xml`` (under a ``<doc>`` root).
"""

from __future__ import annotations

import json
import math
from typing import Any
from xml.etree import ElementTree
from xml.sax.saxutils import escape, quoteattr

__all__ = ["DecodeError", "decode", "render"]

JSON_TYPE = b"application/json; charset=utf-8"


class DecodeError(ValueError):
    """The backend body does not decode with the backend's encoding."""


def decode(encoding: str, body: bytes, is_collection: bool) -> dict[str, Any]:
    """Decode ``body`` with ``encoding`` into Lura's response map. Raises DecodeError."""
    if encoding == "string":
        return {"content": body.decode("utf-8", "replace")}
    if encoding == "xml":
        return _decode_xml(body)
    try:
        value = json.loads(body) if body.strip() else None
    except (ValueError, UnicodeDecodeError) as exc:
        raise DecodeError(f"invalid character in the backend body: {exc}") from None
    if encoding == "safejson":
        if isinstance(value, dict):
            return value
        if isinstance(value, list):
            return {"collection": value}
        return {"content": value}
    if is_collection:
        if not isinstance(value, list):
            raise DecodeError("json: cannot unmarshal object into Go value of type []interface {}")
        return {"collection": value}
    if value is None:
        return {}
    if not isinstance(value, dict):
        kind = "array" if isinstance(value, list) else type(value).__name__
        raise DecodeError(f"json: cannot unmarshal {kind} into Go value of type map[string]interface {{}}")
    return value


def _decode_xml(body: bytes) -> dict[str, Any]:
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as exc:
        raise DecodeError(f"xml: {exc}") from None
    return {root.tag: _xml_value(root)}


def _xml_value(element: ElementTree.Element) -> Any:
    children = list(element)
    text = (element.text or "").strip()
    if not children and not element.attrib:
        return text
    out: dict[str, Any] = {f"-{k}": v for k, v in element.attrib.items()}
    for child in children:
        value = _xml_value(child)
        if child.tag in out:
            existing = out[child.tag]
            out[child.tag] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            out[child.tag] = value
    if text:
        out["#text"] = text
    return out


def render(encoding: str, data: dict[str, Any] | None) -> tuple[bytes, bytes]:
    """Render the merged ``data`` with the endpoint's ``output_encoding``: ``(content type, body)``."""
    if encoding == "string":
        content = (data or {}).get("content")
        text = content if isinstance(content, str) else ("" if content is None else go_json(content).decode())
        return b"text/plain; charset=utf-8", text.encode("utf-8")
    if encoding == "xml":
        return b"application/xml; charset=utf-8", _render_xml(data or {})
    if encoding == "json-collection":
        collection = (data or {}).get("collection")
        return JSON_TYPE, go_json(collection if isinstance(collection, list) else [])
    return JSON_TYPE, go_json(data if data is not None else {})


def go_json(value: Any) -> bytes:
    """Go's ``json.Marshal``: compact, map keys sorted, ``<``, ``>``, ``&``, U+2028 and U+2029 escaped."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default)
    if any(c in text for c in "<>&\u2028\u2029"):
        text = (
            text.replace("<", "\\u003c")
            .replace(">", "\\u003e")
            .replace("&", "\\u0026")
            .replace("\u2028", "\\u2028")
            .replace("\u2029", "\\u2029")
        )
    return text.encode("utf-8")


def _default(value: object) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    raise TypeError(f"cannot render {type(value).__name__}")


def _render_xml(data: dict[str, Any]) -> bytes:
    if len(data) == 1:
        ((tag, value),) = data.items()
        if isinstance(value, dict) and _is_name(tag):
            return (_element(tag, value)).encode("utf-8")
    return _element("doc", data).encode("utf-8")


def _is_name(tag: str) -> bool:
    return bool(tag) and (tag[0].isalpha() or tag[0] == "_") and all(c.isalnum() or c in "_-." for c in tag)


def _element(tag: str, value: Any) -> str:
    if not _is_name(tag):
        tag = "item"
    if isinstance(value, list):
        return "".join(_element(tag, item) for item in value)
    if isinstance(value, dict):
        attrs = "".join(f" {k[1:]}={quoteattr(str(v))}" for k, v in value.items() if k.startswith("-"))
        inner = "".join(
            escape(str(v)) if k == "#text" else _element(k, v)
            for k, v in sorted(value.items())
            if not k.startswith("-")
        )
        return f"<{tag}{attrs}>{inner}</{tag}>"
    if value is None:
        return f"<{tag}></{tag}>"
    if isinstance(value, bool):
        value = "true" if value else "false"
    return f"<{tag}>{escape(str(value))}</{tag}>"
