"""Go's ``strconv.Quote`` (what ``%q`` prints), shared by the rule errors, the Go templates and the Ingress rules.

A leaf module of its own: ``rules``, ``config`` and ``providers`` may not import one another's packages (the
layering of ENGINEERING.md §2), and all three print Go-quoted strings that must agree to the byte.
"""

from __future__ import annotations

__all__ = ["go_quote"]

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
