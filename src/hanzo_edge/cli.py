"""The ``ingress`` and ``gateway`` commands. The only module that decides exit codes.

``ingress [flags]`` serves; ``ingress version`` prints the version; ``ingress --help`` lists every static option;
``ingress check`` and ``ingress explain`` report on a configuration without serving (``hanzo_edge.commands``).
Exit codes: 0 after a clean shutdown, 1 for a configuration error (one line on stderr naming the option), 2 for a
command that does not exist yet. ``check``: 0 clean, 1 any finding; ``explain``: 0 matched, 1 no match, 2 usage error.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence

from hanzo_edge import __version__

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


def ingress_main(argv: Sequence[str] | None = None) -> int:
    """Run the ``ingress`` command with ``argv`` (default ``sys.argv[1:]``). Returns the exit code."""
    from hanzo_edge.config.errors import ConfigError
    from hanzo_edge.config.loader import load_static, render_help

    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "version":
        print(f"hanzo-edge ingress {__version__}")
        return 0
    if args and args[0] in ("check", "explain"):
        return _run_command(args[0], args[1:])
    if any(a in ("-h", "--help", "help") for a in args):
        print(render_help())
        return 0
    try:
        static = load_static(args, os.environ)
    except ConfigError as exc:
        print(f"ingress: {exc}", file=sys.stderr)
        return 1
    _setup_logging(static.log.level, static.log.file_path)
    from hanzo_edge.server.supervisor import WORKER_ENV, run_supervisor

    if static.workers > 1 and WORKER_ENV not in os.environ:
        grace = max((ep.transport.life_cycle.grace_time_out for ep in static.entry_points.values()), default=10.0)
        return run_supervisor(static.workers, args, grace)
    return _serve(static, reuse_port=WORKER_ENV in os.environ)


def _run_command(name: str, args: list[str]) -> int:
    """Run ``ingress check`` or ``ingress explain``, print what it says and map its outcome to the exit code."""
    from hanzo_edge.commands import CommandResult, Outcome

    result: CommandResult
    if name == "check":
        from hanzo_edge.commands.check import run_check

        result = run_check(args, os.environ)
    else:
        from hanzo_edge.commands.explain import run_explain

        result = run_explain(args, os.environ)
    for line in result.stdout:
        print(line)
    for line in result.stderr:
        print(line, file=sys.stderr)
    exit_codes = {Outcome.CLEAN: 0, Outcome.MATCHED: 0, Outcome.PROBLEMS: 1, Outcome.UNMATCHED: 1, Outcome.USAGE: 2}
    return exit_codes[result.outcome]


def _serve(static: object, *, reuse_port: bool) -> int:
    import uvloop

    from hanzo_edge.app import IngressApp
    from hanzo_edge.config.errors import ConfigError
    from hanzo_edge.config.static import StaticConfig

    if not isinstance(static, StaticConfig):
        raise TypeError("static must be a StaticConfig")

    async def main() -> int:
        app = IngressApp(static, reuse_port=reuse_port)
        app.install_signal_handlers()
        try:
            await app.start()
        except ConfigError as exc:
            print(f"ingress: {exc}", file=sys.stderr)
            return 1
        except OSError as exc:
            print(f"ingress: cannot listen: {exc}", file=sys.stderr)
            return 1
        return await app.serve_until_stopped()

    return uvloop.run(main())


def gateway_main(argv: Sequence[str] | None = None) -> int:
    """Run the ``gateway`` command. Not implemented yet: prints so and returns 2."""
    print("gateway: not yet implemented", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(ingress_main())
