"""Go ``flag``-style argument splitting shared by the ``gateway`` sub-commands' hand-written parsers.

``-c FILE`` and ``-c=FILE`` both give a flag its value; the parsers keep their own flags, defaults and messages.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence

__all__ = ["MissingFlagValue", "split_flags"]


class MissingFlagValue(Exception):
    """A flag that takes a value came last, without one; ``flag`` is its name."""

    def __init__(self, flag: str) -> None:
        super().__init__(flag)
        self.flag = flag


def split_flags(items: Sequence[str], valued: Collection[str]) -> Iterator[tuple[str, str | None]]:
    """Yield ``(name, value)`` for each flag in ``valued`` and ``(argument, None)`` for any other argument.

    Raises:
        MissingFlagValue: a flag in ``valued`` is the last argument and has no ``=value``.
    """
    i = 0
    while i < len(items):
        arg = items[i]
        name, eq, inline = arg.partition("=")
        if name in valued:
            if eq:
                value = inline
            elif i + 1 < len(items):
                i += 1
                value = items[i]
            else:
                raise MissingFlagValue(name)
            yield name, value
        else:
            yield arg, None
        i += 1
