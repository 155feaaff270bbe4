"""``gateway run -c FILE [-p PORT]``: serve a ``gateway.json``.

The file is checked first, exactly as ``gateway check`` does: any error is printed and ``run`` exits 1 without ever
listening. Warnings (unsupported namespaces and keys) are logged at startup. The file is then watched and a new
version applied without dropping a request; a bad one is logged and the last good one keeps serving
(:mod:`hanzo_edge.gateway.reload`). The port is ``-p``, else
``KRAKEND_PORT``, else the file's ``port`` (8080); the address is the file's ``listen_ip``. SIGTERM/SIGINT drain
and exit 0, as ``ingress``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hanzo_edge.commands.gateway_check import check_gateway, parse_gateway_args

__all__ = ["serve_gateway"]

log = logging.getLogger("hanzo_edge.gateway")


def _watch_interval(env: Mapping[str, str]) -> float:
    """Seconds between two looks at the file: ``HANZO_GATEWAY_WATCH_INTERVAL`` (tests), else the default."""
    from hanzo_edge.gateway.reload import DEFAULT_INTERVAL

    raw = env.get("HANZO_GATEWAY_WATCH_INTERVAL", "")
    try:
        value = float(raw) if raw else DEFAULT_INTERVAL
    except ValueError:
        return DEFAULT_INTERVAL
    return value if 0.01 <= value <= 60 else DEFAULT_INTERVAL


def _level_of(static_args: Sequence[str]) -> str:
    levels = [arg.split("=", 1)[1] for arg in static_args if arg.startswith("--log.level=")]
    return levels[-1] if levels else "INFO"


def _prefix_logs(prefix: str) -> None:
    """telemetry/logging ``prefix``: put before the message of every record of this process."""
    factory = logging.getLogRecordFactory()

    def prefixed(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        record.msg = f"{prefix} {record.msg}"
        return record

    logging.setLogRecordFactory(prefixed)


def serve_gateway(args: Sequence[str], env: Mapping[str, str], stop_requested: Callable[[], bool]) -> int:
    """Check, then serve until stopped. Returns the exit code: 0 after a clean stop, 1 for a bad file or an address
    that cannot be bound, 2 for bad arguments. ``stop_requested()`` is true when a stop signal came during start."""
    parsed = parse_gateway_args(args)
    if isinstance(parsed, str):
        print(parsed, file=sys.stderr)
        return 2
    doc, translation, errors = check_gateway(parsed.config, env)
    if errors or translation is None or doc.service is None:
        for line in errors:
            print(f"gateway: {line}", file=sys.stderr)
        return 1
    for warning in translation.warnings:
        located = doc.locate(warning.path)
        log.warning("%s%s", warning, f" ({located})" if located else "")
    for disabled in translation.disabled:
        log.error("endpoint %s (not served)", disabled)
    service = doc.service
    from hanzo_edge.gateway.hanzo.host_table import HostTableError
    from hanzo_edge.gateway.hanzo.settings import HanzoSettings, SettingsError, unsupported_variables

    try:
        hanzo = HanzoSettings.from_env(env)
    except SettingsError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 1
    for line in unsupported_variables(env):
        log.warning("%s", line)
    port = parsed.port if parsed.port is not None else service.port

    import asyncio

    import uvloop

    from hanzo_edge.gateway.reload import GatewayReloader
    from hanzo_edge.gateway.server import GatewayApp, gateway_static
    from hanzo_edge.gateway.service_keys import static_flags
    from hanzo_edge.gateway.translate import ENTRY_POINT

    # telemetry/logging's level (in static_args) unless -d asks for debug; its prefix goes before every message.
    level = "DEBUG" if parsed.debug else _level_of(translation.static_args)
    static_args = list(translation.static_args)
    if hanzo.routes_file:
        # Go's ReverseProxy has no body limit: the host table proxies uploads of any size; the Hanzo chain keeps
        # the 10 MiB limit on gateway.json endpoints (gateway/hanzo/chain.py).
        static_args.append("--entrypoints.gateway.http.maxRequestBodyBytes=0")
    # read_timeout, max_header_bytes, dialer_timeout, ...: the gateway entrypoint and the backends' transport.
    static_args += static_flags(service.keys, ENTRY_POINT)
    static = gateway_static(service.listen_ip, port, level, static_args, service.keys.shutdown_grace())
    if parsed.debug or any(arg.startswith("--log.level=") for arg in translation.static_args):
        # The CLI set up logging before the file was read: the file's (or -d's) level applies from here on.
        logging.getLogger("hanzo_edge").setLevel(logging.DEBUG if level == "DEBUG" else logging.getLevelName(level))
    if translation.log_prefix:
        _prefix_logs(translation.log_prefix)
    if parsed.debug:
        # `run -d` enables /__debug/ as KrakenD's does (and keeps it across reloads).
        from hanzo_edge.gateway.reload import with_debug_endpoint

        with_debug_endpoint(translation, service.echo_endpoint)

    async def main() -> int:
        try:
            app = GatewayApp(static, translation, hanzo, service_keys=service.keys)
        except HostTableError as exc:
            print(f"gateway: host table: {exc}", file=sys.stderr)
            return 1
        app.install_signal_handlers()
        if stop_requested():
            return 0
        try:
            await app.start(app.initial_snapshots())
        except OSError as exc:
            print(f"gateway: cannot listen: {exc}", file=sys.stderr)
            return 1
        for listener in app.listeners.values():
            log.info("gateway %r listening on %s:%d", service.name, listener.host or "*", listener.port)
        # ZAP_LISTENER_ENABLED=true: the post-quantum TLS listener beside HTTP (gateway/zap/); a failure is logged and
        # HTTP keeps serving. It binds the file's listen_ip, and the app drains it with the gateway entrypoint.
        from hanzo_edge.gateway.zap import start_zap_listener

        await start_zap_listener(app, env, service.listen_ip)
        # The file is watched and reloaded without a restart (gateway/reload.py).
        reloader = GatewayReloader(
            app,
            parsed.config,
            env,
            listen=(service.listen_ip, service.port),
            service_keys=service.keys,
            interval=_watch_interval(env),
            debug=parsed.debug,
        )
        watch = asyncio.ensure_future(reloader.run())
        try:
            return await app.serve_until_stopped()
        finally:
            watch.cancel()

    return uvloop.run(main())
