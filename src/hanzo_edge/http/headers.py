"""An ordered, case-insensitive multi-map of raw HTTP header fields.

Fields are kept as the ``(name, value)`` byte pairs that came off the wire, in order, so the proxy can forward them
without re-encoding. The ``str`` methods are for middlewares and matchers: names compare case-insensitively and values
are decoded as latin-1 (HTTP's historical charset, which round-trips every byte).
"""

from __future__ import annotations

from collections.abc import Iterator

__all__ = ["Headers"]


_KEYS: dict[str | bytes, bytes] = {}


def _key(name: str | bytes) -> bytes:
    # Middlewares look up the same few names on every request: remember their lower-case byte form.
    key = _KEYS.get(name)
    if key is None:
        key = (name.encode("latin-1") if isinstance(name, str) else name).lower()
        if len(_KEYS) < 4096:
            _KEYS[name] = key
    return key


class Headers:
    """Header fields as a list of raw ``(name, value)`` pairs; lookups are case-insensitive."""

    __slots__ = ("raw",)

    def __init__(self, raw: list[tuple[bytes, bytes]] | None = None) -> None:
        self.raw: list[tuple[bytes, bytes]] = [] if raw is None else raw

    def get(self, name: str, default: str | None = None) -> str | None:
        """Return the first value of ``name`` decoded as latin-1, or ``default`` when absent."""
        key = _key(name)
        for k, v in self.raw:
            if k.lower() == key:
                return v.decode("latin-1")
        return default

    def get_all(self, name: str) -> list[str]:
        """Return every value of ``name`` in order (an empty list when absent)."""
        key = _key(name)
        return [v.decode("latin-1") for k, v in self.raw if k.lower() == key]

    def get_raw(self, name: bytes) -> bytes | None:
        """Return the first raw value of the lower-case byte name ``name``, or None."""
        for k, v in self.raw:
            if k.lower() == name:
                return v
        return None

    def set(self, name: str, value: str) -> None:
        """Replace every value of ``name`` with the single ``value``, keeping the first field's position."""
        self.set_field(_key(name), (name.encode("latin-1"), value.encode("latin-1")))

    def set_field(self, key: bytes, encoded: tuple[bytes, bytes]) -> None:
        """:meth:`set` with the lower-case name ``key`` and the field already encoded (built once by a middleware)."""
        raw = self.raw
        first = -1
        extra = False
        size = len(key)
        for i, (k, _) in enumerate(raw):
            if len(k) == size and k.lower() == key:  # the length test spares most fields a lower() copy
                if first < 0:
                    first = i
                else:
                    extra = True
                    break
        if first < 0:
            raw.append(encoded)  # the common case: a new header, no list rebuild
            return
        raw[first] = encoded
        if extra:
            self.raw = raw[: first + 1] + [pair for pair in raw[first + 1 :] if pair[0].lower() != key]

    def add(self, name: str, value: str) -> None:
        """Append one more field ``name: value``."""
        self.raw.append((name.encode("latin-1"), value.encode("latin-1")))

    def remove(self, name: str) -> None:
        """Delete every field called ``name`` (no error when absent)."""
        key = _key(name)
        self.raw = [pair for pair in self.raw if pair[0].lower() != key]

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str | bytes):
            return False
        key = _key(name)
        return any(k.lower() == key for k, _ in self.raw)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        for k, v in self.raw:
            yield k.decode("latin-1"), v.decode("latin-1")

    def __len__(self) -> int:
        return len(self.raw)

    def __repr__(self) -> str:
        return f"Headers({[(k.decode('latin-1'), v.decode('latin-1')) for k, v in self.raw]!r})"

    def copy(self) -> Headers:
        """Return an independent copy (the pairs themselves are immutable)."""
        return Headers(list(self.raw))
