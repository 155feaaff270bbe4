"""The Docker provider: whole snapshots built from the engine's containers, rebuilt on container events.

Like Traefik's: connect (``/_ping``, ``/version``), list and inspect the containers, yield the snapshot, then
follow ``/events`` (type ``container``) and rebuild on every lifecycle change (start, die, stop, kill, pause,
unpause, destroy, rename, health status). Events that arrive while a rebuild runs are coalesced into one more.

When the engine disappears (the stream breaks, a call fails), the last snapshot keeps serving and the provider
reconnects after a jittered, capped exponential backoff (injected ``clock``/``sleep``/``random``); the first
successful list after a reconnect yields the new snapshot. An engine that cannot be reached at startup yields an
empty snapshot first (so the other providers serve meanwhile), as Traefik retries in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import ssl
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any

from hanzo_edge.config.dynamic import Configuration
from hanzo_edge.providers.docker.build import BuildOptions, BuildResult, build_configuration, parse_container
from hanzo_edge.providers.docker.client import DockerAPIError, DockerClient

__all__ = ["REFRESH_ACTIONS", "Backoff", "DockerProvider"]

logger = logging.getLogger("hanzo_edge.providers.docker")
# Its own logger at WARNING (as config/support.py's): the default level, ERROR, would hide label warnings.
_warnings = logging.getLogger("hanzo_edge.providers.docker.labels")
_warnings.setLevel(logging.WARNING)

REFRESH_ACTIONS = frozenset(
    {"create", "start", "restart", "die", "stop", "kill", "pause", "unpause", "destroy", "rename", "health_status"}
)
"""Container event actions that can change the configuration (``health_status: healthy`` counts by its prefix)."""


class Backoff:
    """Jittered, capped exponential delays: ``initial * factor**n`` up to ``cap``, each scaled by ``1 ± jitter``."""

    def __init__(
        self,
        initial: float = 0.5,
        cap: float = 30.0,
        factor: float = 1.5,
        jitter: float = 0.5,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.initial, self.cap, self.factor, self.jitter = initial, cap, factor, jitter
        self.rand = rand
        self.attempt = 0

    def next_delay(self) -> float:
        """Return the delay before the next attempt and count the attempt."""
        base = min(self.cap, self.initial * self.factor**self.attempt)
        self.attempt += 1
        return base * (1 + self.jitter * (2 * self.rand() - 1))

    def reset(self) -> None:
        """Start again from ``initial`` (after a successful connection)."""
        self.attempt = 0


class DockerProvider:
    """A `Provider` for ``providers.docker`` (see the module docstring)."""

    name = "docker"

    def __init__(
        self,
        client: DockerClient,
        options: BuildOptions,
        *,
        watch: bool = True,
        backoff: Backoff | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_failure: Callable[[], None] | None = None,
    ) -> None:
        self.client = client
        self.options = options
        self.watch_events = watch
        self.backoff = backoff or Backoff()
        self.sleep = sleep
        self._on_failure = on_failure
        self._reported: tuple[str, ...] = ()

    async def snapshot(self) -> Configuration:
        """List and inspect the containers and return the configuration they make (errors logged once each)."""
        listed = await self.client.containers(all_states=True)
        inspected = []
        for entry in listed:
            container_id = entry.get("Id")
            if not isinstance(container_id, str):
                continue
            details = await self.client.inspect(container_id)
            if details is None:
                continue
            container = parse_container(details)
            if container.network_mode.startswith("container:"):
                linked = await self.client.inspect(container.network_mode.removeprefix("container:"))
                if linked is not None:
                    container = dataclasses.replace(container, connected=parse_container(linked))
            inspected.append(container)
        result = build_configuration(inspected, self.options)
        self._report(result)
        return result.config

    def _report(self, result: BuildResult) -> None:
        """Log each error and warning once while it lasts (a rebuild at every event must not repeat them).

        Warnings (an unknown label option, a router without a service) are WARNING, whatever the log level: the
        user wrote something that is not served as written.
        """
        shown = set(self._reported)
        for message in result.errors:
            if message not in shown:
                logger.error("docker provider: %s", message)
        for warning in result.warnings:
            if warning not in shown:
                _warnings.warning("docker provider: %s", warning)
        self._reported = (*result.errors, *result.warnings)

    async def _connect(self) -> None:
        api = await self.client.ping()
        version = await self.client.version()
        logger.info("docker provider: connected to the Docker engine %s (API %s)", version.get("Version", "?"), api)

    def _failed(self, exc: BaseException, delay: float, *, served: bool) -> None:
        keeping = "keeping the last configuration" if served else "nothing from Docker yet"
        logger.error("docker provider: %s; %s, retrying in %.1fs", exc, keeping, delay)
        if self._on_failure is not None:
            self._on_failure()

    async def watch(self) -> AsyncIterator[Configuration]:
        """Yield the containers' snapshot, then every changed one; reconnects forever (see the module docstring)."""
        last: Configuration | None = None
        while True:
            events: AsyncIterator[dict[str, Any]] | None = None
            try:
                await self._connect()
                if self.watch_events:
                    events = self.client.events({"type": ["container"]})
                    await anext(events)  # the stream is open: no change between the list and it is missed
                config = await self.snapshot()
                self.backoff.reset()
                if config != last:
                    last = config
                    yield config
                if not self.watch_events:
                    await asyncio.Event().wait()
                if events is not None:
                    # aclosing: when the consumer closes us, _follow stops its reader before `events` is closed.
                    async with contextlib.aclosing(self._follow(events)) as follow:
                        async for config in follow:
                            if config != last:
                                last = config
                                yield config
                raise DockerAPIError("the events stream ended")
            except DockerAPIError as exc:
                delay = self.backoff.next_delay()
                self._failed(exc, delay, served=last is not None)
                if last is None:
                    last = Configuration()
                    yield last  # nothing from Docker yet; the other providers serve meanwhile
            finally:
                if events is not None and hasattr(events, "aclose"):
                    await events.aclose()
            await self.sleep(delay)

    async def _follow(self, events: AsyncIterator[dict[str, Any]]) -> AsyncGenerator[Configuration, None]:
        """Rebuild after each relevant event, coalescing the events that arrive during a rebuild."""
        dirty = asyncio.Event()
        broken: list[BaseException] = []

        async def read() -> None:
            try:
                async for event in events:
                    action = str(event.get("Action") or event.get("status") or "")
                    if action.split(":", 1)[0] in REFRESH_ACTIONS:
                        dirty.set()
            except DockerAPIError as exc:
                broken.append(exc)
            finally:
                broken.append(DockerAPIError("the events stream ended"))
                dirty.set()

        reader = asyncio.create_task(read())
        try:
            while True:
                await dirty.wait()
                dirty.clear()
                if broken:
                    raise broken[0] if isinstance(broken[0], DockerAPIError) else DockerAPIError(str(broken[0]))
                yield await self.snapshot()
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)


def make_ssl_context(ca: str, cert: str, key: str, insecure_skip_verify: bool) -> ssl.SSLContext:
    """Return the client TLS context of ``providers.docker.tls`` (system CAs when ``ca`` is empty)."""
    context = ssl.create_default_context(cafile=ca or None)
    if insecure_skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cert or key:
        context.load_cert_chain(cert, key or None)
    return context
