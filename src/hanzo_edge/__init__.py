"""Hanzo Edge: a Traefik-compatible ingress and a KrakenD-compatible API gateway on one asyncio data plane."""

__version__ = "0.1.0"
