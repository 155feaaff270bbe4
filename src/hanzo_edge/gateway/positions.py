"""Where each value of a JSON document is: JSON path → (line, column), both 1-based.

The stdlib parser validates and decodes (and reports a syntax error's line and column); this scanner runs over text
the stdlib already accepted, only to remember where every value starts, so ``gateway check`` can point at the line
of a bad ``host`` or an undefined ``{param}``. Written here because no JSON library for Python keeps positions for
every value; it is a single linear pass with no recursion limit (an explicit stack).
"""

from __future__ import annotations

import bisect
import json
import re

from hanzo_edge.gateway.errors import JsonPath

__all__ = ["Positions", "locate_values"]

_WS = re.compile(r"[ \t\n\r]*")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_SCALAR = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null|NaN|-?Infinity")


class Positions:
    """Positions of the values of one document, by JSON path."""

    __slots__ = ("_lines", "_offsets")

    def __init__(self, text: str, offsets: dict[JsonPath, int]) -> None:
        self._offsets = offsets
        self._lines = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]

    def of(self, path: JsonPath) -> tuple[int, int] | None:
        """Return ``(line, column)`` of the value at ``path``, or of its nearest located ancestor; None if none."""
        probe = path
        while True:
            offset = self._offsets.get(probe)
            if offset is not None:
                line = bisect.bisect_right(self._lines, offset)
                return line, offset - self._lines[line - 1] + 1
            if not probe:
                return None
            probe = probe[:-1]


def locate_values(text: str) -> Positions:
    """Scan ``text`` (valid JSON) and return where each value starts. Raises ValueError on text that is not JSON."""
    offsets: dict[JsonPath, int] = {}
    # Stack frames: (path of the container, is_object, next index for arrays).
    stack: list[tuple[JsonPath, bool, list[int]]] = []
    pos = _WS.match(text, 0).end()  # type: ignore[union-attr]
    path: JsonPath = ()
    n = len(text)
    expect_value = True
    while pos < n:
        if expect_value:
            offsets[path] = pos
            ch = text[pos]
            if ch == "{":
                stack.append((path, True, [0]))
                pos = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]
                if pos < n and text[pos] == "}":
                    stack.pop()
                    pos += 1
                    expect_value = False
                    continue
                path, pos = _member_key(text, pos, stack[-1][0])
                continue
            if ch == "[":
                stack.append((path, False, [0]))
                pos = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]
                if pos < n and text[pos] == "]":
                    stack.pop()
                    pos += 1
                    expect_value = False
                    continue
                path = (*path, 0)
                continue
            token = _STRING.match(text, pos) if ch == '"' else _SCALAR.match(text, pos)
            if token is None:
                raise ValueError(f"unexpected character at offset {pos}")
            pos = token.end()
            expect_value = False
            continue
        pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
        if pos >= n:
            break
        if not stack:
            raise ValueError(f"extra data at offset {pos}")
        container, is_object, counter = stack[-1]
        ch = text[pos]
        if ch == ",":
            pos = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]
            if is_object:
                path, pos = _member_key(text, pos, container)
            else:
                counter[0] += 1
                path = (*container, counter[0])
            expect_value = True
            continue
        if ch in "}]":
            stack.pop()
            path = container
            pos += 1
            continue
        raise ValueError(f"unexpected character at offset {pos}")
    return Positions(text, offsets)


def _member_key(text: str, pos: int, container: JsonPath) -> tuple[JsonPath, int]:
    token = _STRING.match(text, pos)
    if token is None:
        raise ValueError(f"expected a member name at offset {pos}")
    key = json.loads(token.group())
    colon = _WS.match(text, token.end()).end()  # type: ignore[union-attr]
    if colon >= len(text) or text[colon] != ":":
        raise ValueError(f"expected ':' at offset {colon}")
    return (*container, key), _WS.match(text, colon + 1).end()  # type: ignore[union-attr]
