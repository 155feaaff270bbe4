"""gateway.json loading: positions, KrakenD's defaults, environment overrides and every located error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hanzo_edge.gateway.document import load_document, parse_document, sanitize_host
from hanzo_edge.gateway.errors import format_path
from hanzo_edge.gateway.positions import locate_values


def _doc(config: dict[str, Any], env: dict[str, str] | None = None) -> Any:
    return parse_document(json.dumps(config, indent=2), env or {})


def _base(**extra: Any) -> dict[str, Any]:
    return {
        "version": 3,
        "host": ["http://backend:8000"],
        "endpoints": [{"endpoint": "/users/{id}", "backend": [{"url_pattern": "/u/{id}"}]}],
        **extra,
    }


def test_defaults_are_krakends() -> None:
    doc = _doc(_base())
    assert doc.ok, doc.errors
    service = doc.service
    assert (service.port, service.timeout, service.output_encoding) == (8080, 2.0, "json")
    endpoint = service.endpoints[0]
    assert (endpoint.method, endpoint.timeout, endpoint.concurrent_calls, endpoint.cache_ttl) == ("GET", 2.0, 1, 0.0)
    assert endpoint.input_headers == ("Content-Type",)
    assert endpoint.input_query_strings == ()
    backend = endpoint.backends[0]
    assert (backend.method, backend.encoding, backend.hosts) == ("GET", "json", ("http://backend:8000",))


def test_endpoint_values_override_the_service_defaults() -> None:
    config = _base(timeout="5s", cache_ttl="1m", output_encoding="no-op")
    config["endpoints"][0].update(timeout="300ms", method="post", concurrent_calls=3)
    endpoint = _doc(config).service.endpoints[0]
    assert (endpoint.timeout, endpoint.cache_ttl, endpoint.method) == (0.3, 60.0, "POST")
    assert (endpoint.output_encoding, endpoint.concurrent_calls) == ("no-op", 3)
    assert endpoint.backends[0].encoding == "no-op"  # forced by a no-op endpoint


def test_syntax_error_reports_row_and_column() -> None:
    doc = parse_document('{\n  "version": 3,\n  "endpoints": [\n    {"endpoint": "/a",,}\n  ]\n}', {})
    assert not doc.ok
    assert "row: 4" in doc.syntax_error
    assert "col: 23" in doc.syntax_error
    assert "line 4, column 23" in doc.syntax_error


def test_missing_file(tmp_path: Path) -> None:
    doc = load_document(str(tmp_path / "nope.json"), {})
    assert "no such file" in doc.syntax_error
    assert "nope.json" in doc.syntax_error


def test_unknown_version_is_located() -> None:
    doc = _doc({"version": 2, "endpoints": []})
    assert [str(e) for e in doc.errors] == ["$.version: unsupported version: 2 (want: 3)"]
    assert doc.locate(("version",)) == "line 2, column 14"


@pytest.mark.parametrize(
    ("mutate", "path", "needle"),
    [
        (lambda c: c["endpoints"][0]["backend"][0].update(url_pattern="/u/{nope}"), "backend[0].url_pattern", "{nope}"),
        (lambda c: c.pop("host"), "backend[0].host", "no host"),
        (lambda c: c.update(host=["http://backend:8000/path"]), "$.host[0]", "invalid host"),
        (lambda c: c.update(listen_ip="300.1.2.3"), "$.listen_ip", "invalid listen_ip"),
        (lambda c: c["endpoints"].append(dict(c["endpoints"][0])), "$.endpoints[1].endpoint", "duplicate endpoint"),
        (lambda c: c["endpoints"][0].update(endpoint="/__health"), "$.endpoints[0].endpoint", "reserved"),
        (lambda c: c["endpoints"][0].update(endpoint="/a/x{id}"), "$.endpoints[0].endpoint", "whole path segment"),
        (lambda c: c["endpoints"][0].update(timeout="soon"), "$.endpoints[0].timeout", "invalid duration"),
    ],
)
def test_errors_name_their_json_path_and_line(mutate: Any, path: str, needle: str) -> None:
    config = _base()
    mutate(config)
    doc = _doc(config)
    assert not doc.ok
    matching = [e for e in doc.errors if needle in e.message]
    assert matching, [str(e) for e in doc.errors]
    assert path in format_path(matching[0].path)
    assert doc.locate(matching[0].path).startswith("line ")


def test_noop_with_two_backends_is_refused() -> None:
    config = _base()
    config["endpoints"][0].update(output_encoding="no-op", backend=[{"url_pattern": "/a"}, {"url_pattern": "/b"}])
    doc = _doc(config)
    assert any("NoOp encoding with more than one backends" in e.message for e in doc.errors)


def test_unsupported_method_and_empty_backends_are_warnings_not_errors() -> None:
    config = _base()
    config["endpoints"].append({"endpoint": "/x", "method": "HEAD", "backend": [{"url_pattern": "/x"}]})
    config["endpoints"].append({"endpoint": "/y", "backend": []})
    doc = _doc(config)
    assert doc.ok
    assert len(doc.service.endpoints) == 1
    assert {format_path(w.path) for w in doc.warnings} == {"$.endpoints[1].method", "$.endpoints[2].backend"}


def test_env_overrides_root_scalars_and_port() -> None:
    doc = _doc(
        _base(name="n", timeout="2s"), {"KRAKEND_PORT": "9090", "KRAKEND_NAME": "other", "KRAKEND_TIMEOUT": "7s"}
    )
    assert (doc.service.port, doc.service.name, doc.service.timeout) == (9090, "other", 7.0)


def test_flexible_configuration_variables_are_named_not_ignored() -> None:
    doc = _doc(_base(), {"FC_ENABLE": "1", "FC_SETTINGS": "settings", "FC_OUT": ""})
    assert doc.ok, "a warning, never an error"
    messages = [str(w) for w in doc.warnings]
    assert any("FC_ENABLE, FC_SETTINGS: flexible configuration (FC_*) is not supported" in m for m in messages)
    assert not _doc(_base()).warnings


def test_legacy_names_and_namespace_aliases() -> None:
    config = _base(extra_config={"github_com/devopsfaith/krakend-cors": {"allow_origins": ["*"]}})
    config["endpoints"][0].update(headers_to_pass=["X-A"], querystring_params=["q"])
    doc = _doc(config)
    endpoint = doc.service.endpoints[0]
    assert (endpoint.input_headers, endpoint.input_query_strings) == (("X-A",), ("q",))
    assert "security/cors" in doc.service.extra_config


@pytest.mark.parametrize(
    ("host", "clean"),
    [
        ("backend", "http://backend"),
        ("https://b.example.com:8443/", "https://b.example.com:8443"),
        ("10.0.0.1:80", "http://10.0.0.1:80"),
        ("http://b/path", None),
        ("ftp://b", None),
    ],
)
def test_host_sanitizer(host: str, clean: str | None) -> None:
    assert sanitize_host(host) == clean


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3),
    max_leaves=12,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def _value_at(text: str, line: int, column: int) -> str:
    return text.splitlines()[line - 1][column - 1 :]


@given(json_values, st.booleans())
def test_every_value_is_located_where_its_text_starts(value: Any, indent: bool) -> None:
    text = json.dumps(value, indent=2 if indent else None)
    positions = locate_values(text)
    for path in _paths(value):
        where = positions.of(path)
        assert where is not None
        node: Any = value
        for step in path:
            node = node[step]
        rendered = json.dumps(node, indent=2 if indent else None).splitlines()[0]
        assert _value_at(text, *where).startswith(rendered)
