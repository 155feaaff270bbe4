"""The provider contract: a source of whole dynamic-configuration snapshots, and how one is made from the static
configuration (see :mod:`hanzo_edge.providers.factory`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol

from hanzo_edge.config.dynamic import Configuration
from hanzo_edge.config.static import StaticConfig

__all__ = ["Provider", "ProviderFactory", "ProviderHooks"]


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


@dataclass(frozen=True, slots=True)
class ProviderHooks:
    """What the application lends every provider it starts.

    ``on_failure`` is called once for every load that fails (the failed-reload metric), after the provider logged
    why.
    """

    on_failure: Callable[[], None] | None = None
    compile_regexp: Callable[[str], Callable[[str], bool]] | None = None
    """The proxy's regexp engine (RE2 with Go's syntax: ``pattern -> is_match``, ValueError when invalid) for the
    regexps a provider reads from its configuration, e.g. Docker's ``LabelRegex``; providers sit below ``rules`` in
    the layering, so the application lends it."""


ProviderFactory = Callable[[StaticConfig, ProviderHooks], Provider | None]
"""Make a provider from the static configuration, or return None when the configuration does not enable it."""
