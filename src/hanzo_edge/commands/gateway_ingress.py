"""``gateway ingress -c ingress.json``: serve Hanzo's sidecar file; ``gateway ingress check -c FILE`` (or
``--check``) reports on it without listening.

``check`` prints ``Parsing configuration file: FILE``, each warning (``WARNING $.path (line L, column C): message``:
nginx-style regex paths, duplicate hosts, repeated paths, unknown keys) and each error, then ``Syntax OK!`` when
there is no error. Exit codes, as ``gateway check``: 0 without errors (warnings never change it), 1 with errors, 2
for bad arguments. Serving checks first the same way: errors exit 1 before listening; warnings are logged. The
listen address is the file's ``listen`` unless ``-l/--listen`` overrides it. SIGTERM/SIGINT drain (15 s) and exit 0.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from hanzo_edge.commands.flag_values import MissingFlagValue, split_flags
from hanzo_edge.gateway.sidecar.document import SidecarConfig, load_sidecar

__all__ = ["check_sidecar", "run_sidecar", "serve_sidecar"]

log = logging.getLogger("hanzo_edge.gateway.sidecar")

USAGE = "usage: gateway ingress [check|--check] -c ingress.json [-l ADDRESS] [-d]"


@dataclass(frozen=True, slots=True)
class SidecarArgs:
    config: str
    listen: str = ""
    check: bool = False
    debug: bool = False


def parse_sidecar_args(args: Sequence[str]) -> SidecarArgs | str:
    """Parse the arguments after ``gateway ingress``; a string is the usage error."""
    config = listen = ""
    check = debug = False
    items = list(args)
    if items and items[0] == "check":
        check = True
        items = items[1:]
    try:
        for arg, value in split_flags(items, ("-c", "--config", "-l", "--listen")):
            if value is not None:
                if arg in ("-c", "--config"):
                    config = value
                else:
                    listen = value
            elif arg == "--check":
                check = True
            elif arg in ("-d", "--debug"):
                debug = True
            else:
                return f"unknown argument {arg!r}\n{USAGE}"
    except MissingFlagValue as exc:
        return f"flag needs an argument: {exc.flag}\n{USAGE}"
    if not config:
        return f"missing -c ingress.json\n{USAGE}"
    return SidecarArgs(config, listen, check, debug)


def check_sidecar(config: SidecarConfig) -> tuple[list[str], list[str]]:
    """The lines ``check`` prints: (stdout, stderr)."""
    out = [f"Parsing configuration file: {config.source}"]
    err: list[str] = []
    if config.syntax_error:
        err.append(f"ERROR parsing the configuration file: {config.syntax_error}")
        return out, err
    out += [f"WARNING {config.render(w)}" for w in config.warnings]
    err += [f"ERROR {config.render(e)}" for e in config.errors]
    if config.ok:
        hosts = len(config.hosts)
        out.append(f"Syntax OK! ({hosts} host{'s' if hosts != 1 else ''}, {len(config.warnings)} warning(s))")
    return out, err


def run_sidecar(args: Sequence[str], env: Mapping[str, str], stop_requested: Callable[[], bool]) -> int:
    """``gateway ingress ...``: check or serve. Returns the exit code."""
    parsed = parse_sidecar_args(args)
    if isinstance(parsed, str):
        print(parsed, file=sys.stderr)
        return 2
    config = load_sidecar(parsed.config)
    if parsed.check:
        out, err = check_sidecar(config)
        for line in out:
            print(line)
        for line in err:
            print(line, file=sys.stderr)
        return 0 if config.ok else 1
    return serve_sidecar(config, parsed, env, stop_requested)


def serve_sidecar(
    config: SidecarConfig, parsed: SidecarArgs, env: Mapping[str, str], stop_requested: Callable[[], bool]
) -> int:
    """Serve ``config`` until stopped (errors: exit 1 before listening)."""
    if not config.ok:
        _, err = check_sidecar(config)
        for line in err:
            print(f"gateway ingress: {line}", file=sys.stderr)
        return 1
    for warning in config.warnings:
        log.warning("%s: %s", config.source, config.render(warning))
    from hanzo_edge.gateway.hanzo.settings import HanzoSettings, SettingsError

    try:
        settings = HanzoSettings.from_env(env)
    except SettingsError as exc:
        print(f"gateway ingress: {exc}", file=sys.stderr)
        return 1

    import uvloop

    from hanzo_edge.config.errors import ConfigError
    from hanzo_edge.gateway.sidecar.app import SidecarApp, sidecar_static

    try:
        static = sidecar_static(parsed.listen or config.listen, "DEBUG" if parsed.debug else "INFO")
    except ConfigError as exc:
        print(f"gateway ingress: listen: {exc}", file=sys.stderr)
        return 1

    async def main() -> int:
        app = SidecarApp(static, config, settings)
        app.install_signal_handlers()
        if stop_requested():
            return 0
        try:
            await app.start({})
        except OSError as exc:
            print(f"gateway ingress: cannot listen: {exc}", file=sys.stderr)
            return 1
        for listener in app.listeners.values():
            log.info(
                "ingress sidecar: %d hosts from %s on %s:%d",
                len(config.hosts),
                config.source,
                listener.host or "*",
                listener.port,
            )
        return await app.serve_until_stopped()

    return uvloop.run(main())
