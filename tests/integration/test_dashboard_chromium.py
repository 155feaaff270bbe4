"""The dashboard in a real browser: headless Chromium loads it from our own HTTP server, offline, and renders the API.

A small asyncio server (HttpProtocol + a ConnectionContext whose lookup always answers with ApiHandler) runs in a
background thread over a RuntimeView of a real build: two enabled routers and one disabled router whose service is
missing. Chromium (Debian package ``chromium``; ``scripts/sysdeps.sh`` installs it) dumps the rendered DOM of the
router list and of the disabled router's page, and screenshots the overview to ``docs/dashboard.png``. Every host
but 127.0.0.1 is unresolvable for the browser, so the page cannot depend on anything external.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import threading
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from hanzo_edge.api.handlers import ApiHandler
from hanzo_edge.api.runtime import RuntimeView
from hanzo_edge.config.dynamic import decode_dynamic
from hanzo_edge.config.static import Api, EntryPoint, FileProviderConfig, Metrics, Prometheus, Providers, StaticConfig
from hanzo_edge.config.types import FrozenDict
from hanzo_edge.http.messages import Request
from hanzo_edge.http.pool import PoolRegistry, TransportOptions
from hanzo_edge.http.server import HttpProtocol
from hanzo_edge.http.settings import ConnectionContext, EntrypointSettings
from hanzo_edge.routing.build import build_tables

pytestmark = pytest.mark.integration

DOCS = Path(__file__).resolve().parents[2] / "docs"

STATIC = StaticConfig(
    entry_points=FrozenDict({"web": EntryPoint(address=":8080"), "dashboard": EntryPoint(address=":9090")}),
    api=Api(),
    metrics=Metrics(prometheus=Prometheus()),
    providers=Providers(file=FileProviderConfig(filename="dynamic.yml")),
)

DYNAMIC = {
    "http": {
        "routers": {
            "shop": {"rule": "Host(`shop.example.test`)", "service": "shop", "middlewares": ["compress"]},
            "shop-api": {
                "rule": "Host(`shop.example.test`) && PathPrefix(`/api`)",
                "service": "shop",
                "middlewares": ["strip-api"],
            },
            "legacy": {"rule": "Host(`legacy.example.test`)", "service": "legacy-backend"},
        },
        "services": {
            "shop": {"loadBalancer": {"servers": [{"url": "http://10.0.0.11:8000"}, {"url": "http://10.0.0.12:8000"}]}}
        },
        "middlewares": {
            "compress": {"compress": {}},
            "strip-api": {"stripPrefix": {"prefixes": ["/api"]}},
        },
    }
}

ROUTERS = ["legacy@file", "shop-api@file", "shop@file"]
DISABLED_ERROR = 'the service "legacy-backend@file" does not exist'

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--window-size=1280,900",
    "--virtual-time-budget=10000",  # let the page's fetches finish before the DOM is dumped
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]


def chromium_binary() -> str:
    """The Chromium executable; fails (never skips) with how to install it."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(
        "Chromium is required for the dashboard test but was not found on PATH. "
        "Install it with `apt-get install -y chromium` (scripts/sysdeps.sh does it).",
        pytrace=False,
    )


class ApiServer:
    """ApiHandler on 127.0.0.1:<free port>, served by the real HttpProtocol on a loop in a background thread."""

    def __init__(self, handler: ApiHandler) -> None:
        self.handler = handler
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="dashboard-api", daemon=True)

    def _lookup(self, req: Request) -> ApiHandler:
        return self.handler

    def _run(self) -> None:
        loop = self.loop
        asyncio.set_event_loop(loop)
        ctx = ConnectionContext(EntrypointSettings(name="dashboard"), self._lookup, loop)
        server: asyncio.Server | None = None
        try:
            server = loop.run_until_complete(loop.create_server(lambda: HttpProtocol(ctx), "127.0.0.1", 0))
            self.port = int(server.sockets[0].getsockname()[1])
        except BaseException as exc:
            self._error = exc
        self._ready.set()
        if server is None:
            loop.close()
            return
        loop.run_forever()
        server.close()
        ctx.stop()
        loop.run_until_complete(server.wait_closed())
        loop.run_until_complete(asyncio.sleep(0))  # let the closed transports run their callbacks
        loop.close()

    def __enter__(self) -> ApiServer:
        self._thread.start()
        if not self._ready.wait(10) or self._error is not None:
            raise RuntimeError(f"the API server did not start: {self._error!r}")
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

    def url(self, fragment: str) -> str:
        return f"http://127.0.0.1:{self.port}/dashboard/#{fragment}"


class Dom(HTMLParser):
    """The text of a dumped DOM plus a few attributes the assertions need."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.text: list[str] = []
        self.state = ""
        self.names: list[str] = []
        self.ids: set[str] = set()
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.ids.add(str(found["id"]))
        if tag == "main" and found.get("id") == "app":
            self.state = str(found.get("data-state", ""))
        if found.get("data-name"):
            self.names.append(str(found["data-name"]))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    @property
    def all_text(self) -> str:
        return " ".join(" ".join(self.text).split())


def run_chromium(binary: str, profile: Path, url: str, *, screenshot: Path | None = None) -> subprocess.Popen[bytes]:
    args = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}"]
    args.append(f"--screenshot={screenshot}" if screenshot is not None else "--dump-dom")
    args.append(url)
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def finish(proc: subprocess.Popen[bytes], what: str) -> str:
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"chromium did not finish {what} within 60 s")
    assert proc.returncode == 0, f"chromium failed on {what}: {err.decode(errors='replace')[-2000:]}"
    return out.decode("utf-8", errors="replace")


@pytest.fixture(scope="module")
def view() -> Any:
    config, warnings = decode_dynamic(DYNAMIC)
    assert warnings == []
    pools = PoolRegistry()
    result = build_tables({"file": config}, ["web", "dashboard"], ["web"], pools, TransportOptions())
    result.built["shop@file"][1].set_status("http://10.0.0.12:8000", False)  # type: ignore[attr-defined]
    yield RuntimeView(STATIC, {"file": config}, result)
    pools.close()


def test_dashboard_renders_routers_errors_and_overview_in_chromium(view: RuntimeView, tmp_path: Path) -> None:
    binary = chromium_binary()
    shot = tmp_path / "dashboard.png"
    with ApiServer(ApiHandler(lambda: view)) as server:
        # The three pages load in parallel, each in its own throw-away profile.
        runs = {
            "routers": run_chromium(binary, tmp_path / "p1", server.url("/http/routers")),
            "legacy": run_chromium(binary, tmp_path / "p2", server.url("/http/routers/legacy%40file")),
            "shop": run_chromium(binary, tmp_path / "p3", server.url("/http/routers/shop%40file")),
            "overview": run_chromium(binary, tmp_path / "p4", server.url("/"), screenshot=shot),
        }
        pages = {name: finish(proc, name) for name, proc in runs.items()}

    routers = Dom(pages["routers"])
    assert routers.state == "ready", routers.all_text
    assert routers.names == ROUTERS
    assert DISABLED_ERROR in routers.all_text
    assert "disabled" in routers.all_text

    legacy = Dom(pages["legacy"])
    assert legacy.state == "ready", legacy.all_text
    assert "item-errors" in legacy.ids
    assert "legacy@file" in legacy.all_text
    assert DISABLED_ERROR in legacy.all_text

    shop = Dom(pages["shop"])
    assert shop.state == "ready", shop.all_text
    text = shop.all_text
    # rule -> middlewares -> service -> servers, in that order, with the live server status
    order = [
        text.index("Host(`shop.example.test`)"),
        text.index("compress@file"),
        text.index("shop@file loadbalancer"),
        text.index("UP http://10.0.0.11:8000"),
        text.index("DOWN http://10.0.0.12:8000"),
    ]
    assert order == sorted(order), text

    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10_000, "the overview screenshot looks empty"
    DOCS.mkdir(exist_ok=True)
    shutil.copyfile(shot, DOCS / "dashboard.png")
