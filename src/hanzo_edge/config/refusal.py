"""A provider's refusal of one router, carried into the ordinary build (``middlewares/provider_refusal.py``).

Traefik drops a route a provider cannot serve (a Middleware in a forbidden namespace, a missing TLS Secret) with
only a log line. A provider that wants the reason in ``/api`` instead puts an ``ExtensionMiddleware`` of kind
:data:`KIND` holding a :class:`ProviderRefusal` in front of the router's chain: the build cannot make it, so the
router is disabled with the reason while every other router keeps serving. The model lives here, below both the
providers that make it and the middleware that refuses it.

TCP and UDP routers have no middleware that could carry a reason (UDP routers have none at all), so a provider keeps
a refused IngressRouteTCP/UDP route as a :class:`RefusedTCPRouter`/:class:`RefusedUDPRouter` (made by code, never
decoded from a file): the layer-4 build disables it with its ``refusals`` as errors (:func:`refusals_of`).
"""

from __future__ import annotations

import msgspec

from hanzo_edge.config.tcp import TCPRouter, UDPRouter

__all__ = ["KIND", "ProviderRefusal", "RefusedTCPRouter", "RefusedUDPRouter", "refusals_of"]

KIND = "providerRefusal"


class ProviderRefusal(msgspec.Struct, frozen=True, kw_only=True):
    """Why a provider cannot serve a router, in the provider's words."""

    reason: str


class RefusedTCPRouter(TCPRouter, frozen=True, kw_only=True):
    """A TCP router its provider could not serve; ``refusals`` say why, in the provider's words."""

    refusals: tuple[str, ...] = ()


class RefusedUDPRouter(UDPRouter, frozen=True, kw_only=True):
    """A UDP router its provider could not serve; ``refusals`` say why, in the provider's words."""

    refusals: tuple[str, ...] = ()


def refusals_of(router: TCPRouter | UDPRouter) -> tuple[str, ...]:
    """Return why a provider refused ``router`` (empty for a router it did not refuse)."""
    if isinstance(router, (RefusedTCPRouter, RefusedUDPRouter)):
        return router.refusals
    return ()
