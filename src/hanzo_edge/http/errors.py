"""The upstream error tree and its one status mapping (Traefik's ``ComputeStatusCode``).

::

    UpstreamError                     → 502 Bad Gateway
    ├── ConnectError                  → 502 (refused, unreachable, DNS)
    ├── UpstreamTimeout               → 504 Gateway Timeout (dial or response-header timeout)
    │   └── DialTimeout               → 504 (the connection was never made: nothing was sent)
    ├── UpstreamProtocolError         → 502 (malformed response, reset before the head)
    └── ClientClosed                  → 499 Client Closed Request (the downstream went away first)
    NoAvailableServer                 → 503 ``no available server``

Third-party and OS exceptions are translated into this tree at the I/O edge only.
"""

from __future__ import annotations

__all__ = [
    "ClientClosed",
    "ConnectError",
    "DialTimeout",
    "NoAvailableServer",
    "UpstreamError",
    "UpstreamProtocolError",
    "UpstreamTimeout",
]


class UpstreamError(Exception):
    """The backend could not produce a response head. ``status`` is what the client gets."""

    status = 502


class ConnectError(UpstreamError):
    """The TCP connection to the backend could not be made."""


class UpstreamTimeout(UpstreamError):
    """Dialling or waiting for the response head took longer than the transport allows."""

    status = 504


class DialTimeout(UpstreamTimeout):
    """Dialling the backend timed out: no byte of the request was sent (safe to retry)."""


class UpstreamProtocolError(UpstreamError):
    """The backend answered with something that is not a valid HTTP/1.1 response, or closed early."""


class ClientClosed(UpstreamError):
    """The downstream client disconnected before the response head arrived."""

    status = 499


class NoAvailableServer(Exception):
    """A load balancer has no healthy server to pick (answered ``503 no available server``)."""
