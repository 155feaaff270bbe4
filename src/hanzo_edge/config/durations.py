"""Duration values as Traefik accepts them: seconds as a number, or a Go duration string.

Traefik's `types.Duration` (library paerser) reads a bare integer as seconds and anything else with Go's
`time.ParseDuration`. We also accept a float or a numeric string with a fraction (``"1.5"`` = 1.5 s), which Traefik
rejects; nothing valid in Traefik is rejected here.
"""

from __future__ import annotations

import math
import re

from hanzo_edge.config.errors import quote

__all__ = ["format_duration", "parse_duration"]

_UNIT_SECONDS: dict[str, float] = {
    "ns": 1e-9,
    "us": 1e-6,
    "\u00b5s": 1e-6,  # micro sign
    "\u03bcs": 1e-6,  # Greek small letter mu
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}

# One "<number><unit>" element of a Go duration; the number may be "1", "1.", ".5" or "1.5" but not ".".
_ELEMENT = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)")


def _invalid(value: object) -> ValueError:
    return ValueError(f"invalid duration {quote(str(value))}")


def parse_duration(value: str | int | float) -> float:
    """Return the duration `value` in seconds.

    An int, a float or a numeric string is a number of seconds; otherwise `value` must be a Go duration string
    such as ``"1h2m3.5s"``, ``"100ms"``, ``"10us"``, ``"10µs"``, ``"5ns"``, ``"-1s"`` or ``"0"``.

    Raises:
        ValueError: `value` is a bool, not finite, or not a valid duration; the message quotes the value.
    """
    if isinstance(value, bool):
        raise _invalid(value)
    if isinstance(value, int):
        return float(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _invalid(value)
        return value
    if not isinstance(value, str):
        raise _invalid(value)
    text = value.strip()
    if _NUMBER.fullmatch(text):
        return float(text)
    sign = 1.0
    body = text
    if body[:1] in "+-" and body:
        sign = -1.0 if body[0] == "-" else 1.0
        body = body[1:]
    if not body:
        raise _invalid(value)
    total = 0.0
    pos = 0
    while pos < len(body):
        match = _ELEMENT.match(body, pos)
        if match is None:
            raise _invalid(value)
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    return sign * total


def format_duration(seconds: float) -> str:
    """Return `seconds` as a short Go-style duration string (``"0s"``, ``"100ms"``, ``"1m30s"``, ``"2h"``).

    Used for help output and error messages; `parse_duration(format_duration(x))` equals `x` up to float rounding.
    """
    if seconds == 0:
        return "0s"
    sign = "-" if seconds < 0 else ""
    rest = abs(seconds)
    if rest < 1:
        for unit, scale in (("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)):
            if rest >= scale:
                return f"{sign}{_trim(rest / scale)}{unit}"
        return f"{sign}{_trim(rest / 1e-9)}ns"
    hours, rest = divmod(rest, 3600.0)
    minutes, secs = divmod(rest, 60.0)
    parts = []
    if hours:
        parts.append(f"{int(hours)}h")
    if minutes:
        parts.append(f"{int(minutes)}m")
    if secs or not parts:
        parts.append(f"{_trim(secs)}s")
    return sign + "".join(parts)


def _trim(number: float) -> str:
    text = f"{number:.9f}".rstrip("0").rstrip(".")
    return text or "0"
