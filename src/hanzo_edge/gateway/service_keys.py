"""KrakenD's service-level HTTP server and client keys, mapped onto the gateway's entrypoint and backend transport.

Lura builds KrakenD's ``http.Server`` from ``read_timeout``, ``write_timeout``, ``idle_timeout``,
``read_header_timeout`` and ``max_header_bytes``, and the ``http.Transport``/``net.Dialer`` every backend call uses
from the client keys (``transport/http/server.InitHTTPDefaultTransport``). Here:

* the server keys become static flags of the ``gateway`` entrypoint (``respondingTimeouts``, ``http.maxHeaderBytes``)
  and ``max_shutdown_wait_time`` the ``lifeCycle.graceTimeOut`` of every entrypoint of the process;
* the client keys become the static default ``serversTransport``, which is the transport of every gateway backend
  (``merge_service.py`` asks for ``ctx.transport("")``); the two Traefik's static transport has no flag for,
  ``dialer_keep_alive`` and ``disable_compression``, are set on the gateway app's default transport by
  :meth:`ServiceKeys.backend_transport`.

Go's zero values are read as Go reads them: a ``0`` timeout is no timeout, ``idle_timeout`` 0 falls back to the
read timeout, ``max_header_bytes`` 0 is Go's 1 MB (and Go answers 431 only 4096 bytes past the value),
``max_idle_connections_per_host`` 0 is Lura's 250. A key that is not set keeps our default (see docs/compat.md:
the slow-client bounds stay on). Keys with no counterpart here are named in a warning by the document reader
(:data:`WARNED_KEYS`). All of these are listener- or process-level: a reload that changes one logs that it needs a
restart (:func:`changed_keys`).
"""

from __future__ import annotations

import dataclasses
import math

import msgspec

from hanzo_edge.config.static import RespondingTimeouts
from hanzo_edge.http.pool import GO_KEEP_ALIVE_DEFAULT, TransportOptions

__all__ = [
    "GO_DEFAULT_MAX_HEADER_BYTES",
    "GO_HEADER_SLOP",
    "LURA_DEFAULT_MAX_IDLE_CONNS_PER_HOST",
    "WARNED_KEYS",
    "ServiceKeys",
    "changed_keys",
    "go_duration",
    "static_flags",
]

GO_DEFAULT_MAX_HEADER_BYTES = 1 << 20  # net/http DefaultMaxHeaderBytes: what max_header_bytes 0 means
# net/http reads a request head through a reader limited to MaxHeaderBytes + 4096 ("bufio slop",
# Server.initialReadLimitSize) and answers 431 only past that; our http.maxHeaderBytes is the exact bound.
GO_HEADER_SLOP = 4096
LURA_DEFAULT_MAX_IDLE_CONNS_PER_HOST = 250  # lura config: what an unset (or 0) max_idle_connections_per_host means

# Keys KrakenD reads that have no counterpart in our runtime, and why: a warning names each one set to a value other
# than Go's zero value (for a zero value we behave as Go does).
WARNED_KEYS: dict[str, str] = {
    "read_header_timeout": "there is no separate timer for the request head: read_timeout (60s unless set) bounds "
    "the head and the body together",
    "max_idle_connections": "there is no total cap on idle backend connections: only max_idle_connections_per_host "
    "applies",
    "expect_continue_timeout": "requests are sent to backends without 'Expect: 100-continue', body included",
    "dialer_fallback_delay": "backend addresses are dialled in order, without Happy Eyeballs fallback",
}


class ServiceKeys(msgspec.Struct, frozen=True, kw_only=True):
    """The honoured keys as the file sets them: None (or False) where the file does not."""

    read_timeout: float | None = None
    write_timeout: float | None = None
    idle_timeout: float | None = None
    max_header_bytes: int | None = None
    max_shutdown_wait_time: float | None = None
    max_idle_connections_per_host: int | None = None
    idle_connection_timeout: float | None = None
    response_header_timeout: float | None = None
    dialer_timeout: float | None = None
    disable_keep_alives: bool = False
    allow_insecure_connections: bool = False
    dialer_keep_alive: float | None = None  # negative: Go's "no keep-alive probes"
    disable_compression: bool = False

    def shutdown_grace(self) -> float | None:
        """``graceTimeOut`` for every entrypoint: ``max_shutdown_wait_time`` when positive, else None (our drain,
        10s: a 0 or missing value is not read as "wait forever", which would let one stuck request block a
        rollout)."""
        wait = self.max_shutdown_wait_time
        return wait if wait is not None and wait > 0 else None

    def backend_transport(self, base: TransportOptions) -> TransportOptions:
        """``base`` (the default transport the static flags made) with the keys Traefik's static transport has no
        flag for. Lura's dialer has ``KeepAlive: dialer_keep_alive``, which Go reads as probes after 15 s when it is
        0 or unset, none when negative; ``disable_compression`` stops the backend calls asking for gzip."""
        keep_alive = self.dialer_keep_alive or 0.0
        return dataclasses.replace(
            base,
            dial_keep_alive=-1.0 if keep_alive < 0 else keep_alive,
            disable_compression=self.disable_compression,
        )


def go_duration(seconds: float) -> str:
    """``seconds`` as a duration string the static flags parse (``0.3s``, ``90s``, ``0.00001s``): nanosecond
    precision, Go's, and never an exponent (``repr`` writes 10us as ``1e-05``, which no duration parser reads)."""
    if seconds == int(seconds):
        return f"{int(seconds)}s"
    return f"{seconds:.9f}".rstrip("0").rstrip(".") + "s"


def static_flags(keys: ServiceKeys, entry_point: str) -> list[str]:
    """The static flags of ``keys`` for the entrypoint ``entry_point`` and the default servers transport (the grace
    period is not among them: it goes to every entrypoint, :meth:`ServiceKeys.shutdown_grace`)."""
    timeouts = f"--entrypoints.{entry_point}.transport.respondingTimeouts"
    flags: list[str] = []
    if keys.read_timeout is not None:
        flags.append(f"{timeouts}.readTimeout={go_duration(keys.read_timeout)}")
    if keys.write_timeout is not None:
        flags.append(f"{timeouts}.writeTimeout={go_duration(keys.write_timeout)}")
    idle = _idle_timeout(keys)
    if idle is not None:
        flags.append(f"{timeouts}.idleTimeout={go_duration(idle)}")
    if keys.max_header_bytes is not None:
        # A head KrakenD accepts must not get our 431: Go's bound is the value plus its slop.
        limit = (keys.max_header_bytes or GO_DEFAULT_MAX_HEADER_BYTES) + GO_HEADER_SLOP
        flags.append(f"--entrypoints.{entry_point}.http.maxHeaderBytes={limit}")
    # Always: Lura's own default (250) differs from ours (200), and a gateway must pool as KrakenD does.
    per_host = keys.max_idle_connections_per_host or LURA_DEFAULT_MAX_IDLE_CONNS_PER_HOST
    if keys.disable_keep_alives or per_host < 0:
        per_host = -1  # Go's Transport keeps no idle connection: every backend request dials anew
    flags.append(f"--serversTransport.maxIdleConnsPerHost={per_host}")
    forwarding = "--serversTransport.forwardingTimeouts"
    if keys.dialer_timeout is not None:
        flags.append(f"{forwarding}.dialTimeout={go_duration(keys.dialer_timeout)}")
    if keys.response_header_timeout is not None:
        flags.append(f"{forwarding}.responseHeaderTimeout={go_duration(keys.response_header_timeout)}")
    if keys.idle_connection_timeout is not None:
        flags.append(f"{forwarding}.idleConnTimeout={go_duration(keys.idle_connection_timeout)}")
    if keys.allow_insecure_connections:
        flags.append("--serversTransport.insecureSkipVerify=true")
    return flags


def _idle_timeout(keys: ServiceKeys) -> float | None:
    """Go's ``http.Server``: an IdleTimeout of 0 means the ReadTimeout (both 0: none). None: keep our default."""
    if keys.idle_timeout:
        return keys.idle_timeout
    if keys.idle_timeout is None and keys.read_timeout is None:
        return None
    # idle_timeout unset or 0: the read timeout in effect, the file's or our default.
    return keys.read_timeout if keys.read_timeout is not None else float(RespondingTimeouts().read_timeout)


def _probe_idle(keep_alive: float | None) -> int:
    """What Go's dialer makes of ``KeepAlive``: whole seconds before the first probe (unset and 0: 15 s), -1: none."""
    if keep_alive is not None and keep_alive < 0:
        return -1
    return math.ceil(keep_alive) if keep_alive else GO_KEEP_ALIVE_DEFAULT


def changed_keys(running: ServiceKeys, new: ServiceKeys) -> list[str]:
    """The keys whose value differs between the running configuration and a reloaded one (in declaration order);
    ``dialer_keep_alive`` by the probes it makes, so "0s" for unset is no change to restart for."""
    changed = []
    for name in running.__struct_fields__:
        was, now = getattr(running, name), getattr(new, name)
        if name == "dialer_keep_alive":
            was, now = _probe_idle(was), _probe_idle(now)
        if was != now:
            changed.append(name)
    return changed
