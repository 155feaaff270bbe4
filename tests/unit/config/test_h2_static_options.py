"""``entryPoints.<name>.http2`` flags become the HTTP/2 limits the server enforces; bad values are refused."""

from __future__ import annotations

import pytest

from hanzo_edge.app import entrypoint_settings
from hanzo_edge.config.errors import ConfigError
from hanzo_edge.config.loader import load_static
from hanzo_edge.config.support import unsupported_options


def test_http2_flags_reach_the_limits() -> None:
    config = load_static(
        [
            "--entrypoints.web.address=:8080",
            "--entrypoints.web.http2.maxConcurrentStreams=7",
            "--entrypoints.web.http2.maxDecoderHeaderTableSize=8192",
            "--entrypoints.web.http2.maxEncoderHeaderTableSize=1024",
            "--entrypoints.web.http.maxHeaderBytes=4096",
        ],
        {},
    )
    limits = entrypoint_settings("web", config.entry_points["web"]).http2
    assert limits.max_concurrent_streams == 7
    assert limits.header_table_size == 8192
    assert limits.encoder_table_size == 1024
    assert limits.max_header_list_size == 4096  # the same head bound as HTTP/1.1
    assert unsupported_options(config) == []  # http2 is served: nothing to warn about


def test_zero_concurrent_streams_means_gos_default() -> None:
    config = load_static(["--entrypoints.web.address=:8080", "--entrypoints.web.http2.maxConcurrentStreams=0"], {})
    assert entrypoint_settings("web", config.entry_points["web"]).http2.max_concurrent_streams == 250


def test_negative_concurrent_streams_is_refused_naming_the_option() -> None:
    with pytest.raises(ConfigError, match="maxConcurrentStreams"):
        load_static(["--entrypoints.web.address=:8080", "--entrypoints.web.http2.maxConcurrentStreams=-1"], {})
