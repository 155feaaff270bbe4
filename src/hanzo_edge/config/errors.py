"""Configuration errors and warnings that name the option (and, for files, the location) they concern."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ConfigError", "ConfigWarning", "quote"]


def _one_line(text: str) -> str:
    return " ".join(text.split()) if ("\n" in text or "\r" in text) else text


def quote(value: object, limit: int = 80) -> str:
    """Return `value` as a double-quoted, escaped, length-limited string for a one-line message."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


def _join(location: str, path: str, message: str) -> str:
    return ": ".join(part for part in (location, path, _one_line(message)) if part)


class ConfigError(Exception):
    """An invalid configuration value or structure.

    Attributes:
        path: the option as the user wrote it: a flag (``--entrypoints.web.address``), an environment variable,
            or a dotted path inside a document (``http.services.app.loadBalancer.servers[0].url``); may be "".
        message: what is wrong, one line.
        location: ``file:line`` (or ``file``) when the value comes from a file, else "".

    ``str(err)`` is one line: ``[location: ][path: ]message``, e.g.
    ``dynamic.yml:12: http.routers.r1.service: invalid value``.
    """

    def __init__(self, path: str, message: str, *, location: str = "") -> None:
        self.path = path
        self.message = _one_line(message)
        self.location = location
        super().__init__(_join(location, path, self.message))

    def __str__(self) -> str:
        """Return the one-line message ``[location: ][path: ]message``."""
        return _join(self.location, self.path, self.message)

    def __reduce__(self) -> tuple[object, ...]:
        """Support pickling (worker processes receive errors from the supervisor)."""
        return (_rebuild_error, (self.path, self.message, self.location))


def _rebuild_error(path: str, message: str, location: str) -> ConfigError:
    return ConfigError(path, message, location=location)


@dataclass(frozen=True, slots=True)
class ConfigWarning:
    """A non-fatal configuration problem (unknown key, duplicate definition, ignored value).

    `str()` has the same one-line shape as `ConfigError`.
    """

    path: str
    message: str
    location: str = ""

    def __str__(self) -> str:
        """Return the one-line message ``[location: ][path: ]message``."""
        return _join(self.location, self.path, self.message)
