"""The ``gateway`` face: KrakenD v3 ``gateway.json`` files served by the ingress runtime.

``document`` reads the file (positions, defaults, located errors), ``translate`` turns it into routers, ``gatewayMerge``
services and namespace middlewares (``extra_config`` is the namespace-handler registry; handlers live in
``namespaces``), ``gin_router``/``gin_table`` route as gin does, ``merge_service`` (with ``backend``, ``manipulate``,
``encodings``) answers each endpoint as Lura does, and ``server.GatewayApp`` serves it all.
"""
