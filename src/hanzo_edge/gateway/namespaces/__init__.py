"""KrakenD ``extra_config`` namespace handlers: ``auth/validator``, ``qos/ratelimit/router``, ``security/cors``.

Each module registers one handler with :func:`hanzo_edge.gateway.extra_config.namespace`; importing this package
(:func:`~hanzo_edge.gateway.extra_config.load_handlers` does) registers them all. A handler validates its block
(a bad value raises ``GatewayConfigError`` with its JSON path), names what it does not honour as warnings, and returns
the typed options of the middleware kind that implements it (``middlewares/krakend_*.py``).
"""

from hanzo_edge.gateway.namespaces import cors, jwt_validator, ratelimit

__all__ = ["cors", "jwt_validator", "ratelimit"]
