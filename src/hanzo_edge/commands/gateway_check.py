"""``gateway check -c FILE``: validate a ``gateway.json`` without listening or calling anything.

Prints ``Parsing configuration file: FILE``, then each warning (``WARNING $.path (line L, column C): message``) and
each error (``ERROR ...``), then ``Syntax OK!`` when there is no error. Outcome CLEAN (exit 0) with or without
warnings; PROBLEMS (exit 1) for any error; USAGE (exit 2) for bad arguments. The endpoints are built exactly as
``gateway run`` builds them (services, middlewares, the gin table), so a file ``check`` accepts is one ``run``
serves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hanzo_edge.commands import CommandResult, Outcome
from hanzo_edge.commands.flag_values import MissingFlagValue, split_flags
from hanzo_edge.gateway.document import GatewayDocument, load_document
from hanzo_edge.gateway.errors import format_path
from hanzo_edge.gateway.translate import Translation, translate_document

__all__ = ["GatewayArgs", "check_gateway", "parse_gateway_args", "run_gateway_check"]

USAGE = "usage: gateway {run|check} -c FILE [-p PORT] [-d]"


@dataclass(frozen=True, slots=True)
class GatewayArgs:
    """``-c/--config FILE``, ``-p/--port PORT`` (run), ``-d/--debug``."""

    config: str
    port: int | None = None
    debug: bool = False


def parse_gateway_args(args: Sequence[str]) -> GatewayArgs | str:
    """Parse the flags of ``gateway run`` / ``gateway check``; a string is the usage error."""
    config = ""
    port: int | None = None
    debug = False
    try:
        for arg, value in split_flags(args, ("-c", "--config", "-p", "--port")):
            if value is not None:
                if arg in ("-c", "--config"):
                    config = value
                else:
                    try:
                        port = int(value)
                    except ValueError:
                        return f"invalid port {value!r}\n{USAGE}"
            elif arg in ("-d", "--debug") or (arg.startswith("-d") and set(arg[1:]) == {"d"}):
                debug = True
            elif arg in ("-l", "--lint", "-n", "--lint-no-network", "-t", "--test-gin-routes", "-i", "--indent"):
                pass  # KrakenD's check options: our check always does what they add that we can do offline
            else:
                return f"unknown flag {arg!r}\n{USAGE}"
    except MissingFlagValue as exc:
        return f"flag needs an argument: {exc.flag}\n{USAGE}"
    if not config:
        return f"a configuration file is required (-c FILE)\n{USAGE}"
    return GatewayArgs(config, port, debug)


def check_gateway(path: str, env: Mapping[str, str]) -> tuple[GatewayDocument, Translation | None, list[str]]:
    """Load and translate ``path``; return the document, translation and the error lines (empty when fine)."""
    doc = load_document(path, env)
    if doc.syntax_error:
        return doc, None, [f"ERROR parsing the configuration file: {doc.syntax_error}"]
    translation = translate_document(doc)
    errors = translation.errors if translation is not None else doc.errors
    lines = [f"ERROR {_where(doc, e.path)}: {e.message}" for e in errors]
    if translation is not None and not lines:
        lines = _build_errors(translation)
    return doc, translation, lines


def _where(doc: GatewayDocument, path: tuple[str | int, ...]) -> str:
    located = doc.locate(path)
    return f"{format_path(path)} ({located})" if located else format_path(path)


def _build_errors(translation: Translation) -> list[str]:
    """Build the endpoints offline as ``run`` would; a router the builder disables is an error of its endpoint."""
    from hanzo_edge.gateway.server import GatewayApp, gateway_static

    app = GatewayApp(gateway_static("127.0.0.1", 0), translation)
    result = app.build(app.initial_snapshots())
    lines = []
    for name, messages in result.errors.items():
        for message in messages:
            lines.append(f"ERROR {name}: {message}")
    return lines


def run_gateway_check(args: Sequence[str], env: Mapping[str, str]) -> CommandResult:
    """``gateway check``: see the module docstring."""
    parsed = parse_gateway_args(args)
    if isinstance(parsed, str):
        return CommandResult(Outcome.USAGE, stderr=parsed.splitlines())
    result = CommandResult(Outcome.CLEAN, stdout=[f"Parsing configuration file: {parsed.config}"])
    doc, translation, errors = check_gateway(parsed.config, env)
    warnings = translation.warnings if translation is not None else doc.warnings
    for warning in warnings:
        result.stdout.append(f"WARNING {_where(doc, warning.path)}: {warning.message}")
    from hanzo_edge.gateway.hanzo.check import check_environment

    # The Hanzo environment (AUTH_*, WIDGET_*, GATEWAY_ROUTES_FILE) is checked as run would read it.
    hanzo_errors, hanzo_warnings = check_environment(env)
    result.stdout.extend(hanzo_warnings)
    errors = [*errors, *hanzo_errors]
    if errors:
        result.stderr.extend(errors)
        result.outcome = Outcome.PROBLEMS
        return result
    result.stdout.append("Syntax OK!")
    return result
