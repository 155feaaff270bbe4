"""``providerRefusal``: the middleware that never builds, so its router is disabled with a provider's reason.

See ``config/refusal.py``. Registered like every kind; its factory refuses with the reason, which the build records
on the router (``middleware "<name>": <reason>``) and on this middleware.
"""

from __future__ import annotations

from hanzo_edge.config.refusal import KIND, ProviderRefusal
from hanzo_edge.http.messages import Handler
from hanzo_edge.middlewares.base import BuildContext, register

__all__ = ["refuse"]


@register(KIND, ProviderRefusal)
def refuse(next: Handler, config: ProviderRefusal, /, *, name: str, ctx: BuildContext) -> Handler:
    """Never builds: the router using it is disabled with ``config.reason``."""
    raise ValueError(config.reason)
