"""Hanzo's additions to the KrakenD face (hanzoai/gateway, March 2026): identity-header stripping, the JWT/API-key
auth middleware with the Commerce balance check, the ``hz_`` widget-key gate, and the host table (``routes.yaml``).

They form one chain (:mod:`.chain`) put in front of the gin router, inside ``security/cors``::

    CORS → strip identity headers → auth (+ billing) → widget gate → host table → KrakenD router

The environment is read once at startup into :class:`~.settings.HanzoSettings`; the chain is built once.
"""
