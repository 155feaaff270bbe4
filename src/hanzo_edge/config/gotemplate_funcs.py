"""The functions of :mod:`hanzo_edge.config.gotemplate`: Go's built-ins and the sprig subset Traefik configs use,
plus the values' Go printing (``fmt``'s ``%v``), truth and type names.

Go's built-ins: ``and`` ``or`` (evaluated lazily by the executor), ``not``, ``len``, ``index``, ``print``,
``println``, ``printf``, ``eq`` ``ne`` ``lt`` ``le`` ``gt`` ``ge``. Sprig: ``default``, ``env``, ``lower``,
``upper``, ``trim``, ``trimPrefix``, ``trimSuffix``, ``replace``, ``split``, ``splitList``, ``join``,
``contains``, ``hasPrefix``, ``hasSuffix``, ``until``, ``list``, ``dict``, ``quote``; Traefik's ``normalize``.
"""

from __future__ import annotations

import decimal
import os
import re
from collections.abc import Callable, Mapping
from typing import Any

from hanzo_edge.goquote import go_quote

__all__ = [
    "FUNCTIONS",
    "LAZY_FUNCTIONS",
    "FuncError",
    "StringMap",
    "go_print",
    "go_quote",
    "go_sprintf",
    "go_type",
    "normalize",
    "truth",
]

MAX_UNTIL = 100_000
"""Longest list ``until`` makes (a bigger count is an error rather than a memory spike)."""


class FuncError(ValueError):
    """A function refused its arguments; the executor wraps it as Go does (``error calling f: ...``)."""


class StringMap(dict[str, str]):
    """A Go ``map[string]string``: a missing key reads as ``""`` (a plain dict reads as ``<no value>``)."""


def truth(value: Any) -> bool:
    """Go template truth: false, 0, nil and empty strings, lists and maps are false."""
    if value is None or value is False:
        return False
    if isinstance(value, (int, float, str, list, tuple, dict)):
        return bool(value)
    return True


def go_type(value: Any) -> str:
    """Return the Go type name that Go's messages would print for ``value``."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, StringMap):
        return "map[string]string"
    if isinstance(value, Mapping):
        return "map[string]interface {}"
    if isinstance(value, (list, tuple)):
        return "[]interface {}"
    return type(value).__name__


def _go_float(value: float) -> str:
    """Return ``value`` as Go's ``%v`` prints a float64 (shortest digits; exponent form outside [1e-4, 1e6))."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if str(value).startswith("-") else "0"
    # Python's repr is the shortest round-tripping form, as Go's; Decimal splits it into digits and exponent.
    sign_bit, digit_tuple, exponent = decimal.Decimal(repr(value)).as_tuple()
    digits = "".join(map(str, digit_tuple)).lstrip("0")
    exp_int = exponent if isinstance(exponent, int) else 0
    point = len("".join(map(str, digit_tuple))) + exp_int - (len("".join(map(str, digit_tuple))) - len(digits))
    digits = digits.rstrip("0") or "0"
    sign = "-" if sign_bit else ""
    decimal_exp = point - 1
    if decimal_exp < -4 or decimal_exp >= 6:  # strconv's shortest %g: precision 6 decides
        head, tail = digits[0], digits[1:]
        body = head + ("." + tail if tail else "")
        return f"{sign}{body}e{'-' if decimal_exp < 0 else '+'}{abs(decimal_exp):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return f"{sign}{digits}{'0' * (point - len(digits))}"
    return f"{sign}{digits[:point]}.{digits[point:]}"


def go_print(value: Any) -> str:
    """Return ``value`` as Go's ``fmt.Sprint`` (``%v``) prints it; nil is ``<no value>`` as templates print it."""
    if isinstance(value, str):
        return value
    if value is None:
        return "<no value>"
    return _verb_v(value, top=True)


def _verb_v(value: Any, *, top: bool = False) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return "<no value>" if top else "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, Mapping):
        keys = sorted(value, key=lambda k: (not isinstance(k, (int, float)), str(k) if isinstance(k, str) else k))
        return "map[" + " ".join(f"{_verb_v(k)}:{_verb_v(value[k])}" for k in keys) + "]"
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(_verb_v(v) for v in value) + "]"
    return str(value)


_VERB = re.compile(r"%([-+# 0]*)(\*|\d+)?(?:\.(\*|\d+)?)?([a-zA-Z%])")


def go_sprintf(template: str, *args: Any) -> str:
    """Go's ``fmt.Sprintf`` for the verbs configs use: ``%s %v %d %q %t %x %X %f %e %g %c %%``, flags and width."""
    out: list[str] = []
    pos = 0
    used = 0
    for match in _VERB.finditer(template):
        out.append(template[pos : match.start()])
        pos = match.end()
        flags, width, precision, verb = match.groups()
        if verb == "%":
            out.append("%")
            continue
        if used >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        arg = args[used]
        used += 1
        text = _format_one(verb, arg, precision)
        if width is not None and width != "*":
            size = int(width)
            if "-" in flags:
                text = text.ljust(size)
            elif "0" in flags and verb in "dfeEgGxX" and not isinstance(arg, str):
                sign = text[0] if text[:1] in "+-" else ""
                text = sign + text[len(sign) :].rjust(size - len(sign), "0")
            else:
                text = text.rjust(size)
        out.append(text)
    out.append(template[pos:])
    if used < len(args):
        extra = ", ".join(f"{go_type(a)}={_verb_v(a)}" for a in args[used:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _format_one(verb: str, arg: Any, precision: str | None) -> str:
    is_int = isinstance(arg, int) and not isinstance(arg, bool)
    if verb == "v":
        return _verb_v(arg)
    if verb == "s":
        if isinstance(arg, (str, list, tuple, Mapping)) or arg is None:
            text = _verb_v(arg) if arg is not None else "%!s(<nil>)"
        else:
            text = f"%!s({go_type(arg)}={_verb_v(arg)})"
        return text[: int(precision)] if precision and precision.isdigit() else text
    if verb == "q":
        if isinstance(arg, str):
            return go_quote(arg)
        if is_int:
            return "'" + chr(arg) + "'" if 0 <= arg < 0x110000 else f"%!q(int={arg})"
        return f"%!q({go_type(arg)}={_verb_v(arg)})"
    if verb == "d":
        return str(arg) if is_int else f"%!d({go_type(arg)}={_verb_v(arg)})"
    if verb == "t":
        return _verb_v(arg) if isinstance(arg, bool) else f"%!t({go_type(arg)}={_verb_v(arg)})"
    if verb in "xX":
        if is_int:
            text = format(arg, "x")
        elif isinstance(arg, str):
            text = arg.encode().hex()
        else:
            return f"%!{verb}({go_type(arg)}={_verb_v(arg)})"
        return text.upper() if verb == "X" else text
    if verb == "c":
        return chr(arg) if is_int and 0 <= arg < 0x110000 else f"%!c({go_type(arg)}={_verb_v(arg)})"
    if verb in "feEgG":
        if isinstance(arg, (int, float)) and not isinstance(arg, bool):
            if verb in "gG" and precision is None:
                return _go_float(float(arg)) if verb == "g" else _go_float(float(arg)).upper()
            digits = int(precision) if precision and precision.isdigit() else 6
            text = format(float(arg), f".{digits}{verb}")
            return re.sub(r"e([+-])(\d)$", r"e\g<1>0\2", text)
        return f"%!{verb}({go_type(arg)}={_verb_v(arg)})"
    return f"%!{verb}({go_type(arg)}={_verb_v(arg)})"


def normalize(name: str) -> str:
    """Traefik's ``provider.Normalize``: runs of characters that are not letters or digits become one ``-``."""
    return "-".join(part for part in re.split(r"[^\w]|_", str(name)) if part)


def _strval(value: Any) -> str:
    """Sprig's ``strval``: strings as they are, anything else as ``%v``."""
    return value if isinstance(value, str) else _verb_v(value)


def _empty(value: Any) -> bool:
    """Sprig's ``empty``."""
    return not truth(value)


def _default(fallback: Any, *given: Any) -> Any:
    if not given or _empty(given[0]):
        return fallback
    return given[0]


def _index(item: Any, *keys: Any) -> Any:
    for key in keys:
        if item is None:
            raise FuncError("index of untyped nil")
        if isinstance(item, Mapping):
            if isinstance(item, StringMap):
                item = item.get(key, "") if isinstance(key, str) else _bad_key(key)
            else:
                item = item.get(key)
        elif isinstance(item, (list, tuple, str)):
            if not isinstance(key, int) or isinstance(key, bool):
                raise FuncError(f"cannot index slice/array with type {go_type(key)}")
            if not 0 <= key < len(item):
                raise FuncError(f"index out of range: {key}")
            item = item[key] if not isinstance(item, str) else item.encode()[key]
        else:
            raise FuncError(f"can't index item of type {go_type(item)}")
    return item


def _bad_key(key: Any) -> Any:
    raise FuncError(f"value has type {go_type(key)}; should be string")


def _len(value: Any) -> int:
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, (list, tuple, Mapping)):
        return len(value)
    raise FuncError(f"len of type {go_type(value)}")


def _basic(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "nil"
    raise FuncError("invalid type for comparison")


def _eq(first: Any, *others: Any) -> bool:
    if not others:
        raise FuncError("missing argument for comparison")
    kind = _basic(first)
    for other in others:
        if _basic(other) != kind:
            raise FuncError("incompatible types for comparison")
        if other == first:
            return True
    return False


def _ordered(a: Any, b: Any) -> tuple[Any, Any]:
    kind = _basic(a)
    if kind != _basic(b):
        raise FuncError("incompatible types for comparison")
    if kind in ("bool", "nil"):
        raise FuncError("invalid type for comparison")
    return a, b


def _until(count: Any) -> list[int]:
    if not isinstance(count, int) or isinstance(count, bool):
        raise FuncError(f"expected an integer, got {go_type(count)}")
    if abs(count) > MAX_UNTIL:
        raise FuncError(f"until {count}: more than {MAX_UNTIL} items")
    return list(range(count)) if count >= 0 else list(range(0, count, -1))


def _dict(*pairs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i in range(0, len(pairs), 2):
        out[_strval(pairs[i])] = pairs[i + 1] if i + 1 < len(pairs) else ""
    return out


def _split(sep: Any, text: Any) -> dict[str, str]:
    parts = _strval(text).split(_strval(sep)) if _strval(sep) else list(_strval(text))
    return {f"_{i}": part for i, part in enumerate(parts)}


def _join(sep: Any, values: Any) -> str:
    if isinstance(values, (list, tuple)):
        return _strval(sep).join(_strval(v) for v in values if v is not None)
    return _strval(values)


def _print(*args: Any) -> str:
    # Go's Sprint: a space between two operands when neither is a string.
    out: list[str] = []
    for i, arg in enumerate(args):
        if i and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(_verb_v(arg) if arg is not None else "<nil>")
    return "".join(out)


FUNCTIONS: Mapping[str, Callable[..., Any]] = {
    # Go's text/template built-ins.
    "not": lambda value: not truth(value),
    "len": _len,
    "index": _index,
    "print": _print,
    "println": lambda *args: " ".join(_verb_v(a) if a is not None else "<nil>" for a in args) + "\n",
    "printf": lambda fmt, *args: go_sprintf(_strval(fmt), *args),
    "eq": _eq,
    "ne": lambda a, b: not _eq(a, b),
    "lt": lambda a, b: _ordered(a, b)[0] < b,
    "le": lambda a, b: _ordered(a, b)[0] <= b,
    "gt": lambda a, b: _ordered(a, b)[0] > b,
    "ge": lambda a, b: _ordered(a, b)[0] >= b,
    # Sprig.
    "default": _default,
    "env": lambda name: os.environ.get(_strval(name), ""),
    "lower": lambda s: _strval(s).lower(),
    "upper": lambda s: _strval(s).upper(),
    "trim": lambda s: _strval(s).strip(" \t\n\r\v\f\x85\xa0"),
    "trimPrefix": lambda prefix, s: _strval(s).removeprefix(_strval(prefix)),
    "trimSuffix": lambda suffix, s: _strval(s).removesuffix(_strval(suffix)),
    "replace": lambda old, new, s: _strval(s).replace(_strval(old), _strval(new)),
    "split": _split,
    "splitList": lambda sep, s: _strval(s).split(_strval(sep)) if _strval(sep) else list(_strval(s)),
    "join": _join,
    "contains": lambda sub, s: _strval(sub) in _strval(s),
    "hasPrefix": lambda prefix, s: _strval(s).startswith(_strval(prefix)),
    "hasSuffix": lambda suffix, s: _strval(s).endswith(_strval(suffix)),
    "until": _until,
    "list": lambda *items: list(items),
    "dict": _dict,
    "quote": lambda *items: " ".join(go_quote(_strval(i)) for i in items if i is not None),
    # Traefik's own (the Docker provider adds it to defaultRule; harmless elsewhere).
    "normalize": lambda s: normalize(_strval(s)),
}
"""The function table templates may call (anything else is refused when the template is parsed)."""

LAZY_FUNCTIONS = frozenset({"and", "or"})
"""Built-ins the executor evaluates itself, argument by argument (Go short-circuits them)."""
