"""Golden cases: Traefik YAML in, the routing decision and the response out (ENGINEERING.md's ``tests/compat/``).

Each ``cases/*.yml`` holds a Traefik static configuration (``configFile:`` naming one of ``examples/``, or ``static:``
and ``dynamic:`` inline) and requests with what Traefik answers them: the router that matches (``null``: none),
the status, the named response headers and, when given, the body. The expectations come from Traefik's behaviour
(``../shared/reference/traefik.md``), never from running this code, so a case that fails is a compatibility break.
A case with ``known_difference:`` is one found and not fixed yet: it is expected to fail (strictly) until it is.

The path is the server's, without sockets: the static file is loaded as ``ingress`` loads it, the file provider made
by the provider factory yields the first snapshot, ``IngressApp.apply_snapshot`` builds the tables, and the raw
request bytes go through the entrypoint's ``HttpProtocol`` on a recording transport. Cases that would reach a
backend are left to ``tests/integration``.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from hanzo_edge.app import IngressApp, entrypoint_settings
from hanzo_edge.config.loader import load_static
from hanzo_edge.http.messages import Request
from hanzo_edge.providers.base import ProviderHooks
from hanzo_edge.providers.factory import create_providers

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "protocol"))
from edge_wire import Client  # the socket-free downstream harness of tests/protocol

ROOT = Path(__file__).resolve().parents[2]
CASES = Path(__file__).resolve().parent / "cases"


def _load_cases() -> list[Any]:
    params = []
    for path in sorted(CASES.glob("*.yml")):
        document = yaml.safe_load(path.read_text())
        for case in document["cases"]:
            # A difference found by a case and not fixed yet: the case must keep failing until it is fixed.
            known = case.get("known_difference")
            marks = [pytest.mark.xfail(strict=True, reason=known)] if known else []
            params.append(pytest.param(document, case, id=f"{path.stem}: {case['name']}", marks=marks))
    return params


def _static_file(document: dict[str, Any], tmp_path: Path) -> Path:
    if "configFile" in document:
        return ROOT / document["configFile"]
    dynamic = tmp_path / "dynamic.yml"
    dynamic.write_text(yaml.safe_dump(document["dynamic"]))
    static = dict(document["static"])
    static["providers"] = {"file": {"filename": str(dynamic), "watch": False}}
    path = tmp_path / "traefik.yml"
    path.write_text(yaml.safe_dump(static))
    return path


def _parse(output: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = output.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), value.strip())
    length = int(headers.get("content-length", "0"))
    return int(status_line.split(" ")[1]), headers, body[:length]


async def _answer(document: dict[str, Any], case: dict[str, Any], static_file: Path) -> tuple[Request, bytes]:
    static = load_static([f"--configFile={static_file}"], {}, search=False)
    app = IngressApp(static)
    [provider] = create_providers(static, ProviderHooks())
    snapshots = provider.watch()
    try:
        app.apply_snapshot(provider.name, await anext(snapshots))
    finally:
        await snapshots.aclose()
    name = case["entrypoint"]
    client = Client(lookup=app.switches[name].lookup, settings=entrypoint_settings(name, static.entry_points[name]))
    try:
        client.send(case["request"].encode("latin-1"))
        await client.until(lambda: b"\r\n\r\n" in client.output and client.idle())
        return client.seen[0], client.output
    finally:
        await client.aclose()
        app.pools.close()


@pytest.mark.parametrize(("document", "case"), _load_cases())
def test_traefik_golden_case(
    document: dict[str, Any], case: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)  # examples name their dynamic directory relative to the repository root
    req, output = asyncio.run(_answer(document, case, _static_file(document, tmp_path)))
    status, headers, body = _parse(output)

    route = req.route
    assert (route.name if route is not None else None) == case["router"]
    assert status == case["status"], output
    for header, value in case.get("headers", {}).items():
        assert headers.get(header.lower()) == value, output
    if "body" in case:
        assert body == case["body"].encode(), output
