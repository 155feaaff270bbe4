"""Access log: Traefik's JSON fields and units, CLF lines, filters, field/header modes, batching, reopen, aclose."""

from __future__ import annotations

import asyncio
import functools
import io
import os
import re
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import orjson
import pytest

from hanzo_edge.config.static import AccessLog as AccessLogConfig
from hanzo_edge.config.static import (
    AccessLogFields,
    AccessLogFilters,
    AccessLogHeaders,
    AccessLogQuery,
)
from hanzo_edge.config.types import FrozenDict
from hanzo_edge.http.body import StreamBody
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request
from hanzo_edge.observability import accesslog as accesslog_module
from hanzo_edge.observability.accesslog import (
    CORE_FIELDS,
    AccessLog,
    canonical_header_key,
    parse_status_ranges,
)

# 2023-11-14T22:13:20.5Z; requests below take 12.3 ms, so they started at 22:13:20.4877Z.
NOW_NS = 1_700_000_000_500_000_000
DURATION = 0.0123


P = ParamSpec("P")
T = TypeVar("T")


def aio(fn: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, T]:
    """Run an async test in a fresh event loop (the suite has no asyncio plugin)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        return asyncio.run(fn(*args, **kwargs))

    return wrapper


def _clock() -> int:
    return NOW_NS


@dataclass
class FakeRoute:
    """The bits of routing.table.Route the access log reads."""

    name: str = "web-app@file"
    service: str = "app@file"


class CountingStream(io.BytesIO):
    """An output stream that counts its write calls (each batch handed to the writer thread is one write)."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0
        self.written = threading.Event()

    def write(self, data: Any) -> int:
        self.writes += 1
        n = super().write(data)
        self.written.set()
        return n

    def lines(self) -> list[bytes]:
        return self.getvalue().splitlines()


@pytest.fixture
def gmt_minus_9(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run with local time = UTC-9 (what Traefik's own formatter tests use)."""
    monkeypatch.setenv("TZ", "Etc/GMT+9")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _request(
    target: str = "/a/b?x=1",
    *,
    headers: list[tuple[bytes, bytes]] | None = None,
    route: FakeRoute | None = None,
    server_url: str = "",
    client_ip: str = "10.0.0.1",
    body: bytes | StreamBody = b"",
    ctx: dict[str, Any] | None = None,
    version: str = "1.1",
    scheme: str = "http",
) -> Request:
    raw = [(b"Host", b"app.test:8080")] if headers is None else headers
    path, _, query = target.partition("?")
    req = Request(
        "GET",
        target,
        Headers(list(raw)),
        path=path,
        query=query,
        version=version,
        host="app.test",
        client_ip=client_ip,
        client_port=54321,
        scheme=scheme,
        body=body,
        entry_point="web",
    )
    req.route = route
    req.server_url = server_url
    if ctx:  # what the retry and auth middlewares leave on the request
        req.retry_attempts = ctx.get("retry_attempts")
        req.client_username = ctx.get("client_username", "")
    return req


def _proxied(**kwargs: Any) -> Request:
    return _request(route=FakeRoute(), server_url="http://10.0.0.2:80", **kwargs)


async def _lines(log: AccessLog, stream: CountingStream) -> list[bytes]:
    await log.flush()
    return stream.lines()


async def _json(log: AccessLog, stream: CountingStream) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in await _lines(log, stream)]


def _new(stream: CountingStream, **options: Any) -> AccessLog:
    options.setdefault("format", "json")
    return AccessLog(stream=stream, wall_ns=_clock, **options)


# ------------------------------------------------------------------------------------------------------- JSON


@aio
async def test_json_line_of_a_proxied_request_has_traefik_fields_and_units(gmt_minus_9: None) -> None:
    stream = CountingStream()
    log = _new(stream)
    req = _proxied(body=b"hello", ctx={"retry_attempts": 2, "client_username": "alice"})
    log.observer(req, 200, 1234, DURATION, False)
    [line] = await _lines(log, stream)
    entry = orjson.loads(line)
    assert entry == {
        "ClientAddr": "10.0.0.1:54321",
        "ClientHost": "10.0.0.1",
        "ClientPort": "54321",
        "ClientUsername": "alice",
        "DownstreamContentSize": 1234,
        "DownstreamStatus": 200,
        "Duration": 12_300_000,
        "OriginContentSize": 1234,
        "OriginDuration": 12_300_000,
        "OriginStatus": 200,
        "Overhead": 0,
        "RequestAddr": "app.test:8080",
        "RequestContentSize": 5,
        "RequestCount": 1,
        "RequestHost": "app.test",
        "RequestMethod": "GET",
        "RequestPath": "/a/b?x=1",
        "RequestPort": "8080",
        "RequestProtocol": "HTTP/1.1",
        "RequestScheme": "http",
        "RetryAttempts": 2,
        "RouterName": "web-app@file",
        "ServiceAddr": "10.0.0.2:80",
        "ServiceName": "app@file",
        "ServiceURL": "http://10.0.0.2:80",
        "StartLocal": "2023-11-14T13:13:20.4877-09:00",
        "StartUTC": "2023-11-14T22:13:20.4877Z",
        "entryPointName": "web",
        "level": "info",
        "msg": "",
        "time": "2023-11-14T13:13:20-09:00",
    }
    # Go's encoder writes map keys sorted byte-wise; one line, newline-terminated.
    keys = re.findall(rb'"([A-Za-z_]+)":', line)
    assert keys == sorted(keys)
    assert stream.getvalue().endswith(b"}\n")
    await log.aclose()


@aio
async def test_json_line_when_nothing_upstream_answered() -> None:
    stream = CountingStream()
    log = _new(stream)
    log.observer(_request("/missing", headers=[]), 404, 19, 0.002, False)
    [entry] = await _json(log, stream)
    assert entry["OriginStatus"] == 0
    assert entry["OriginDuration"] == 0
    assert entry["OriginContentSize"] == 0
    assert entry["Overhead"] == entry["Duration"] == 2_000_000
    assert entry["ClientUsername"] == "-"
    assert entry["RetryAttempts"] == 0
    # The request's canonical host stands in when no Host header was sent; it has no port.
    assert (entry["RequestAddr"], entry["RequestHost"], entry["RequestPort"]) == ("app.test", "app.test", "-")
    for absent in ("RouterName", "ServiceName", "ServiceURL", "ServiceAddr"):
        assert absent not in entry
    assert entry["StartUTC"] == "2023-11-14T22:13:20.498Z"
    await log.aclose()


@aio
async def test_json_client_and_request_details() -> None:
    stream = CountingStream()
    log = _new(stream)
    body = StreamBody(None)
    body.feed(b"x" * 300)
    req = _proxied(
        headers=[(b"Host", b"[::1]:8443"), (b"X-Forwarded-For", b"203.0.113.7, 10.0.0.9")],
        client_ip="::1",
        body=body,
        version="1.0",
        scheme="https",
    )
    req.tls = True
    log.observer(req, 502, 0, 1.0, True)
    [entry] = await _json(log, stream)
    assert entry["ClientAddr"] == "[::1]:54321"
    assert entry["ClientHost"] == "203.0.113.7, 10.0.0.9"  # Traefik logs the X-Forwarded-For value
    assert (entry["RequestAddr"], entry["RequestHost"], entry["RequestPort"]) == ("[::1]:8443", "::1", "8443")
    assert entry["RequestContentSize"] == 300
    assert entry["RequestProtocol"] == "HTTP/1.0"
    assert entry["RequestScheme"] == "https"
    assert entry["Duration"] == 1_000_000_000
    assert entry["StartUTC"] == "2023-11-14T22:13:19.5Z"
    await log.aclose()


@aio
async def test_request_path_is_the_target_as_received() -> None:
    stream = CountingStream()
    log = _new(stream)
    req = _proxied()
    req.path = "/b"  # a stripPrefix middleware rewrote it; Traefik logs the original URL
    log.observer(req, 200, 0, DURATION, False)
    absolute = _proxied()
    absolute.target = "http://app.test:8080/abs?q=1"
    log.observer(absolute, 200, 0, DURATION, False)
    first, second = await _json(log, stream)
    assert first["RequestPath"] == "/a/b?x=1"
    assert second["RequestPath"] == "/abs?q=1"
    assert (first["RequestCount"], second["RequestCount"]) == (1, 2)
    await log.aclose()


# ------------------------------------------------------------------------------------------------------ filters


def test_parse_status_ranges() -> None:
    assert parse_status_ranges(["200", "300-302", "500-504,404"]) == [(200, 200), (300, 302), (500, 504), (404, 404)]
    with pytest.raises(ValueError, match="invalid"):
        parse_status_ranges(["1-2-3"])
    with pytest.raises(ValueError, match="invalid literal"):
        parse_status_ranges(["abc"])


@pytest.mark.parametrize(
    ("filters", "status", "retries", "duration", "kept"),
    [
        ({}, 500, 0, 0.0, True),  # no filter: everything
        ({"status_codes": ("200-299",)}, 200, 0, 0.0, True),
        ({"status_codes": ("200-299",)}, 299, 0, 0.0, True),
        ({"status_codes": ("200-299",)}, 404, 0, 0.0, False),
        ({"status_codes": ("200-299", "404")}, 404, 0, 0.0, True),
        ({"status_codes": ("500-504,404",)}, 503, 0, 0.0, True),
        ({"status_codes": ("1000-1100",)}, 1050, 0, 0.0, True),
        ({"status_codes": ("oops",)}, 404, 0, 0.0, True),  # invalid ranges are ignored: no filter left
        ({"retry_attempts": True}, 200, 0, 0.0, False),
        ({"retry_attempts": True}, 200, 1, 0.0, True),
        ({"min_duration": 0.01}, 200, 0, 0.01, False),  # strictly longer
        ({"min_duration": 0.01}, 200, 0, 0.0101, True),
        # OR-ed: any matching filter keeps the line
        ({"status_codes": ("500-599",), "retry_attempts": True, "min_duration": 1.0}, 200, 3, 0.0, True),
        ({"status_codes": ("500-599",), "retry_attempts": True, "min_duration": 1.0}, 200, 0, 2.0, True),
        ({"status_codes": ("500-599",), "retry_attempts": True, "min_duration": 1.0}, 502, 0, 0.0, True),
        ({"status_codes": ("500-599",), "retry_attempts": True, "min_duration": 1.0}, 200, 0, 0.5, False),
    ],
)
@aio
async def test_filters(filters: dict[str, Any], status: int, retries: int, duration: float, kept: bool) -> None:
    stream = CountingStream()
    log = _new(stream, **filters)
    log.observer(_proxied(ctx={"retry_attempts": retries}), status, 0, duration, False)
    assert len(await _lines(log, stream)) == (1 if kept else 0)
    assert log.request_count == 1  # counted whether logged or not
    await log.aclose()


@aio
async def test_internal_services_are_skipped_unless_add_internals() -> None:
    for add_internals, expected in ((False, 0), (True, 2)):
        stream = CountingStream()
        log = _new(stream, add_internals=add_internals)
        ping = _request(route=FakeRoute("ping@internal", ""))
        redirect = _request(route=FakeRoute("web-to-websecure@internal", "noop@internal"))
        log.observer(ping, 200, 2, DURATION, False)
        log.observer(redirect, 308, 0, DURATION, False)
        assert len(await _lines(log, stream)) == expected
        await log.aclose()


# ------------------------------------------------------------------------------------------------------- fields


@aio
async def test_fields_default_drop_with_names_kept_case_insensitively() -> None:
    stream = CountingStream()
    log = _new(stream, fields_default="drop", fields_names={"clienthost": "keep", "DownstreamStatus": "keep"})
    log.observer(_proxied(), 200, 10, DURATION, False)
    [entry] = await _json(log, stream)
    assert set(entry) == {"ClientHost", "DownstreamStatus", "level", "msg", "time"}
    await log.aclose()


@aio
async def test_fields_dropped_by_name_and_unknown_modes_fall_back_to_default() -> None:
    stream = CountingStream()
    log = _new(stream, fields_names={"StartLocal": "drop", "ClientUsername": "drop", "Duration": "redact"})
    log.observer(_proxied(ctx={"client_username": "bob"}), 200, 10, DURATION, False)
    [entry] = await _json(log, stream)
    assert "StartLocal" not in entry
    assert "ClientUsername" not in entry
    assert entry["Duration"] == 12_300_000  # "redact" is not a field mode: default (keep)
    # a plain connection: the TLS fields exist only for requests over TLS
    tls_only = {"TLSCipher", "TLSClientSubject", "TLSVersion"}
    assert set(entry) == (set(CORE_FIELDS) - {"StartLocal", "ClientUsername"} - tls_only) | {"level", "msg", "time"}
    assert entry["StartUTC"] == "2023-11-14T22:13:20.4877Z"
    assert log.kept_fields == frozenset(CORE_FIELDS) - {"StartLocal", "ClientUsername"}
    await log.aclose()


@aio
async def test_customised_fields_give_the_same_values_as_the_default_path() -> None:
    full_stream, custom_stream = CountingStream(), CountingStream()
    full = _new(full_stream)
    custom = _new(custom_stream, fields_names={"entryPointName": "drop"})
    for log in (full, custom):
        log.observer(_proxied(ctx={"retry_attempts": 1}), 201, 7, DURATION, False)
        log.observer(_request("/x", headers=[]), 404, 0, DURATION, False)
    expected = await _json(full, full_stream)
    for entry in expected:
        del entry["entryPointName"]
    assert await _json(custom, custom_stream) == expected
    await full.aclose()
    await custom.aclose()


def test_canonical_header_key() -> None:
    assert canonical_header_key("user-agent") == "User-Agent"
    assert canonical_header_key("X-FORWARDED-FOR") == "X-Forwarded-For"
    assert canonical_header_key("x_weird name") == "x_weird name"  # not a token: unchanged, like Go


@aio
async def test_headers_are_dropped_by_default() -> None:
    stream = CountingStream()
    log = _new(stream)
    log.observer(_proxied(headers=[(b"Host", b"a"), (b"User-Agent", b"curl")]), 200, 0, DURATION, False)
    [entry] = await _json(log, stream)
    assert not [key for key in entry if key.startswith("request_")]
    await log.aclose()


@aio
async def test_header_modes_keep_drop_redact() -> None:
    stream = CountingStream()
    log = _new(stream, headers_default="keep", headers_names={"authorization": "drop", "user-agent": "redact"})
    headers = [
        (b"Host", b"app.test"),
        (b"user-agent", b"curl/8"),
        (b"Authorization", b"Basic c2VjcmV0"),
        (b"accept", b"text/html"),
        (b"Accept", b"*/*"),
        (b"X-Real-Ip", b"10.0.0.1"),
    ]
    log.observer(_proxied(headers=headers), 200, 0, DURATION, False)
    [line] = await _lines(log, stream)
    entry = orjson.loads(line)
    assert {k: v for k, v in entry.items() if k.startswith("request_")} == {
        "request_Accept": "text/html,*/*",
        "request_User-Agent": "REDACTED",
        "request_X-Real-Ip": "10.0.0.1",
    }  # no request_Host: Go keeps Host out of the header map
    keys = re.findall(rb'"([A-Za-z_-]+)":', line)
    assert keys == sorted(keys)
    await log.aclose()


@aio
async def test_header_default_drop_with_one_kept() -> None:
    stream = CountingStream()
    log = _new(stream, headers_names={"X-Request-Id": "keep"})
    headers = [(b"x-request-id", b"abc"), (b"Cookie", b"s=1")]
    log.observer(_proxied(headers=headers), 200, 0, DURATION, False)
    [entry] = await _json(log, stream)
    assert {k: v for k, v in entry.items() if k.startswith("request_")} == {"request_X-Request-Id": "abc"}
    await log.aclose()


@pytest.mark.parametrize(
    ("default", "names", "path"),
    [
        ("keep", {}, "/s?token=abc&page=2"),
        ("drop", {}, "/s"),
        ("keep", {"token": "redact"}, "/s?token=REDACTED&page=2"),
        ("keep", {"token": "drop"}, "/s?page=2"),
        ("drop", {"page": "keep"}, "/s?page=2"),
        ("redact", {}, "/s?token=REDACTED&page=REDACTED"),
    ],
)
@aio
async def test_query_parameter_modes(default: str, names: dict[str, str], path: str) -> None:
    stream = CountingStream()
    log = _new(stream, query_default=default, query_names=names)
    log.observer(_proxied(target="/s?token=abc&page=2"), 200, 0, DURATION, False)
    [entry] = await _json(log, stream)
    assert entry["RequestPath"] == path
    await log.aclose()


# ------------------------------------------------------------------------------------------------- CLF formats


@aio
async def test_common_format_exact_line() -> None:
    stream = CountingStream()
    log = _new(stream, format="common")
    log.observer(_proxied(ctx={"client_username": "alice"}), 200, 1234, DURATION, False)
    log.observer(_request("/missing"), 404, 19, 0.0004, False)
    assert await _lines(log, stream) == [
        b'10.0.0.1 - alice [14/Nov/2023:22:13:20 +0000] "GET /a/b?x=1 HTTP/1.1" 200 1234 "-" "-" 1 '
        b'"web-app@file" "http://10.0.0.2:80" 12ms',
        b'10.0.0.1 - - [14/Nov/2023:22:13:20 +0000] "GET /missing HTTP/1.1" 404 19 "-" "-" 2 "-" "-" 0ms',
    ]
    await log.aclose()


@aio
async def test_common_format_with_headers_kept_and_local_time(gmt_minus_9: None) -> None:
    stream = CountingStream()
    log = _new(stream, format="common", headers_default="keep", fields_names={"StartUTC": "drop"})
    headers = [
        (b"Host", b"a"),
        (b"Referer", b"http://r/"),
        (b"User-Agent", b"curl/8"),
        (b"X-Forwarded-For", b"1.2.3.4"),
    ]
    log.observer(_proxied(headers=headers), 200, 5, DURATION, False)
    [line] = await _lines(log, stream)
    assert line == (
        b'1.2.3.4 - - [14/Nov/2023:13:13:20 -0900] "GET /a/b?x=1 HTTP/1.1" 200 5 "http://r/" "curl/8" 1 '
        b'"web-app@file" "http://10.0.0.2:80" 12ms'
    )
    await log.aclose()


@aio
async def test_common_format_dropped_fields_print_dashes() -> None:
    stream = CountingStream()
    log = _new(stream, format="common", fields_default="drop", headers_names={"User-Agent": "redact"})
    log.observer(_proxied(headers=[(b"User-Agent", b"curl")]), 200, 5, DURATION, False)
    [line] = await _lines(log, stream)
    assert line == b'- - - [-] "- - -" - - "-" "REDACTED" - "-" "-" 0ms'
    await log.aclose()


@aio
async def test_generic_clf_exact_line() -> None:
    stream = CountingStream()
    log = _new(stream, format="genericCLF", headers_names={"User-Agent": "keep"})
    log.observer(_proxied(headers=[(b"User-Agent", b"Mozilla/5.0")]), 301, 0, DURATION, False)
    assert await _lines(log, stream) == [
        b'10.0.0.1 - - [14/Nov/2023:22:13:20 +0000] "GET /a/b?x=1 HTTP/1.1" 301 0 "-" "Mozilla/5.0"'
    ]
    await log.aclose()


# ------------------------------------------------------------------------------------------ batching and files


@aio
async def test_a_burst_of_100k_requests_is_one_write() -> None:
    stream = CountingStream()
    log = _new(stream)
    req = _proxied()
    for _ in range(100_000):
        log.observer(req, 200, 10, DURATION, False)
    assert stream.writes == 0  # nothing written on the event loop
    await log.flush()
    assert stream.writes == 1
    assert len(stream.lines()) == 100_000
    await log.aclose()


@aio
async def test_each_loop_iteration_hands_its_lines_over_once() -> None:
    stream = CountingStream()
    log = _new(stream, format="common")
    for _ in range(3):
        log.observer(_proxied(), 200, 10, DURATION, False)
        log.observer(_proxied(), 200, 10, DURATION, False)
        stream.written.clear()
        await asyncio.to_thread(stream.written.wait, 5)  # the call_soon flush runs, the thread writes
    assert stream.writes == 3
    assert len(stream.lines()) == 6
    await log.aclose()


@aio
async def test_buffering_size_hands_over_every_n_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accesslog_module, "FLUSH_INTERVAL", 3600.0)  # only the line count hands over here
    stream = CountingStream()
    log = _new(stream, buffering_size=1000)
    req = _proxied()
    for _ in range(9_999):
        log.observer(req, 200, 10, DURATION, False)
    await asyncio.wrap_future(log._writer.command("barrier"))  # wait for the thread, without handing over
    assert 1 <= stream.writes <= 9  # 9 full batches (the thread may coalesce some); 999 lines still in memory
    assert len(stream.lines()) == 9_000
    await log.aclose()
    assert len(stream.lines()) == 9_999


@aio
async def test_buffering_size_timer_flushes_a_quiet_log(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accesslog_module, "FLUSH_INTERVAL", 0.001)
    stream = CountingStream()
    log = _new(stream, buffering_size=100)
    log.observer(_proxied(), 200, 10, DURATION, False)
    assert await asyncio.to_thread(stream.written.wait, 5)
    assert len(stream.lines()) == 1
    await log.aclose()


@aio
async def test_file_output_reopen_after_rename(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "access.log"  # the directory is created
    log = AccessLog(format="common", file_path=str(path), wall_ns=_clock)
    log.observer(_proxied(), 200, 1, DURATION, False)
    await log.flush()
    path.rename(tmp_path / "logs" / "access.log.1")  # logrotate
    log.observer(_proxied(), 200, 2, DURATION, False)  # rendered before reopen: old file
    log.reopen()
    log.observer(_proxied(), 200, 3, DURATION, False)
    await log.aclose()
    rotated = (tmp_path / "logs" / "access.log.1").read_bytes().splitlines()
    current = path.read_bytes().splitlines()
    assert [line.split(b'" ')[1][:5] for line in rotated] == [b"200 1", b"200 2"]
    assert [line.split(b'" ')[1][:5] for line in current] == [b"200 3"]


@aio
async def test_file_is_appended_to(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    path.write_bytes(b"old\n")
    log = AccessLog(format="json", file_path=str(path), wall_ns=_clock)
    log.observer(_proxied(), 200, 1, DURATION, False)
    await log.aclose()
    lines = path.read_bytes().splitlines()
    assert lines[0] == b"old"
    assert orjson.loads(lines[1])["DownstreamContentSize"] == 1


@aio
async def test_aclose_flushes_and_stops_logging() -> None:
    stream = CountingStream()
    log = _new(stream, buffering_size=50)
    for _ in range(10):
        log.observer(_proxied(), 200, 1, DURATION, False)
    assert stream.writes == 0
    await log.aclose()
    assert len(stream.lines()) == 10
    log.observer(_proxied(), 200, 1, DURATION, False)
    log.reopen()
    await log.aclose()  # idempotent
    assert len(stream.lines()) == 10


@aio
async def test_aclose_without_traffic_closes_the_file(tmp_path: Path) -> None:
    log = AccessLog(file_path=str(tmp_path / "a.log"))
    await log.aclose()
    await log.flush()
    assert (tmp_path / "a.log").read_bytes() == b""


def test_without_a_running_loop_lines_are_handed_over_at_once() -> None:
    stream = CountingStream()
    log = _new(stream, format="common")
    log.observer(_proxied(), 200, 1, DURATION, False)
    assert stream.written.wait(5)
    assert len(stream.lines()) == 1
    asyncio.run(log.aclose())


def test_stdout_is_the_default_output(capfd: pytest.CaptureFixture[str]) -> None:
    async def run() -> None:
        log = AccessLog(format="common", wall_ns=_clock)
        log.observer(_proxied(), 200, 1, DURATION, False)
        await log.aclose()

    asyncio.run(run())
    out = capfd.readouterr().out
    assert out.endswith('"web-app@file" "http://10.0.0.2:80" 12ms\n')


# ------------------------------------------------------------------------------------------------------ config


@aio
async def test_from_config(tmp_path: Path) -> None:
    config = AccessLogConfig(
        file_path=str(tmp_path / "access.json"),
        format="json",
        buffering_size=0,
        filters=AccessLogFilters(status_codes=("400-599",), retry_attempts=True),
        fields=AccessLogFields(
            names=FrozenDict({"StartLocal": "drop"}),
            headers=AccessLogHeaders(default_mode="redact", names=FrozenDict({"Accept": "keep"})),
            query_parameters=AccessLogQuery(default_mode="drop"),
        ),
    )
    log = AccessLog.from_config(config, wall_ns=_clock)
    headers = [(b"Host", b"app.test"), (b"Accept", b"*/*"), (b"Cookie", b"x")]
    log.observer(_proxied(headers=headers), 200, 1, DURATION, False)  # filtered out
    log.observer(_proxied(headers=headers), 503, 1, DURATION, False)
    log.observer(_proxied(headers=headers, ctx={"retry_attempts": 1}), 200, 1, DURATION, False)
    await log.aclose()
    entries = [orjson.loads(line) for line in (tmp_path / "access.json").read_bytes().splitlines()]
    assert [e["DownstreamStatus"] for e in entries] == [503, 200]
    assert entries[0]["request_Accept"] == "*/*"
    assert entries[0]["request_Cookie"] == "REDACTED"
    assert entries[0]["RequestPath"] == "/a/b"
    assert "StartLocal" not in entries[0]


def test_from_config_defaults_are_traefiks() -> None:
    log = AccessLog.from_config(AccessLogConfig(), stream=CountingStream())
    assert not log._json  # common
    assert not log._generic
    assert log.kept_fields == frozenset(CORE_FIELDS)
    assert not log._hdr_any  # headers dropped
    assert not log._batch._filtered


def test_unopenable_file_raises(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OSError):  # the errno differs between systems
        AccessLog(file_path=os.path.join(str(blocker), "access.log"))


@aio
async def test_origin_duration_is_timed_from_the_backend_call_and_overhead_is_the_rest() -> None:
    stream = CountingStream()
    log = _new(stream)
    req = _proxied()
    req.started = 100.0
    req.origin_started = 100.004  # routing and middlewares took 4 ms before the backend was called
    log.observer(req, 200, 10, DURATION, False)
    [entry] = await _json(log, stream)
    assert entry["Duration"] == 12_300_000
    assert entry["OriginDuration"] == pytest.approx(8_300_000, abs=2)
    assert entry["Overhead"] + entry["OriginDuration"] == entry["Duration"]
    await log.aclose()


@dataclass
class FakeTrace:
    """The two ids the access log reads from a request's trace."""

    trace_hex: str = "4bf92f3577b34da6a3ce929d0e0e4736"
    span_id: str = "00f067aa0ba902b7"


@aio
async def test_trace_and_span_ids_appear_in_go_key_order_when_tracing() -> None:
    stream = CountingStream()
    log = _new(stream)
    req = _proxied()
    req.trace = FakeTrace()
    log.observer(req, 200, 10, DURATION, False)
    [line] = await _lines(log, stream)
    entry = orjson.loads(line)
    assert entry["TraceId"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert entry["SpanId"] == "00f067aa0ba902b7"
    keys = re.findall(rb'"([A-Za-z_]+)":', line)
    core = [k for k in keys if k not in (b"level", b"msg", b"time")]
    assert core == sorted(core)
    dropped = CountingStream()
    log2 = _new(dropped, fields_names={"TraceId": "drop"})
    log2.observer(req, 200, 10, DURATION, False)
    [entry2] = await _json(log2, dropped)
    assert "TraceId" not in entry2
    assert entry2["SpanId"] == "00f067aa0ba902b7"
    await log.aclose()
    await log2.aclose()
