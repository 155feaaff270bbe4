"""Reading one namespace block: typed getters that raise ``GatewayConfigError`` at the key's JSON path.

KrakenD reads these blocks with Go's ``encoding/json`` into typed structs, so a value of the wrong JSON type is an
error there too (or silently zero, which we refuse rather than guess). Durations are Go duration strings; where
KrakenD takes a number of seconds, a number is accepted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from hanzo_edge.config.durations import parse_duration
from hanzo_edge.gateway.errors import GatewayConfigError, GatewayWarning, JsonPath

__all__ = ["Block"]


class Block:
    """One namespace block (``config``) at ``where``; collects warnings while its values are read."""

    def __init__(self, config: Mapping[str, Any], where: JsonPath) -> None:
        self.config = config
        self.where = where
        self.warnings: list[GatewayWarning] = []

    def at(self, key: str) -> JsonPath:
        return (*self.where, key)

    def error(self, key: str, message: str) -> GatewayConfigError:
        return GatewayConfigError(self.at(key), message)

    def warn(self, key: str | None, message: str) -> None:
        self.warnings.append(GatewayWarning(self.where if key is None else self.at(key), message))

    def string(self, key: str, default: str = "") -> str:
        value = self.config.get(key)
        if value is None:
            return default
        if not isinstance(value, str):
            raise self.error(key, "want a string")
        return value

    def boolean(self, key: str, default: bool = False) -> bool:
        value = self.config.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.error(key, "want true or false")
        return value

    def number(self, key: str, default: float = 0.0) -> float:
        """A finite, non-negative JSON number."""
        value = self.config.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise self.error(key, "want a non-negative number")
        return float(value)

    def integer(self, key: str, default: int = 0) -> int:
        """A non-negative whole number (``3`` or ``3.0``; a fraction is truncated as Go's conversion does)."""
        return int(self.number(key, float(default)))

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.config.get(key)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise self.error(key, "want an array of strings")
        return tuple(value)

    def duration(self, key: str, default: float) -> float:
        """Seconds from a Go duration string (``"1m"``); a JSON number is taken as seconds."""
        value = self.config.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.error(key, 'want a duration such as "1s"')
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            raise self.error(key, str(exc)) from None
        if seconds < 0:
            raise self.error(key, "want a non-negative duration")
        return seconds

    def unsupported(self, keys: Mapping[str, str]) -> None:
        """Warn for each key of ``keys`` set in the block (the value says what happens instead)."""
        for key, consequence in keys.items():
            if self.config.get(key) not in (None, False, "", [], {}):
                self.warn(key, f"{key} is not supported: {consequence}")
