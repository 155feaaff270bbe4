"""Status lines and reason phrases must be Go's (``net/http.StatusText`` and ``writeStatusLine``)."""

from __future__ import annotations

import re

import pytest

from hanzo_edge.http.status import DateHeader, status_line, status_text

GO_STATUS_TEXT = {
    100: "Continue", 101: "Switching Protocols", 102: "Processing", 103: "Early Hints",
    200: "OK", 201: "Created", 202: "Accepted", 203: "Non-Authoritative Information", 204: "No Content",
    205: "Reset Content", 206: "Partial Content", 207: "Multi-Status", 208: "Already Reported", 226: "IM Used",
    300: "Multiple Choices", 301: "Moved Permanently", 302: "Found", 303: "See Other", 304: "Not Modified",
    305: "Use Proxy", 307: "Temporary Redirect", 308: "Permanent Redirect",
    400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 406: "Not Acceptable", 407: "Proxy Authentication Required",
    408: "Request Timeout", 409: "Conflict", 410: "Gone", 411: "Length Required", 412: "Precondition Failed",
    413: "Request Entity Too Large", 414: "Request URI Too Long", 415: "Unsupported Media Type",
    416: "Requested Range Not Satisfiable", 417: "Expectation Failed", 418: "I'm a teapot",
    421: "Misdirected Request", 422: "Unprocessable Entity", 423: "Locked", 424: "Failed Dependency",
    425: "Too Early", 426: "Upgrade Required", 428: "Precondition Required", 429: "Too Many Requests",
    431: "Request Header Fields Too Large", 451: "Unavailable For Legal Reasons",
    500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable",
    504: "Gateway Timeout", 505: "HTTP Version Not Supported", 506: "Variant Also Negotiates",
    507: "Insufficient Storage", 508: "Loop Detected", 510: "Not Extended", 511: "Network Authentication Required",
}  # fmt: skip


@pytest.mark.parametrize("code", sorted(GO_STATUS_TEXT))
def test_status_text_is_go_status_text(code: int) -> None:
    assert status_text(code) == GO_STATUS_TEXT[code]


@pytest.mark.parametrize("code", [299, 306, 420, 599])
def test_status_text_of_unknown_code_is_empty(code: int) -> None:
    assert status_text(code) == ""


def test_traefik_499_client_closed_request() -> None:
    assert status_text(499) == "Client Closed Request"
    assert status_line(499) == b"HTTP/1.1 499 Client Closed Request\r\n"


def test_status_line() -> None:
    assert status_line(200) == b"HTTP/1.1 200 OK\r\n"
    assert status_line(404) == b"HTTP/1.1 404 Not Found\r\n"


def test_status_line_ignores_a_custom_reason_for_a_standard_code() -> None:
    # Go's ResponseWriter cannot set a reason phrase: a proxied "200 Fine" goes out as "200 OK".
    assert status_line(200, "Fine") == b"HTTP/1.1 200 OK\r\n"


def test_status_line_of_unknown_code_is_go_fallback() -> None:
    # Go's writeStatusLine: fmt.Fprintf(bw, "%03d status code %d\r\n", code, code) when StatusText is empty
    assert status_line(299) == b"HTTP/1.1 299 status code 299\r\n"


def test_date_header_line() -> None:
    line = DateHeader().line()
    assert re.fullmatch(rb"Date: (Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT\r\n", line)
