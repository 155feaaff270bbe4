"""KrakenD's backend decoders and endpoint renderers."""

from __future__ import annotations

import pytest

from hanzo_edge.gateway.encodings import DecodeError, decode, go_json, render


def test_json_object_and_collection() -> None:
    assert decode("json", b'{"a":1}', False) == {"a": 1}
    assert decode("json", b"[1,2]", True) == {"collection": [1, 2]}
    assert decode("json", b"", False) == {}
    with pytest.raises(DecodeError, match="cannot unmarshal array"):
        decode("json", b"[1,2]", False)
    with pytest.raises(DecodeError):
        decode("json", b"<html>", False)


def test_safejson_and_string() -> None:
    assert decode("safejson", b"[1]", False) == {"collection": [1]}
    assert decode("safejson", b"3", False) == {"content": 3}
    assert decode("safejson", b'{"a":1}', False) == {"a": 1}
    assert decode("string", b"hello", False) == {"content": "hello"}


def test_xml_attributes_become_dash_keys() -> None:
    assert decode("xml", b'<user type="admin"><name>Ann</name><a>1</a><a>2</a></user>', False) == {
        "user": {"-type": "admin", "name": "Ann", "a": ["1", "2"]}
    }
    with pytest.raises(DecodeError):
        decode("xml", b"<open>", False)


def test_go_json_sorts_keys_and_escapes_html() -> None:
    assert go_json({"b": 1, "a": "<&>"}) == b'{"a":"\\u003c\\u0026\\u003e","b":1}'


def test_renderers() -> None:
    assert render("json", {"b": 1, "a": 2}) == (b"application/json; charset=utf-8", b'{"a":2,"b":1}')
    assert render("json", None)[1] == b"{}"
    assert render("json-collection", {"collection": [1]})[1] == b"[1]"
    assert render("json-collection", {"x": 1})[1] == b"[]"
    assert render("string", {"content": "hi"}) == (b"text/plain; charset=utf-8", b"hi")
    content_type, body = render("xml", {"user": {"-type": "admin", "name": "Ann"}})
    assert content_type.startswith(b"application/xml")
    assert body == b'<user type="admin"><name>Ann</name></user>'
    assert render("xml", {"a": 1, "b": "x"})[1] == b"<doc><a>1</a><b>x</b></doc>"
