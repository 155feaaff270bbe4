"""A provider's refusal of one router, carried into the ordinary build (``middlewares/provider_refusal.py``).

Traefik drops a route a provider cannot serve (a Middleware in a forbidden namespace, a missing TLS Secret) with
only a log line. A provider that wants the reason in ``/api`` instead puts an ``ExtensionMiddleware`` of kind
:data:`KIND` holding a :class:`ProviderRefusal` in front of the router's chain: the build cannot make it, so the
router is disabled with the reason while every other router keeps serving. The model lives here, below both the
providers that make it and the middleware that refuses it.
"""

from __future__ import annotations

import msgspec

__all__ = ["KIND", "ProviderRefusal"]

KIND = "providerRefusal"


class ProviderRefusal(msgspec.Struct, frozen=True, kw_only=True):
    """Why a provider cannot serve a router, in the provider's words."""

    reason: str
