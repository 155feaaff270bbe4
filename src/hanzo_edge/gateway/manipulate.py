"""Lura's response formatting of one backend (``proxy/formatter.go``), on decoded JSON-like data.

Order for each backend (non no-op): ``target`` (extract a nested object) → ``allow`` (keep only these dot paths;
wins over ``deny``) or ``deny`` (drop these dot paths) → ``mapping`` (rename top-level keys) → ``group`` (wrap under
one key). ``flatmap_filter`` (``move``/``del``/``append`` with ``*`` over arrays) replaces allow, deny and mapping.
Each function returns new data or edits a fresh copy; the backend's decoded body is never shared across requests.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "FlatmapOp",
    "Formatter",
    "allow_paths",
    "apply_flatmap",
    "deny_paths",
    "extract_target",
    "rename_keys",
]

FlatmapOp = tuple[str, tuple[str, ...]]


def extract_target(data: dict[str, Any], target: str) -> dict[str, Any]:
    """The object at dot path ``target`` (``{}`` when missing or not an object), as Lura's ``newEntityFormatter``."""
    current: Any = data
    for key in target.split("."):
        if not isinstance(current, dict):
            return {}
        current = current.get(key)
    return current if isinstance(current, dict) else {}


def allow_paths(data: dict[str, Any], paths: Sequence[str]) -> dict[str, Any]:
    """Keep only the dot paths listed (nested objects keep only their listed members; arrays are walked item by
    item)."""
    tree: dict[str, Any] = {}
    for path in paths:
        node = tree
        parts = path.split(".")
        for i, part in enumerate(parts):
            if i == len(parts) - 1:
                node[part] = True
            else:
                existing = node.get(part)
                if existing is True:
                    break
                node = node.setdefault(part, {})
    allowed: dict[str, Any] = _allow(data, tree)
    return allowed


def _allow(data: Any, tree: dict[str, Any]) -> Any:
    if isinstance(data, list):
        return [_allow(item, tree) for item in data]
    if not isinstance(data, dict):
        return data
    out: dict[str, Any] = {}
    for key, sub in tree.items():
        if key not in data:
            continue
        out[key] = data[key] if sub is True else _allow(data[key], sub)
    return out


def deny_paths(data: dict[str, Any], paths: Sequence[str]) -> dict[str, Any]:
    """Drop each dot path listed (a copy is returned; arrays on the way are walked item by item)."""
    out: dict[str, Any] = _copy(data)
    for path in paths:
        _delete(out, path.split("."))
    return out


def _delete(data: Any, parts: list[str]) -> None:
    if isinstance(data, list):
        for item in data:
            _delete(item, parts)
        return
    if not isinstance(data, dict):
        return
    if len(parts) == 1:
        data.pop(parts[0], None)
        return
    _delete(data.get(parts[0]), parts[1:])


def rename_keys(data: dict[str, Any], mapping: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Rename top-level keys (``mapping``: old → new)."""
    if not mapping:
        return data
    out = dict(data)
    for old, new in mapping:
        if old in out:
            out[new] = out.pop(old)
    return out


def apply_flatmap(data: dict[str, Any], ops: Sequence[FlatmapOp]) -> dict[str, Any]:
    """Lura's flatmap filter: ``del path``, ``move from to``, ``append from to`` (``*`` = every item of an array).

    ``move`` with ``*`` moves each item's member, keeping the position (``a.*.b`` → ``a.*.c``); ``append`` adds the
    items of the array at ``from`` (or the value itself) to the array at ``to`` and removes ``from``.
    """
    out: dict[str, Any] = _copy(data)
    for kind, args in ops:
        if kind == "del":
            _flat_del(out, args[0].split("."))
        elif kind == "move":
            src, dst = args[0].split("."), args[1].split(".")
            if "*" in src or "*" in dst:
                _move_wildcard(out, src, dst)
            else:
                found, value = _flat_pop(out, src)
                if found:
                    _flat_set(out, dst, value)
        elif kind == "append":
            found, value = _flat_pop(out, args[0].split("."))
            if found:
                dst = args[1].split(".")
                ok, existing = _flat_get(out, dst)
                items = existing if ok and isinstance(existing, list) else ([] if not ok else [existing])
                items = [*items, *(value if isinstance(value, list) else [value])]
                _flat_set(out, dst, items)
    return out


def _flat_get(data: Any, parts: list[str]) -> tuple[bool, Any]:
    current = data
    for part in parts:
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return False, None
    return True, current


def _flat_pop(data: Any, parts: list[str]) -> tuple[bool, Any]:
    ok, parent = _flat_get(data, parts[:-1])
    if not ok:
        return False, None
    last = parts[-1]
    if isinstance(parent, dict) and last in parent:
        return True, parent.pop(last)
    return False, None


def _flat_set(data: dict[str, Any], parts: list[str], value: Any) -> None:
    current: Any = data
    for part in parts[:-1]:
        if isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
            continue
        if not isinstance(current, dict):
            return
        nxt = current.get(part)
        if not isinstance(nxt, dict | list):
            nxt = current[part] = {}
        current = nxt
    if isinstance(current, dict):
        current[parts[-1]] = value


def _flat_del(data: Any, parts: list[str]) -> None:
    if not parts:
        return
    head, rest = parts[0], parts[1:]
    if head == "*":
        if isinstance(data, list):
            if not rest:
                data.clear()
            for item in data:
                _flat_del(item, rest)
        return
    if isinstance(data, dict):
        if not rest:
            data.pop(head, None)
        else:
            _flat_del(data.get(head), rest)
    elif isinstance(data, list) and head.isdigit() and int(head) < len(data):
        if not rest:
            del data[int(head)]
        else:
            _flat_del(data[int(head)], rest)


def _move_wildcard(data: Any, src: list[str], dst: list[str]) -> None:
    # Both paths share the prefix up to the wildcard: move within each array item.
    star = src.index("*") if "*" in src else -1
    if star < 0 or dst[: star + 1] != src[: star + 1]:
        return
    ok, array = _flat_get(data, src[:star])
    if not ok or not isinstance(array, list):
        return
    for item in array:
        if isinstance(item, dict):
            found, value = _flat_pop(item, src[star + 1 :])
            if found:
                _flat_set(item, dst[star + 1 :], value)


def _copy(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_copy(v) for v in data]
    return data


class Formatter:
    """One backend's formatting, compiled once per configuration (what the merge service applies per response)."""

    __slots__ = ("allow", "deny", "flatmap", "group", "mapping", "target")

    def __init__(
        self,
        *,
        target: str = "",
        allow: Sequence[str] = (),
        deny: Sequence[str] = (),
        mapping: Sequence[tuple[str, str]] = (),
        group: str = "",
        flatmap: Sequence[FlatmapOp] = (),
    ) -> None:
        self.target = target
        self.allow = tuple(allow)
        self.deny = tuple(deny)
        self.mapping = tuple(mapping)
        self.group = group
        self.flatmap = tuple(flatmap)

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        """Format decoded ``data`` (the caller's; it may be changed in place)."""
        if self.target:
            data = extract_target(data, self.target)
        if self.flatmap:
            data = apply_flatmap(data, self.flatmap)
        else:
            if self.allow:
                data = allow_paths(data, self.allow)
            elif self.deny:
                data = deny_paths(data, self.deny)
            data = rename_keys(data, self.mapping)
        if self.group:
            data = {self.group: data}
        return data
