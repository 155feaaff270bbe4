"""``ingress check``: load the configuration as ``ingress`` would, build the tables offline, and report problems.

One line per finding on stdout, then a one-line summary on stderr:

* ``ERROR <file>:<line>: <path>: <message>`` — the static configuration or a dynamic file does not load (a dynamic
  file that does not load is left out and the others are checked, as the server serves them);
* ``ERROR|WARNING <provider>: <Kind> <ns>/<name>: <message>`` — an object a Kubernetes provider cannot use; a
  Kubernetes provider is read from its cluster when the cluster answers, else ``WARNING providers.<name>: not
  checked: <why>`` (:mod:`hanzo_edge.commands.check_kube`);
* ``WARNING <path>: parsed, not supported yet`` — a static option that is set but does nothing yet (the server logs
  the same line at startup; see :mod:`hanzo_edge.config.support`);
* ``WARNING <file>:<line>: <path>: <message>`` — a configuration warning (unknown key, duplicate definition...);
* ``ERROR router|service|middleware <name>: <message>`` — what the server would disable, every error of each
  (errors are recorded by kind, so a router and a service of the same name are never confused);
* ``WARNING router <name>: the rule uses v2 syntax ...`` — v2 syntax under the v3 rule syntax, which fails or never
  matches as meant (:mod:`hanzo_edge.routing.v2_hints`), with the v3 form;
* ``SHADOWED router <b> (priority 20) on entrypoint web can never match: <a> (priority 25) matches first`` — see
  :func:`hanzo_edge.routing.explain.find_shadows` (sound: a router is reported only when that is proved).

The outcome is :attr:`Outcome.CLEAN` when there is no finding at all, else :attr:`Outcome.PROBLEMS` (warnings
included: a check that passes means nothing was ignored).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from hanzo_edge.commands import CommandResult, Outcome
from hanzo_edge.commands.check_kube import check_kubernetes
from hanzo_edge.commands.common import Loaded, build_offline, load_dynamic, load_static_config
from hanzo_edge.config.errors import ConfigError
from hanzo_edge.config.support import unsupported_options
from hanzo_edge.routing.explain import Shadow, find_shadows, rule_syntax
from hanzo_edge.routing.v2_hints import v2_syntax_hint

__all__ = ["USAGE", "check_findings", "run_check", "shadows_of"]

USAGE = """\
usage: ingress check [--configFile=FILE | static options...]

Load the static configuration (same sources and options as `ingress`) and the file provider's dynamic
configuration (and each Kubernetes provider's, read once from its cluster when it answers within 3s), build every
entrypoint's routing table without listening, and print one line per finding:
  ERROR <location>: ...                     a configuration that does not load (a bad dynamic file is left out)
  WARNING <option>: parsed, not supported yet   a static option that does nothing yet
  WARNING providers.<kube>: not checked: ...  a Kubernetes provider whose cluster could not be read
  WARNING <location>: ...                   a configuration warning (file:line and option path)
  ERROR router|service|middleware <name>: ...   what the server would disable (every error of each)
  WARNING router <name>: ...                v2 rule syntax under the v3 syntax, with the v3 form
  SHADOWED router <name> (priority N) ...   a router that can never match (a router checked first always matches)
Exit status: 0 when there is no finding, 1 otherwise (warnings included)."""


def _syntax_of(loaded: Loaded) -> dict[str, str]:
    return {name: info.model.rule_syntax for name, info in loaded.routers.items()}


def _intended(shadow: Shadow, loaded: Loaded) -> bool:
    """True for the usual redirection set-up: a router on the default entrypoints (so also on the redirecting
    ``web``) is covered there by the internal ``web-to-websecure@internal`` router. That is the point of the
    redirection, not a mistake; a router that names the redirecting entrypoint itself is still reported."""
    if not (shadow.by.endswith("@internal") and shadow.by.startswith(f"{shadow.entry_point}-to-")):
        return False
    info = loaded.routers.get(shadow.router)
    return info is not None and not info.model.entry_points


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


def _disabled(loaded: Loaded) -> list[str]:
    """``ERROR <kind> <name>: <message>`` lines, by name; a service's errors before the router they disable."""
    runtime = loaded.runtime
    # A missing middleware has no record: it is reported on the routers that reference it.
    by_kind = (
        ("service", {name: info.errors for name, info in runtime.services.items() if info.errors}),
        ("middleware", {name: info.errors for name, info in runtime.middlewares.items() if info.errors}),
        ("router", {name: info.errors for name, info in loaded.routers.items() if info.errors}),
        # TCP and UDP objects (routing/tcp_build.py), after the HTTP ones of the same name.
        ("tcp service", {name: info.errors for name, info in runtime.tcp_services.items() if info.errors}),
        ("tcp middleware", {name: info.errors for name, info in runtime.tcp_middlewares.items() if info.errors}),
        ("tcp router", {name: info.errors for name, info in runtime.tcp_routers.items() if info.errors}),
        ("udp service", {name: info.errors for name, info in runtime.udp_services.items() if info.errors}),
        ("udp router", {name: info.errors for name, info in runtime.udp_routers.items() if info.errors}),
    )
    lines: list[str] = []
    for name in sorted({name for _, errors in by_kind for name in errors}):
        for kind, errors in by_kind:
            lines.extend(f"ERROR {kind} {name}: {message}" for message in dict.fromkeys(errors.get(name, ())))
    return lines


def _v2_hints(loaded: Loaded) -> list[str]:
    lines: list[str] = []
    for name in sorted(loaded.routers):
        router = loaded.routers[name].model
        if rule_syntax(router.rule_syntax) == "v3":
            hint = v2_syntax_hint(router.rule)
            if hint is not None:
                lines.append(f"WARNING router {name}: {hint}")
    return lines


def check_findings(loaded: Loaded) -> list[str]:
    """Return the ERROR, WARNING and SHADOWED lines for an offline build (configuration warnings not included)."""
    lines = [f"{'WARNING' if level == 'WARNING' else 'ERROR'} {message}" for level, message in loaded.logged]
    lines.extend(_disabled(loaded))
    lines.extend(_v2_hints(loaded))
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
        dynamic = load_dynamic(static)
    except ConfigError as exc:
        return CommandResult(Outcome.PROBLEMS, [f"ERROR {exc}"], ["check: the dynamic configuration does not load"])
    kube = check_kubernetes(static)
    loaded = build_offline(static, {**dynamic.snapshots, **kube.snapshots})
    lines = [f"ERROR {error}" for error in dynamic.errors]
    lines.extend(kube.lines)
    lines.extend(f"WARNING {option}" for option in unsupported_options(static))
    lines.extend(f"WARNING {warning}" for warning in dynamic.warnings)
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
