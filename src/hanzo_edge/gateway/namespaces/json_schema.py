"""``validation/json-schema`` (endpoint): the block is the JSON Schema the request body must satisfy (400 if not).

The schema is checked against its metaschema here, so ``gateway check`` names a broken schema with its JSON path.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from hanzo_edge.gateway.backend import KRAKEND_VERSION
from hanzo_edge.gateway.errors import GatewayConfigError, JsonPath
from hanzo_edge.gateway.extra_config import NamespaceMiddleware, NamespaceResult, namespace
from hanzo_edge.middlewares.krakend_json_schema import KrakendJsonSchemaConfig, compile_schema

__all__ = ["json_schema"]


@namespace("validation/json-schema", scopes={"endpoint"})
def json_schema(config: Mapping[str, Any], where: JsonPath) -> NamespaceResult:
    """Validate the schema; return the ``krakendJsonSchema`` middleware."""
    schema = dict(config)
    try:
        compile_schema(schema)
    except ValueError as exc:
        raise GatewayConfigError(where, str(exc)) from None
    options = KrakendJsonSchemaConfig(
        schema=json.dumps(schema, sort_keys=True),
        krakend_version=f"Version {KRAKEND_VERSION}".encode(),
    )
    return NamespaceResult(middlewares=(NamespaceMiddleware("json-schema", "krakendJsonSchema", options),))
