"""The field table against the formats: every field rendered through the table in every format."""

from __future__ import annotations

import asyncio
import io
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest

from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request
from hanzo_edge.http.tls_info import TLSInfo
from hanzo_edge.observability.accesslog import CORE_FIELDS, AccessLog
from hanzo_edge.observability.accesslog import formats as formats_module
from hanzo_edge.observability.accesslog.fields import FIELDS, Field
from hanzo_edge.observability.accesslog.formats import COMMON, FORMATS, GENERIC_CLF, json_renderer

NOW_NS = 1_700_000_000_500_000_000
ENVELOPE = {"level", "msg", "time"}
CLF_FORMATS = {"common": COMMON, "genericCLF": GENERIC_CLF}


@dataclass
class FakeRoute:
    name: str = "web-app@file"
    service: str = "app@file"


@dataclass
class FakeTrace:
    trace_hex: str = "4bf92f3577b34da6a3ce929d0e0e4736"
    span_id: str = "00f067aa0ba902b7"


@pytest.fixture(autouse=True)
def gmt_minus_9(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time = UTC-9, so StartLocal and StartUTC print differently."""
    monkeypatch.setenv("TZ", "Etc/GMT+9")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _full_request() -> Request:
    # A request that has every field: a Host with a port, a user, a retry, a router and service, a backend, a trace,
    # a TLS connection with a client certificate.
    headers = [
        (b"Host", b"app.test:8080"),
        (b"X-Forwarded-For", b"203.0.113.7"),
        (b"Referer", b"http://r/"),
        (b"User-Agent", b"curl/8"),
    ]
    req = Request(
        "GET",
        "/a/b?x=1",
        Headers(headers),
        path="/a/b",
        query="x=1",
        host="app.test",
        client_ip="10.0.0.1",
        client_port=54321,
        body=b"hello",
        entry_point="web",
    )
    req.route = FakeRoute()
    req.server_url = "http://10.0.0.2:80"
    req.trace = FakeTrace()
    req.retry_attempts = 2
    req.client_username = "alice"
    req.tls_info = TLSInfo("1.3", "TLS_AES_128_GCM_SHA256", "CN=client,O=Hanzo")
    return req


def _line(log_format: str, **options: Any) -> bytes:
    stream = io.BytesIO()
    log = AccessLog(format=log_format, stream=stream, headers_default="keep", wall_ns=lambda: NOW_NS, **options)
    log.observer(_full_request(), 200, 1234, 0.0123, False)
    asyncio.run(log.aclose())
    return stream.getvalue()


def _only(key: str) -> dict[str, Any]:
    return {"fields_default": "drop", "fields_names": {key: "keep"}}


def test_the_table_is_in_go_key_order_and_a_default_json_line_has_every_field() -> None:
    keys = [field.key for field in FIELDS]
    assert keys == sorted(keys), "FIELDS lists the fields in Go's (byte-wise) key order"
    assert len(set(keys)) == len(keys)
    line = _line("json")
    entry = orjson.loads(line)
    assert set(keys) <= set(entry)
    assert set(entry) - set(keys) == ENVELOPE | {"request_Referer", "request_User-Agent", "request_X-Forwarded-For"}
    written = re.findall(rb'"([A-Za-z_-]+)":', line)
    assert written == sorted(written)
    assert tuple(field.key for field in FIELDS if field.core) == CORE_FIELDS


@pytest.mark.parametrize("field", FIELDS, ids=lambda f: f.key)
@pytest.mark.parametrize("log_format", FORMATS)
def test_every_field_in_every_format(log_format: str, field: Field) -> None:
    """Keeping only this field changes a line exactly when the format prints it, with Go's type in JSON."""
    alone = _line(log_format, **_only(field.key))
    without = _line(log_format, fields_default="drop")
    if log_format == "json":
        entry = orjson.loads(alone)
        assert set(entry) - ENVELOPE - {k for k in entry if k.startswith("request_")} == {field.key}
        assert type(entry[field.key]) is field.kind
        assert field.key not in orjson.loads(without)
        return
    printed = field.key in CLF_FORMATS[log_format].fields
    assert (alone != without) is printed, f"{log_format} {'prints' if printed else 'does not print'} {field.key}"


def test_clf_formats_name_only_table_fields_or_request_headers() -> None:
    keys = {field.key for field in FIELDS}
    for form in CLF_FORMATS.values():
        for slot in form.slots:
            for key in slot.keys:
                assert key in keys or key.startswith("request_"), key
        assert form.template.count("%") == len(form.slots)


def test_clf_prints_traefiks_arguments_in_order() -> None:
    assert _line("common") == (
        b'203.0.113.7 - alice [14/Nov/2023:22:13:20 +0000] "GET /a/b?x=1 HTTP/1.1" 200 1234 "http://r/" "curl/8" 1 '
        b'"web-app@file" "http://10.0.0.2:80" 12ms\n'
    )
    assert _line("genericCLF", **_only("StartLocal")) == (
        b'- - - [14/Nov/2023:13:13:20 -0900] "- - -" - - "http://r/" "curl/8"\n'
    )


def test_a_field_sorting_after_logrus_keys_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # The JSON literal puts level/msg after the fields; a new lower-case field past them would break Go's order.
    monkeypatch.setattr(formats_module, "FIELDS", (*FIELDS, Field("span_id", "trace.span_id", str)))
    with pytest.raises(ValueError, match="span_id"):
        json_renderer(frozenset({"span_id"}), {}, False)
