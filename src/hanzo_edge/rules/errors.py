"""The one exception type of the rules package, and Go-style quoting for its messages."""

from __future__ import annotations

__all__ = ["RuleError", "go_list", "go_quote"]

_NAMED_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
    '"': '\\"',
}


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


def go_quote(text: str) -> str:
    """Return ``text`` as a Go double-quoted string literal (what Go's ``%q``/``strconv.Quote`` prints).

    Printable characters are kept as they are; ``"`` and ``\\`` are escaped; control and other non-printable
    characters use ``\\n``-style, ``\\xHH`` (ASCII only), ``\\uHHHH`` or ``\\UHHHHHHHH`` escapes. The result
    always parses back (Go's ``strconv.Unquote``, and :func:`hanzo_edge.rules.parse_rule`) to ``text``.
    """
    out = ['"']
    for ch in text:
        named = _NAMED_ESCAPES.get(ch)
        if named is not None:
            out.append(named)
        elif ch.isprintable():
            out.append(ch)
        else:
            code = ord(ch)
            if code < 0x20 or code == 0x7F:
                out.append(f"\\x{code:02x}")
            elif code < 0x10000:
                out.append(f"\\u{code:04x}")
            else:
                out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def go_list(values: tuple[str, ...] | list[str]) -> str:
    """Return ``values`` formatted like Go's ``%v`` of a ``[]string``: ``[a b]`` (an empty string leaves a gap)."""
    return "[" + " ".join(values) + "]"
