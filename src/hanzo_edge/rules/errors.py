"""The one exception type of the rules package, and Go-style quoting for its messages."""

from __future__ import annotations

from hanzo_edge.goquote import go_quote

__all__ = ["RuleError", "go_list", "go_quote"]


class RuleError(ValueError):
    """A router rule that cannot be parsed or compiled.

    ``str(err)`` is the message alone (Traefik's wording where Traefik has one, e.g.
    ``unexpected number of parameters; got 2, expected one of [1]``). ``position`` is the 0-based character offset
    in the rule text that the error concerns, when known (syntax errors). ``matcher`` is the canonical name of the
    matcher whose arguments were refused, when the error comes from compiling one (Traefik's wrapper reads
    ``error while adding rule <matcher>: <message>``).
    """

    def __init__(self, message: str, position: int | None = None, *, matcher: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.position = position
        self.matcher = matcher

    def __str__(self) -> str:
        return self.message


def go_list(values: tuple[str, ...] | list[str]) -> str:
    """Return ``values`` formatted like Go's ``%v`` of a ``[]string``: ``[a b]`` (an empty string leaves a gap)."""
    return "[" + " ".join(values) + "]"
