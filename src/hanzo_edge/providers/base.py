"""The provider contract: a source of whole dynamic-configuration snapshots."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from hanzo_edge.config.dynamic import Configuration

__all__ = ["Provider"]


class Provider(Protocol):
    """A source of dynamic configuration (Traefik's provider), e.g. ``file`` or ``kubernetescrd``.

    `name` qualifies the objects it defines (router ``r`` of provider ``file`` is ``r@file``).
    """

    name: str

    def watch(self) -> AsyncIterator[Configuration]:
        """Return an async iterator of whole snapshots (never diffs).

        It yields once at start and then whenever the configuration changes; retries and backoff happen inside.
        Cancellation (or ``aclose()``) is the only way it ends. It may raise `ConfigError` before the first
        snapshot when the initial configuration is unusable.
        """
        ...
