"""``validation/json-schema`` (krakend-jsonschema): the request body must be a JSON document valid for the schema.

An endpoint middleware, after the router-level ones (JWT, rate limit), as the proxy-level check it is in KrakenD. The
body is read whole (the entrypoint's body limit applies) and handed on as bytes. A body that is not JSON, or not
valid, is answered **400** with the KrakenD headers (``X-Krakend-Completed: false``) and an empty body, or the
validation errors as text with the router's ``return_error_msg``. Validation uses the ``jsonschema`` library with
the draft the schema's ``$schema`` names (2020-12 by default); the validator is compiled once per generation.

The schema's regular expressions (``pattern``, ``patternProperties`` and the ``additionalProperties`` that depend on
them) run on RE2 with Go's syntax, as KrakenD's Go validator does: the library's own keywords would run them on
Python's backtracking ``re`` against client-sent strings (a pattern like ``^(a+)+$`` then costs seconds per
request). Every pattern is compiled when the schema is, so a bad one is an error of the configuration;
``unevaluatedProperties`` beside ``patternProperties`` (the library matches those with ``re`` internally) is refused.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import msgspec
from jsonschema.exceptions import ValidationError

from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.middlewares.base import BuildContext, register
from hanzo_edge.rules.goregexp import GoRegexp, GoRegexpError, compile_go_regexp

__all__ = ["KrakendJsonSchemaConfig", "compile_schema"]


class KrakendJsonSchemaConfig(msgspec.Struct, frozen=True, kw_only=True):
    """The schema as canonical JSON text (hashable, comparable across generations) and the headers to answer with."""

    schema: str
    krakend_version: bytes = b""
    return_error_msg: bool = False


def _patterns(schema: Any, found: dict[str, GoRegexp], seen: list[bool]) -> None:
    """Compile every ``pattern`` and ``patternProperties`` key of ``schema`` (walked whole) into ``found``;
    ``seen`` records whether ``patternProperties`` and ``unevaluatedProperties`` occur."""
    if isinstance(schema, list):
        for item in schema:
            _patterns(item, found, seen)
        return
    if not isinstance(schema, dict):
        return
    wanted = []
    if isinstance(schema.get("pattern"), str):
        wanted.append(schema["pattern"])
    pattern_properties = schema.get("patternProperties")
    if isinstance(pattern_properties, dict):
        wanted.extend(pattern_properties)
        seen[0] = True
    if "unevaluatedProperties" in schema:
        seen[1] = True
    for pattern in wanted:
        if pattern not in found:
            try:
                found[pattern] = compile_go_regexp(pattern)
            except GoRegexpError as exc:
                raise ValueError(f"invalid JSON schema: pattern {pattern!r}: {exc}") from None
    for value in schema.values():
        _patterns(value, found, seen)


def _re2_keywords(compiled: dict[str, GoRegexp]) -> dict[str, Any]:
    """``pattern``, ``patternProperties`` and ``additionalProperties`` as jsonschema's, matching on RE2."""

    def matches(pattern: str, text: str) -> bool:
        return compiled[pattern].is_match(text)

    def pattern(validator: Any, patrn: str, instance: Any, schema: Any) -> Any:
        if validator.is_type(instance, "string") and not matches(patrn, instance):
            yield ValidationError(f"{instance!r} does not match {patrn!r}")

    def pattern_properties(validator: Any, value: dict[str, Any], instance: Any, schema: Any) -> Any:
        if not validator.is_type(instance, "object"):
            return
        for patrn, subschema in value.items():
            for key, item in instance.items():
                if matches(patrn, key):
                    yield from validator.descend(item, subschema, path=key, schema_path=patrn)

    def additional_properties(validator: Any, value: Any, instance: Any, schema: Any) -> Any:
        if not validator.is_type(instance, "object"):
            return
        properties = schema.get("properties", {})
        patterns = list(schema.get("patternProperties", {}))
        extras = {key for key in instance if key not in properties and not any(matches(p, key) for p in patterns)}
        if validator.is_type(value, "object"):
            for extra in extras:
                yield from validator.descend(instance[extra], value, path=extra)
        elif not value and extras:
            listed = ", ".join(repr(each) for each in sorted(extras, key=str))
            if patterns:
                verb = "does" if len(extras) == 1 else "do"
                regexes = ", ".join(repr(each) for each in sorted(patterns))
                yield ValidationError(f"{listed} {verb} not match any of the regexes: {regexes}")
            else:
                verb = "was" if len(extras) == 1 else "were"
                yield ValidationError(f"Additional properties are not allowed ({listed} {verb} unexpected)")

    return {
        "pattern": pattern,
        "patternProperties": pattern_properties,
        "additionalProperties": additional_properties,
    }


def compile_schema(schema: Any) -> Any:
    """The validator for ``schema``. Raises ValueError when the schema itself is invalid."""
    if not isinstance(schema, dict | bool):
        raise ValueError("a JSON schema is an object or a boolean")
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)  # type: ignore[arg-type]  # a boolean schema is valid JSON Schema
    except jsonschema.SchemaError as exc:
        raise ValueError(f"invalid JSON schema: {exc.message}") from None
    compiled: dict[str, GoRegexp] = {}
    seen = [False, False]  # patternProperties, unevaluatedProperties (somewhere in the schema)
    _patterns(schema, compiled, seen)
    if all(seen):
        raise ValueError(
            "unevaluatedProperties beside patternProperties is not supported (its regexps would not run on RE2)"
        )
    if not compiled:
        return cls(schema)
    on_re2 = jsonschema.validators.extend(cls, _re2_keywords(compiled))  # type: ignore[no-untyped-call]
    return on_re2(schema)


@register("krakendJsonSchema", KrakendJsonSchemaConfig)
class KrakendJsonSchema:
    """The middleware (see the module docstring)."""

    __slots__ = ("config", "next", "validator")

    def __init__(self, next: Handler, config: KrakendJsonSchemaConfig, *, name: str, ctx: BuildContext) -> None:
        self.next = next
        self.config = config
        self.validator = compile_schema(json.loads(config.schema))

    def _refuse(self, message: str) -> Response:
        raw = [(b"X-Krakend", self.config.krakend_version), (b"X-Krakend-Completed", b"false")]
        if self.config.return_error_msg:
            raw.insert(0, (b"Content-Type", b"text/plain; charset=utf-8"))
            return Response(400, Headers(raw), message.encode())
        return Response(400, Headers(raw), b"")

    async def __call__(self, req: Request) -> Response:
        body = req.body if isinstance(req.body, bytes) else await req.body.read()
        req.body = body
        try:
            document = json.loads(body)
        except (ValueError, RecursionError) as exc:
            return self._refuse(f"invalid JSON body: {exc}")
        errors = [error.message for error in self.validator.iter_errors(document)]
        if errors:
            return self._refuse("\n".join(errors))
        return await self.next(req)
