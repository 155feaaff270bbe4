"""``ingress healthcheck``: Traefik's ``traefik healthcheck``, for container ``HEALTHCHECK``s and exec probes.

It loads the static configuration exactly as ``ingress`` does (flags, environment or file, Traefik's implicit
``traefik`` entrypoint included), finds ``ping.entryPoint`` and sends ``HEAD /ping`` to that entrypoint's address,
as Traefik's command does, with Traefik's 5 s client timeout. The messages are Traefik's, on stdout:

* ``OK: http://127.0.0.1:9100/ping`` on a 200 (outcome :attr:`Outcome.HEALTHY`, exit 0);
* ``Bad healthcheck status: 503 Service Unavailable`` on any other status, e.g. while the instance drains;
* ``Error calling healthcheck: <error>`` when ping is off, its entrypoint does not exist, or the request fails.

An address without a host (``:9100``) or with a wildcard one (``0.0.0.0``, ``::``) is asked on the loopback address
of its family, and that address is what the ``OK`` line shows (Traefik prints ``http://:9100/ping``).

``ping.manualRouting`` changes nothing here, as in Traefik: the command asks ``/ping`` on ``ping.entryPoint``, so a
manually routed ping must be reachable there. With manual routing and the default entrypoint ``traefik``, that
entrypoint is not created implicitly and the command says ``ping: missing traefik entry point``.
"""

from __future__ import annotations

import http.client
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hanzo_edge.commands import CommandResult, Outcome
from hanzo_edge.config.errors import ConfigError
from hanzo_edge.config.loader import load_static
from hanzo_edge.config.static import StaticConfig, parse_address

__all__ = ["TIMEOUT", "USAGE", "PingTarget", "ping_target", "run_healthcheck"]

TIMEOUT = 5.0
"""Traefik's ``http.Client{Timeout: 5 * time.Second}``: for the whole exchange."""

USAGE = """\
usage: ingress healthcheck [--configFile=FILE | static options...]

Call the /ping endpoint of ping.entryPoint (ping must be enabled, e.g. --ping) to check the health of a running
ingress. Prints "OK: <url>" and exits 0 on a 200; otherwise prints the error and exits 1."""

_WILDCARDS = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}


class HealthcheckError(Exception):
    """Why no response came back (Traefik's error text, printed after ``Error calling healthcheck:``)."""


@dataclass(frozen=True, slots=True)
class PingTarget:
    """Where the healthcheck asks: the ping entrypoint's address, wildcards replaced by loopback."""

    host: str
    port: int

    @property
    def hostport(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.hostport}/ping"


def ping_target(static: StaticConfig) -> PingTarget:
    """Return where ``/ping`` is served according to ``static``.

    Raises:
        HealthcheckError: ping is not enabled, or its entrypoint does not exist or is not a TCP address.
    """
    if static.ping is None:
        raise HealthcheckError("please enable `ping` to use health check")
    name = static.ping.entry_point or "traefik"
    entry_point = static.entry_points.get(name)
    if entry_point is None:
        raise HealthcheckError(f"ping: missing {name} entry point")
    try:
        host, port, protocol = parse_address(entry_point.address)
    except ConfigError as exc:
        raise HealthcheckError(f"ping: entry point {name}: {exc.message}") from None
    if protocol != "tcp":
        raise HealthcheckError(f"ping: entry point {name} is not a TCP entry point")
    return PingTarget(_WILDCARDS.get(host, host), port)


def _error_text(exc: OSError) -> str:
    return (exc.strerror or str(exc) or type(exc).__name__).lower()


def request_ping(target: PingTarget, timeout: float = TIMEOUT) -> tuple[int, str]:
    """Send ``HEAD /ping`` to ``target``; return the status code and reason phrase.

    Raises:
        HealthcheckError: no response within ``timeout`` (Go's texts: ``Head "<url>": dial tcp ...``).
    """
    prefix = f'Head "{target.url}": '
    deadline = time.monotonic() + timeout
    conn = http.client.HTTPConnection(target.host, target.port, timeout=timeout)
    try:
        try:
            conn.connect()
        except TimeoutError:
            raise HealthcheckError(f"{prefix}dial tcp {target.hostport}: i/o timeout") from None
        except OSError as exc:
            raise HealthcheckError(f"{prefix}dial tcp {target.hostport}: connect: {_error_text(exc)}") from None
        if conn.sock is not None:
            conn.sock.settimeout(max(0.001, deadline - time.monotonic()))
        try:
            conn.request("HEAD", "/ping", headers={"User-Agent": "Go-http-client/1.1"})
            resp = conn.getresponse()
            resp.close()
        except TimeoutError:
            message = "context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
            raise HealthcheckError(prefix + message) from None
        except (http.client.RemoteDisconnected, http.client.IncompleteRead):
            raise HealthcheckError(prefix + "EOF") from None
        except http.client.HTTPException as exc:
            raise HealthcheckError(f"{prefix}malformed HTTP response {str(exc)!r}") from None
        except OSError as exc:
            raise HealthcheckError(f"{prefix}read tcp {target.hostport}: {_error_text(exc)}") from None
        return resp.status, resp.reason
    finally:
        conn.close()


def run_healthcheck(args: Sequence[str], env: Mapping[str, str], *, timeout: float = TIMEOUT) -> CommandResult:
    """Run ``ingress healthcheck`` with ``args`` (static options) and ``env``."""
    if any(a in ("-h", "--help", "help") for a in args):
        return CommandResult(Outcome.CLEAN, stdout=USAGE.splitlines())
    try:
        static = load_static(list(args), env)
    except ConfigError as exc:
        return CommandResult(Outcome.UNHEALTHY, stderr=[f"ingress healthcheck: {exc}"])
    try:
        target = ping_target(static)
        status, reason = request_ping(target, timeout)
    except HealthcheckError as exc:
        return CommandResult(Outcome.UNHEALTHY, stdout=[f"Error calling healthcheck: {exc}"])
    if status != 200:
        return CommandResult(Outcome.UNHEALTHY, stdout=[f"Bad healthcheck status: {status} {reason}".rstrip()])
    return CommandResult(Outcome.HEALTHY, stdout=[f"OK: {target.url}"])
