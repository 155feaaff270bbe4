"""The endpoint ``proxy.static`` block (Lura ``proxy/static.go``): data added to the answer under a strategy.

Strategies decide, from the merge's outcome, whether ``data`` is merged into the answer (its keys win):

* ``always``; ``success`` (no backend failed); ``errored`` (some backend failed);
* ``complete`` (no failure and the answer is complete); ``incomplete`` (no answer, or not complete).

When no backend answered and the strategy matches, the static data alone is the answer: 200 with
``X-Krakend-Completed: false`` (Lura renders a non-nil response even with an error).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import msgspec

from hanzo_edge.gateway.errors import GatewayConfigError, JsonPath

__all__ = ["STRATEGIES", "StaticResponse", "static_matches", "static_of"]

STRATEGIES = frozenset({"always", "success", "complete", "errored", "incomplete"})


class StaticResponse(msgspec.Struct, frozen=True, kw_only=True):
    """A strategy and the data (canonical JSON text, so the service model stays hashable and comparable)."""

    strategy: str
    data: str

    def decoded(self) -> dict[str, Any]:
        """The data as a mapping."""
        value = json.loads(self.data)
        return value if isinstance(value, dict) else {}


def static_of(block: Any, where: JsonPath) -> StaticResponse | None:
    """Read ``proxy.static`` (None when absent). Raises GatewayConfigError for a bad strategy or data."""
    if block is None:
        return None
    if not isinstance(block, Mapping):
        raise GatewayConfigError(where, "want an object {strategy, data}")
    strategy = block.get("strategy", "always")
    if strategy not in STRATEGIES:
        raise GatewayConfigError((*where, "strategy"), f"want one of {sorted(STRATEGIES)}, not {strategy!r}")
    data = block.get("data", {})
    if not isinstance(data, Mapping):
        raise GatewayConfigError((*where, "data"), "want an object")
    return StaticResponse(strategy=strategy, data=json.dumps(data, sort_keys=True))


def static_matches(strategy: str, *, errored: bool, answered: bool, complete: bool) -> bool:
    """Lura's matchers: ``errored`` some backend failed, ``answered`` some data came, ``complete`` it is whole."""
    if strategy == "always":
        return True
    if strategy == "success":
        return not errored
    if strategy == "errored":
        return errored
    if strategy == "complete":
        return not errored and answered and complete
    return not answered or not complete  # incomplete
