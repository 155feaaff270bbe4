"""Decoding arbitrary data either succeeds or raises ConfigError: never another exception."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hanzo_edge.config.decode import DecodeContext, decode_into
from hanzo_edge.config.dynamic import decode_dynamic
from hanzo_edge.config.errors import ConfigError
from hanzo_edge.config.static import StaticConfig

KEYS = st.sampled_from(
    [
        "http",
        "routers",
        "services",
        "middlewares",
        "loadBalancer",
        "servers",
        "url",
        "weight",
        "rule",
        "service",
        "stripPrefix",
        "prefixes",
        "rateLimit",
        "period",
        "entryPoints",
        "address",
        "ping",
        "tls",
        "r",
        "s",
        "x",
    ]
)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**12), st.floats(allow_nan=True), st.text(max_size=8))
DATA = st.recursive(
    SCALARS,
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(KEYS, children, max_size=4)),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(DATA)
def test_dynamic_decode_raises_only_config_error(data: Any) -> None:
    message = ""
    try:
        config, _warnings = decode_dynamic(data)
        hash(config)
    except ConfigError as exc:
        message = str(exc)
    assert "\n" not in message


@settings(max_examples=300, deadline=None)
@given(DATA)
def test_static_decode_raises_only_config_error(data: Any) -> None:
    message = ""
    try:
        config = decode_into(StaticConfig, data, DecodeContext(unknown="warn"))
        hash(config)
    except ConfigError as exc:
        message = str(exc)
    assert "\n" not in message
