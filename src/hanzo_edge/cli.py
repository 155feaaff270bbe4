"""The ``ingress`` and ``gateway`` commands. The only module that decides exit codes.

``ingress [flags]`` serves; ``ingress version`` prints the version; ``ingress --help`` lists every static option;
``ingress check`` and ``ingress explain`` report on a configuration without serving, ``ingress healthcheck`` asks a
running instance's ``/ping`` (``hanzo_edge.commands``).
Exit codes: 0 after a clean shutdown (SIGTERM/SIGINT, even during startup), 1 for a configuration error (one line on
stderr naming the option) or a port another instance serves, 2 for a command that does not exist yet. ``check``: 0
clean, 1 any finding; ``explain``: 0 matched, 1 no match, 2 usage error; ``healthcheck``: 0 healthy, 1 otherwise.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hanzo_edge import __version__

if TYPE_CHECKING:
    from hanzo_edge.config.static import StaticConfig
    from hanzo_edge.server.port_guard import PortGuard

__all__ = ["gateway_main", "ingress_main"]

_LEVELS = {
    "TRACE": logging.DEBUG,
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARN": logging.WARNING,
    "WARNING": logging.WARNING,
    "ERROR": logging.ERROR,
    "FATAL": logging.CRITICAL,
    "PANIC": logging.CRITICAL,
}


def _setup_logging(level: str, file_path: str = "") -> None:
    handler: logging.Handler = logging.FileHandler(file_path) if file_path else logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname).3s %(message)s", "%Y-%m-%dT%H:%M:%S%z"))
    root = logging.getLogger("hanzo_edge")
    root.handlers[:] = [handler]
    root.setLevel(_LEVELS.get(level.upper(), logging.ERROR))
    root.propagate = False


class _StopBeforeServing:
    """SIGTERM/SIGINT that arrive while ``ingress`` is still starting mean "stop", not a traceback.

    Importing the data plane and loading the configuration take a moment; a Ctrl-C in that window used to raise
    KeyboardInterrupt (or SIGTERM killed the process) before the event loop's handlers existed. Until they replace
    these handlers, a signal is only recorded, and whoever starts serving checks :attr:`requested` first.
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def install(self) -> _StopBeforeServing:
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._previous[sig] = signal.signal(sig, self._record)
        return self

    def _record(self, _signum: int, _frame: object) -> None:
        self.requested = True

    def restore(self) -> None:
        """Put the previous handlers back (when the command ends without serving)."""
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()


def ingress_main(argv: Sequence[str] | None = None) -> int:
    """Run the ``ingress`` command with ``argv`` (default ``sys.argv[1:]``). Returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "version":
        print(f"hanzo-edge ingress {__version__}")
        return 0
    if args and args[0] in ("check", "explain", "healthcheck"):
        return _run_command(args[0], args[1:])
    if args and args[0] == "crds":
        from hanzo_edge.commands.crds import render_crds

        sys.stdout.write(render_crds())
        return 0
    if any(a in ("-h", "--help", "help") for a in args):
        from hanzo_edge.config.loader import render_help

        print(render_help())
        return 0
    # Before the heavy imports: from here on a stop signal is recorded, not raised.
    early_stop = _StopBeforeServing().install()
    from hanzo_edge.config.errors import ConfigError
    from hanzo_edge.config.loader import load_static

    try:
        static = load_static(args, os.environ)
    except ConfigError as exc:
        early_stop.restore()
        print(f"ingress: {exc}", file=sys.stderr)
        return 1
    _setup_logging(static.log.level, static.log.file_path)
    from hanzo_edge.server.supervisor import WORKER_ENV

    worker = WORKER_ENV in os.environ
    if static.workers > 1 and not worker:
        return _supervise(static, args, early_stop)
    return _serve(static, worker=worker, early_stop=early_stop)


def _run_command(name: str, args: list[str]) -> int:
    """Run ``ingress check``, ``explain`` or ``healthcheck``; print what it says, map its outcome to an exit code."""
    from hanzo_edge.commands import CommandResult, Outcome

    result: CommandResult
    if name == "check":
        from hanzo_edge.commands.check import run_check

        result = run_check(args, os.environ)
    elif name == "explain":
        from hanzo_edge.commands.explain import run_explain

        result = run_explain(args, os.environ)
    else:
        from hanzo_edge.commands.healthcheck import run_healthcheck

        result = run_healthcheck(args, os.environ)
    for line in result.stdout:
        print(line)
    for line in result.stderr:
        print(line, file=sys.stderr)
    exit_codes = {
        Outcome.CLEAN: 0,
        Outcome.MATCHED: 0,
        Outcome.HEALTHY: 0,
        Outcome.PROBLEMS: 1,
        Outcome.UNMATCHED: 1,
        Outcome.UNHEALTHY: 1,
        Outcome.USAGE: 2,
    }
    return exit_codes[result.outcome]


def _claimed_addresses(static: StaticConfig) -> list[tuple[str, str, int]]:
    """``(entrypoint, host, port)`` of every TCP entrypoint this instance must own alone.

    Not claimed: ``reusePort: true`` entrypoints (their owner asked for sharing) and port 0 (a fresh port each bind).
    """
    from hanzo_edge.config.errors import ConfigError
    from hanzo_edge.config.static import parse_address

    claimed = []
    for name, ep in static.entry_points.items():
        if ep.reuse_port:
            continue
        try:
            host, port, protocol = parse_address(ep.address)
        except ConfigError:
            continue  # reported when the entrypoint is started
        if protocol == "tcp" and port != 0:
            claimed.append((name, host, port))
    return claimed


def _claim_ports(static: StaticConfig) -> dict[int, PortGuard] | None:
    """Claim every port of ``static`` for this instance; None (after printing why) when another instance has one."""
    from hanzo_edge.server.port_guard import PortTaken, claim_port

    claims: dict[int, PortGuard] = {}
    for name, _host, port in _claimed_addresses(static):
        if port in claims:
            continue
        try:
            guard = claim_port(port)
        except (PortTaken, OSError) as exc:
            for held in claims.values():
                held.release()
            address = static.entry_points[name].address
            print(f"ingress: entryPoint {name}: address {address} {exc}", file=sys.stderr)
            return None
        if guard is not None:
            claims[port] = guard
    return claims


def _supervise(static: StaticConfig, args: list[str], early_stop: _StopBeforeServing) -> int:
    """``--workers N``: claim the ports, check nothing else listens on them, then run the supervisor."""
    from hanzo_edge.server.port_guard import ensure_bindable
    from hanzo_edge.server.supervisor import run_supervisor

    claims = _claim_ports(static)
    if claims is None:
        return 1
    try:
        for name, host, port in _claimed_addresses(static):
            try:
                ensure_bindable(host, port)
            except OSError as exc:
                address = static.entry_points[name].address
                print(f"ingress: cannot listen: entryPoint {name}: address {address}: {exc}", file=sys.stderr)
                return 1
        grace = max((ep.transport.life_cycle.grace_time_out for ep in static.entry_points.values()), default=10.0)
        return run_supervisor(
            static.workers, args, grace, list(claims.values()), stop_requested=lambda: early_stop.requested
        )
    finally:
        for guard in claims.values():
            guard.release()


def _serve(static: StaticConfig, *, worker: bool, early_stop: _StopBeforeServing) -> int:
    """Serve in this process: alone (claiming the ports first) or as a worker of a supervisor."""
    import asyncio

    import uvloop

    from hanzo_edge.app import IngressApp
    from hanzo_edge.config.errors import ConfigError
    from hanzo_edge.server.malloc_tuning import tune_malloc
    from hanzo_edge.server.supervisor import inherited_guards, watch_lifeline

    tune_malloc()  # keep relayed body buffers in the heap (server/malloc_tuning.py); each worker runs this
    claims = inherited_guards(os.environ) if worker else _claim_ports(static)
    if claims is None:
        return 1

    async def main() -> int:
        app = IngressApp(static, reuse_port=worker)
        app.install_signal_handlers()
        if worker:
            watch_lifeline(asyncio.get_running_loop(), app.request_stop, os.environ)
        if early_stop.requested:
            return 0  # stopped before serving anything: nothing to drain
        try:
            await app.start()
        except ConfigError as exc:
            print(f"ingress: {exc}", file=sys.stderr)
            return 1
        except OSError as exc:
            print(f"ingress: cannot listen: {exc}", file=sys.stderr)
            return 1
        for listener in app.listeners.values():
            guard = claims.pop(listener.port, None)
            if guard is not None:
                listener.hold(guard)
        return await app.serve_until_stopped()

    try:
        return uvloop.run(main())
    finally:
        for guard in claims.values():
            guard.release()


def gateway_main(argv: Sequence[str] | None = None) -> int:
    """Run the ``gateway`` command: ``run -c FILE`` serves a KrakenD v3 ``gateway.json``, ``check -c FILE``
    validates it (0: ``Syntax OK!``, 1: errors with their location, 2: usage), ``version`` prints the version.

    ``run``: 0 after a clean stop, 1 for a file ``check`` rejects (before listening) or an address in use, 2 usage.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    command = args[0] if args else ""
    if command == "version":
        print(f"hanzo-edge gateway {__version__} (KrakenD Version 2.13.8 compatible)")
        return 0
    if command in ("check", "validate"):
        from hanzo_edge.commands.gateway_check import run_gateway_check

        result = run_gateway_check(args[1:], os.environ)
        for line in result.stdout:
            print(line)
        for line in result.stderr:
            print(line, file=sys.stderr)
        return {"clean": 0, "problems": 1}.get(result.outcome.value, 2)
    if command == "run":
        early_stop = _StopBeforeServing().install()
        _setup_logging(os.environ.get("HANZO_GATEWAY_LOG_LEVEL", "INFO"))
        from hanzo_edge.commands.gateway_run import serve_gateway
        from hanzo_edge.server.malloc_tuning import tune_malloc

        tune_malloc()  # as ingress: relayed body buffers stay in the heap (server/malloc_tuning.py)
        return serve_gateway(args[1:], os.environ, lambda: early_stop.requested)
    if command == "ingress":
        # Hanzo's sidecar host router (ingress.json); `gateway ingress check -c FILE` reports on the file.
        early_stop = _StopBeforeServing().install()
        _setup_logging(os.environ.get("HANZO_GATEWAY_LOG_LEVEL", "INFO"))
        from hanzo_edge.commands.gateway_ingress import run_sidecar

        return run_sidecar(args[1:], os.environ, lambda: early_stop.requested)
    print(
        "usage: gateway {run|check} -c FILE [-p PORT] [-d]  |  gateway ingress [check] -c ingress.json"
        "  |  gateway version",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    raise SystemExit(ingress_main())
