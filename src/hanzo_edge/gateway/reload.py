"""``gateway run`` watches its ``gateway.json`` and swaps the translated configuration in, dropping no request.

KrakenD must be restarted for a new file (its flexible-config hot reload is a development mode that restarts the
service). Here the file is polled (its mtime, size and inode, every ``interval`` seconds, as the file provider
polls; a ConfigMap's symlink swap changes the inode) and a changed file goes through exactly what ``gateway check``
does (parse, validate, translate, build offline). Then:

* **good**: the new translation replaces the app's and the snapshot goes through the one merge/build/swap path
  (``IngressApp.apply_snapshot``). Connections and requests in flight finish on the generation they started on;
  the next request uses the new table: nothing is refused or reset. Services whose configuration did not change are
  the same objects (the builder memoises them), so rate-limit buckets and breaker states carry over.
* **bad**: every error is logged with its JSON path and line/column, the failed-reload metric counts it, and the
  last good configuration keeps serving. A later good write is applied.

``port`` and ``listen_ip`` cannot move under a listening socket, nor the service's HTTP server and client keys
(``read_timeout``, ``dialer_timeout``, ...: the listener's and the backend transport's, fixed at start): a change is
logged as needing a restart.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping

from hanzo_edge.gateway.document import GatewayDocument
from hanzo_edge.gateway.server import GatewayApp
from hanzo_edge.gateway.service_keys import ServiceKeys, changed_keys
from hanzo_edge.gateway.translate import PROVIDER, Translation

__all__ = ["DEFAULT_INTERVAL", "GatewayReloader", "fingerprint", "with_debug_endpoint"]

log = logging.getLogger("hanzo_edge.gateway")

DEFAULT_INTERVAL = 0.25

Fingerprint = tuple[int, int, int] | None


def with_debug_endpoint(translation: Translation, echo: bool) -> None:
    """``gateway run -d``: serve ``/__debug/`` whatever the file says (``echo`` keeps its ``echo_endpoint``)."""
    from hanzo_edge.gateway.extra_config import NamespaceMiddleware
    from hanzo_edge.middlewares.krakend_debug_echo import KrakendDebugEchoConfig

    options = KrakendDebugEchoConfig(debug=True, echo=echo)
    translation.outer = [m for m in translation.outer if m.kind != "krakendDebugEcho"]
    translation.outer.append(NamespaceMiddleware("debug-echo", "krakendDebugEcho", options))


def fingerprint(path: str) -> Fingerprint:
    """What changes when the file is written or replaced (None when it cannot be read)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class GatewayReloader:
    """Polls one ``gateway.json`` for a :class:`~hanzo_edge.gateway.server.GatewayApp` (see the module docstring)."""

    def __init__(
        self,
        app: GatewayApp,
        path: str,
        env: Mapping[str, str],
        *,
        listen: tuple[str, int],
        interval: float = DEFAULT_INTERVAL,
        debug: bool = False,
        service_keys: ServiceKeys | None = None,
    ) -> None:
        self.app = app
        self.path = path
        self.env = env
        self.listen = listen
        self.interval = interval
        self.debug = debug  # run -d: every version serves /__debug/
        self.service_keys = service_keys if service_keys is not None else ServiceKeys()  # what the process runs with
        self.last = fingerprint(path)
        self.applied = 0
        self.failed = 0

    async def run(self) -> None:
        """Poll until cancelled."""
        while True:
            await asyncio.sleep(self.interval)
            current = fingerprint(self.path)
            if current is None or current == self.last:
                continue
            self.last = current
            # Parsing, checking and the offline build run in a worker thread, so the loop keeps serving meanwhile;
            # only the final build and swap run on the loop.
            try:
                checked = await asyncio.to_thread(self.check)
            except Exception:  # a bug of the checker must not end the watch: the next write is looked at again
                log.exception("checking %s failed, the last good configuration keeps serving", self.path)
                self.failed += 1
                self.app._reload_failed()
                continue
            self.apply(checked)

    def check(self) -> tuple[GatewayDocument, Translation | None, list[str]]:
        """Load and check the file as ``gateway check`` does (no side effect: safe in a worker thread)."""
        from hanzo_edge.commands.gateway_check import check_gateway

        return check_gateway(self.path, self.env)

    def reload(self) -> bool:
        """Load, check and apply the file now. Returns True when the new configuration serves."""
        return self.apply(self.check())

    def apply(self, checked: tuple[GatewayDocument, Translation | None, list[str]]) -> bool:
        """Apply a checked file (on the loop). Returns True when the new configuration serves."""
        doc, translation, errors = checked
        if errors or translation is None or doc.service is None:
            for line in errors or ["the file could not be read"]:
                log.error("reloading %s failed, the last good configuration keeps serving: %s", self.path, line)
            self.failed += 1
            self.app._reload_failed()
            return False
        for warning in translation.warnings:
            located = doc.locate(warning.path)
            log.warning("%s%s", warning, f" ({located})" if located else "")
        for disabled in translation.disabled:
            log.error("endpoint %s (not served)", disabled)
        if (doc.service.listen_ip, doc.service.port) != self.listen and "KRAKEND_PORT" not in self.env:
            log.warning("listen_ip/port changed in %s: it takes a restart; still listening as before", self.path)
        changed = changed_keys(self.service_keys, doc.service.keys)
        if changed:
            log.warning(
                "%s changed in %s: needs a restart; still serving with the values the process started with",
                ", ".join(changed),
                self.path,
            )
        if self.debug:
            with_debug_endpoint(translation, doc.service.echo_endpoint)
        app = self.app
        previous = app.translation
        app.translation = translation
        try:
            if app.snapshots.get(PROVIDER) == translation.configuration:
                app.rebuild()  # same routers and services, other gin options or outer middlewares
            else:
                app.apply_snapshot(PROVIDER, translation.configuration)
        except Exception:
            app.translation = previous
            log.exception("applying %s failed, the last good configuration keeps serving", self.path)
            self.failed += 1
            app._reload_failed()
            return False
        self.applied += 1
        log.info("reloaded %s (%d endpoints)", self.path, len(translation.routes))
        return True
