"""Review fixes of the gateway entrypoint's gin table (gateway/gin_table.py)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from hanzo_edge.gateway.document import parse_document
from hanzo_edge.gateway.server import GatewayApp, gateway_static
from hanzo_edge.gateway.translate import translate_document
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response


def _table() -> Any:
    config = {
        "version": 3,
        "host": ["http://127.0.0.1:9000"],
        "endpoints": [{"endpoint": "/a/{id}", "backend": [{"url_pattern": "/x/{id}"}]}],
    }
    translation = translate_document(parse_document(json.dumps(config), {}))
    assert translation is not None
    app = GatewayApp(gateway_static("127.0.0.1", 0), translation)
    return app.build(app.initial_snapshots()).tables["gateway"]


def _answer(table: Any, method: str, path: str, query: str) -> Response:
    req = Request(method, f"{path}?{query}", Headers([(b"Host", b"gw.test")]), path=path, query=query)
    response: Response = asyncio.run(table.lookup(req)(req))
    return response


def test_a_redirect_body_escapes_the_client_query_as_go_does() -> None:
    # Before the fix the query was written into the HTML body as it came: markup of the client's choosing.
    response = _answer(_table(), "GET", "/A/1", "x=\"><script>alert(1)</script>&y='")

    assert response.status == 301
    assert response.headers.get("location") == "/a/1?x=\"><script>alert(1)</script>&y='"
    assert response.body == (
        b'<a href="/a/1?x=&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&amp;y=&#39;">Moved Permanently</a>.\n\n'
    )
