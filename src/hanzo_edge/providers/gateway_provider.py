"""The ``gateway`` provider: a KrakenD ``gateway.json`` served by ``ingress`` beside its other providers.

``ingress --providers.gateway.filename=gateway.json`` translates the file exactly as ``gateway run`` does
(:mod:`hanzo_edge.gateway.translate`: the same merge services, namespace middlewares, errors and warnings), turns
it into an ingress process's routers (:mod:`hanzo_edge.gateway.ingress_mode`) and yields them as this provider's
snapshot, so it goes through the one merge stage and builder with the file, Docker
and Kubernetes providers' routers: one process, one hop. What changes from ``gateway run``:

* each endpoint's router is named ``<METHOD>-<endpoint path>`` (``GET-/v1/users/{id}@gateway`` in ``/api``), on
  ``providers.gateway.entryPoints`` (default: the entrypoints a router without ``entryPoints`` gets, every
  non-internal one), with the rule ``(<providers.gateway.rule>) && <the endpoint's path and method>``;
* priorities are negative: every gateway router comes after every Traefik router (whose priorities are positive),
  and among themselves gin's precedence holds (a literal segment before a ``{param}``), so ``/user/new`` beats
  ``/user/{id}``;
* the file's ``port`` and ``listen_ip`` are ignored (the entrypoints listen); gin's own answers (the KrakenD 404/405
  bodies, trailing-slash redirects, ``/__health``) are not made: a request no router matches gets ingress's 404;
* ``security/cors`` (which wraps the whole router in ``gateway run``) wraps each endpoint's router;
* the file is polled (every 0.2 s, as the file provider) and a changed file is translated in a worker thread; a file
  with errors is logged with its locations and the last good snapshot keeps serving (at startup: nothing is served
  from it until it loads).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping

from hanzo_edge.config.dynamic import Configuration
from hanzo_edge.config.static import StaticConfig
from hanzo_edge.gateway.ingress_mode import DEFAULT_RULE, hanzo_enabled, ingress_snapshot
from hanzo_edge.gateway.reload import fingerprint
from hanzo_edge.gateway.service_keys import ServiceKeys
from hanzo_edge.providers.base import ProviderHooks

__all__ = ["GatewayProvider", "from_static"]

log = logging.getLogger("hanzo_edge.providers.gateway")


class GatewayProvider:
    """A :class:`~hanzo_edge.providers.base.Provider` for ``providers.gateway``."""

    name = "gateway"

    def __init__(
        self,
        filename: str,
        entry_points: tuple[str, ...] = (),
        rule: str = DEFAULT_RULE,
        *,
        env: Mapping[str, str] | None = None,
        poll_interval: float = 0.2,
        on_failure: Callable[[], None] | None = None,
    ) -> None:
        self.filename = filename
        self.entry_points = entry_points
        self.rule = rule
        self.env = dict(os.environ if env is None else env)
        self.poll_interval = poll_interval
        self.on_failure = on_failure

    def read(self) -> tuple[Configuration | None, list[str]]:
        """Translate the file: the snapshot, or None and ``gateway check``'s error lines. Warnings are logged."""
        from hanzo_edge.commands.gateway_check import check_gateway

        doc, translation, errors = check_gateway(self.filename, self.env)
        if errors or translation is None:
            return None, errors or ["the file could not be read"]
        for warning in translation.warnings:
            located = doc.locate(warning.path)
            log.warning("gateway provider: %s%s", warning, f" ({located})" if located else "")
        for disabled in translation.disabled:
            log.error("gateway provider: endpoint %s (not served)", disabled)
        if translation.static_args or translation.log_prefix:
            log.warning(
                "gateway provider: the telemetry/* namespaces of %s are not applied under ingress (its own --log, "
                "--metrics and --tracing options are)",
                self.filename,
            )
        if doc.service is not None and doc.service.keys != ServiceKeys():
            # Under ingress the gateway's endpoints ride ingress's own entrypoints and serversTransport.
            set_keys = [f for f in ServiceKeys.__struct_fields__ if getattr(doc.service.keys, f) not in (None, False)]
            log.warning(
                "gateway provider: the service keys %s of %s are not applied under ingress (its entrypoint and "
                "serversTransport options are)",
                ", ".join(set_keys),
                self.filename,
            )
        hanzo = hanzo_enabled(self.env)
        host_table = False
        if hanzo:
            from hanzo_edge.gateway.hanzo.settings import HanzoSettings, SettingsError

            try:
                host_table = bool(HanzoSettings.from_env(self.env).routes_file)
            except SettingsError as exc:
                log.error("gateway provider: Hanzo settings: %s", exc)
        return ingress_snapshot(translation, self.entry_points, self.rule, hanzo=hanzo, host_table=host_table), []

    def load(self) -> Configuration | None:
        """Translate the file; None (errors logged) when it has errors. Safe in a worker thread."""
        try:
            snapshot, errors = self.read()
        except Exception:  # a bug of the checker must not end the watch: the last good snapshot keeps serving
            log.exception("gateway provider: reading %s failed", self.filename)
            snapshot, errors = None, []
        if snapshot is None:
            for line in errors:
                log.error("gateway provider: %s: %s", self.filename, line)
            if self.on_failure is not None:
                self.on_failure()
        return snapshot

    async def watch(self) -> AsyncIterator[Configuration]:
        """Yield the file's snapshot (an empty one while it does not load), then each changed good one."""
        stamp = fingerprint(self.filename)
        last = await asyncio.to_thread(self.load)
        yield last if last is not None else Configuration()
        while True:
            await asyncio.sleep(self.poll_interval)
            current = fingerprint(self.filename)
            if current == stamp:
                continue
            stamp = current
            snapshot = await asyncio.to_thread(self.load)
            if snapshot is None or snapshot == last:
                continue
            last = snapshot
            yield snapshot


def from_static(static: StaticConfig, hooks: ProviderHooks) -> GatewayProvider | None:
    """The provider ``providers.gateway`` asks for (None when it names no file)."""
    config = static.providers.gateway
    if config is None or not config.filename:
        return None
    return GatewayProvider(config.filename, tuple(config.entry_points), config.rule, on_failure=hooks.on_failure)
