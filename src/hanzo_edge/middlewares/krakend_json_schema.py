"""``validation/json-schema`` (krakend-jsonschema): the request body must be a JSON document valid for the schema.

An endpoint middleware, after the router-level ones (JWT, rate limit), as the proxy-level check it is in KrakenD. The
body is read whole (the entrypoint's body limit applies) and handed on as bytes. A body that is not JSON, or not
valid, is answered **400** with the KrakenD headers (``X-Krakend-Completed: false``) and an empty body, or the
validation errors as text with the router's ``return_error_msg``. Validation uses the ``jsonschema`` library with
the draft the schema's ``$schema`` names (2020-12 by default); the validator is compiled once per generation.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import msgspec

from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.middlewares.base import BuildContext, register

__all__ = ["KrakendJsonSchemaConfig", "compile_schema"]


class KrakendJsonSchemaConfig(msgspec.Struct, frozen=True, kw_only=True):
    """The schema as canonical JSON text (hashable, comparable across generations) and the headers to answer with."""

    schema: str
    krakend_version: bytes = b""
    return_error_msg: bool = False


def compile_schema(schema: Any) -> Any:
    """The validator for ``schema``. Raises ValueError when the schema itself is invalid."""
    if not isinstance(schema, dict | bool):
        raise ValueError("a JSON schema is an object or a boolean")
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)  # type: ignore[arg-type]  # a boolean schema is valid JSON Schema
    except jsonschema.SchemaError as exc:
        raise ValueError(f"invalid JSON schema: {exc.message}") from None
    return cls(schema)


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
