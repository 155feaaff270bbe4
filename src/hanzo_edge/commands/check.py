"""``ingress check``: load the configuration as ``ingress`` would, build the tables offline, and report problems.

One line per finding on stdout, then a one-line summary on stderr:

* ``ERROR <file>:<line>: <path>: <message>`` — the static configuration or a dynamic file does not load;
* ``WARNING <file>:<line>: <path>: <message>`` — a configuration warning (unknown key, duplicate definition...);
* ``ERROR router <name>: <message>`` / ``ERROR service <name>: <message>`` — a router or service the server would
  disable;
* ``SHADOWED router <b> (priority 20) on entrypoint web can never match: <a> (priority 25) matches first`` — see
  :func:`hanzo_edge.routing.explain.find_shadows` (sound: a router is reported only when that is proved).

The outcome is :attr:`Outcome.CLEAN` when there is no finding at all, else :attr:`Outcome.PROBLEMS`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from hanzo_edge.commands import CommandResult, Outcome
from hanzo_edge.commands.common import Loaded, build_offline, load_dynamic, load_static_config
from hanzo_edge.config.errors import ConfigError
from hanzo_edge.routing.explain import Shadow, find_shadows

__all__ = ["USAGE", "check_findings", "run_check", "shadows_of"]

USAGE = """\
usage: ingress check [--configFile=FILE | static options...]

Load the static configuration (same sources and options as `ingress`) and the file provider's dynamic
configuration, build every entrypoint's routing table without listening, and print one line per finding:
  ERROR <location>: ...                     a configuration that does not load
  WARNING <location>: ...                   a configuration warning (file:line and option path)
  ERROR router|service <name>: ...          a router or service the server would disable
  SHADOWED router <name> (priority N) ...   a router that can never match (a router checked first always matches)
Exit status: 0 when there is no finding, 1 otherwise."""

# What build_tables records against a router; anything else recorded under a name is that service's error. Only
# needed when a router and a service share a name (BuildResult.errors is keyed by name alone).
_ROUTER_MESSAGE = re.compile(
    r"^(invalid rule |middlewares are not supported|TLS routers|entryPoint )"
    r"|^the service (is missing on the router|\S+ does not exist|\S+ could not be built)$"
)


def _kind(name: str, message: str, loaded: Loaded) -> str:
    is_router = name in loaded.routers
    is_service = name in loaded.services
    if is_router and is_service:
        return "router " if _ROUTER_MESSAGE.search(message) else "service "
    if is_router:
        return "router "
    if is_service:
        return "service "
    return ""


def _syntax_of(loaded: Loaded) -> dict[str, str]:
    return {name: router.rule_syntax for name, (_, router) in loaded.routers.items()}


def _intended(shadow: Shadow, loaded: Loaded) -> bool:
    """True for the usual redirection set-up: a router on the default entrypoints (so also on the redirecting
    ``web``) is covered there by the internal ``web-to-websecure@internal`` router. That is the point of the
    redirection, not a mistake; a router that names the redirecting entrypoint itself is still reported."""
    if not (shadow.by.endswith("@internal") and shadow.by.startswith(f"{shadow.entry_point}-to-")):
        return False
    entry = loaded.routers.get(shadow.router)
    return entry is not None and not entry[1].entry_points


def shadows_of(loaded: Loaded) -> list[Shadow]:
    """Return the shadowed routers of every entrypoint, entrypoints in configuration order."""
    syntaxes = _syntax_of(loaded)
    found: list[Shadow] = []
    for entry_point in loaded.static.entry_points:
        table = loaded.build.tables.get(entry_point)
        if table is not None:
            shadows = find_shadows(entry_point, table, syntaxes.get)
            found.extend(shadow for shadow in shadows if not _intended(shadow, loaded))
    return found


def check_findings(loaded: Loaded) -> list[str]:
    """Return the ERROR, WARNING and SHADOWED lines for an offline build (configuration warnings not included)."""
    lines = [f"{'WARNING' if level == 'WARNING' else 'ERROR'} {message}" for level, message in loaded.logged]
    for name in sorted(loaded.build.errors):
        seen: set[str] = set()
        for message in loaded.build.errors[name]:
            if message not in seen:
                seen.add(message)
                lines.append(f"ERROR {_kind(name, message, loaded)}{name}: {message}")
    lines.extend(str(shadow) for shadow in shadows_of(loaded))
    return lines


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def run_check(args: Sequence[str], env: Mapping[str, str]) -> CommandResult:
    """Run ``ingress check`` with ``args`` (the words after ``check``) and environment ``env``."""
    if any(arg in ("-h", "--help", "help") for arg in args):
        return CommandResult(Outcome.CLEAN, USAGE.splitlines())
    try:
        static = load_static_config(args, env)
    except ConfigError as exc:
        return CommandResult(Outcome.PROBLEMS, [f"ERROR {exc}"], ["check: the static configuration does not load"])
    try:
        snapshots, warnings = load_dynamic(static)
    except ConfigError as exc:
        return CommandResult(Outcome.PROBLEMS, [f"ERROR {exc}"], ["check: the dynamic configuration does not load"])
    loaded = build_offline(static, snapshots)
    lines = [f"WARNING {warning}" for warning in warnings]
    lines.extend(check_findings(loaded))
    routers = len(loaded.routers)
    if not lines:
        summary = f"check: OK ({_plural(routers, 'router')}, {_plural(len(loaded.build.tables), 'entrypoint')})"
        return CommandResult(Outcome.CLEAN, [], [summary])
    counts = {kind: sum(1 for line in lines if line.startswith(kind)) for kind in ("ERROR", "WARNING", "SHADOWED")}
    summary = (
        f"check: {_plural(counts['ERROR'], 'error')}, {_plural(counts['WARNING'], 'warning')}, "
        f"{_plural(counts['SHADOWED'], 'shadowed router')}"
    )
    return CommandResult(Outcome.PROBLEMS, lines, [summary])
