"""``ingress explain [static options...] METHOD URL [-H 'Name: value']...``: which router takes a request, and why.

The request is built as the entrypoint builds it from ``curl -X METHOD URL -H ...``: the request-target is the URL's
path and query (origin-form), ``Host`` is the URL's authority unless a ``-H 'Host: ...'`` replaces it; the path is
normalised, checked against the entrypoint's encoded-character policy and sanitised; ``Connection``-listed headers
are dropped and the ``X-Forwarded-*`` headers are stripped (untrusted peer) and completed; the host is canonical;
the client IP is ``127.0.0.1`` unless ``--client-ip``. Then the entrypoint's table is searched like the server does.

Output, one fact per line::

    entrypoint: web
    request: GET /api/x?y=1 (host "app.test", path "/api/x", client 127.0.0.1)
    not matched: admin@file (priority 50): Host(`admin.test`) false: host is "app.test"
    matched: api@file (priority 38): Host(`app.test`) && PathPrefix(`/api`)
    middlewares: none
    service: app@file (loadBalancer, strategy wrr)
    server: http://127.0.0.1:8081 (weight 1)

When more than :data:`FULL_LIST_LIMIT` routers are checked before the match (or without one), they are summarised
instead: one ``summary:`` line counts them by reason (``summary: 9,987 routers not matched: host differs (9,950),
path differs (37); the 5 nearest follow (--all lists every one)``), then the nearest ones get their ``not matched:``
line: the routers that do not fail on the host, fewest failing matchers first (shown in priority order). ``--all``
lists every router as above.

A service that uses other services (``weighted``, ``failover``, ``mirroring``) is followed by ``child:``/``main:``/
``fallback:``/``mirror:`` lines, then by the ``service:`` lines of those services. ``disabled: <router>: <error>``
lines name the routers of that entrypoint the server would disable. Without a match
the last line is ``result: no router matched; the request gets 404 page not found``.
Outcomes: MATCHED, UNMATCHED (no router, or the entrypoint rejects the request before routing), USAGE (bad
arguments, unknown entrypoint, or a configuration that does not load).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from hanzo_edge.app import entrypoint_settings
from hanzo_edge.commands import CommandResult, Outcome
from hanzo_edge.commands.common import Loaded, build_offline, load_dynamic, load_static_config
from hanzo_edge.config.errors import ConfigError
from hanzo_edge.config.runtime import qualify
from hanzo_edge.config.static import EntryPoint
from hanzo_edge.http.messages import Request
from hanzo_edge.http.pipeline import RequestRejected, scan_headers
from hanzo_edge.http.pipeline import build_request as entrypoint_request
from hanzo_edge.http.status import status_text
from hanzo_edge.routing.explain import failed_matchers, failure_kind, rule_syntax, why_not
from hanzo_edge.routing.table import Route
from hanzo_edge.rules import RuleError, compile_rule

__all__ = [
    "FULL_LIST_LIMIT",
    "NEAREST",
    "USAGE",
    "ExplainArgs",
    "Rejected",
    "build_request",
    "explain_request",
    "parse_args",
    "run_explain",
]

USAGE = """\
usage: ingress explain [--configFile=FILE | static options...] [--entrypoint NAME] [--client-ip IP] [--all]
                       METHOD URL [-H 'Name: value']...

Build the routing tables as `ingress` would (without listening), send the request METHOD URL through the
entrypoint's request handling and table, and print the entrypoint, the routers checked before the match and why
each did not match, the matched router (rule, priority), its middleware chain and its service with its servers.
  --entrypoint NAME   the entrypoint that receives the request (default: the first default entrypoint)
  --client-ip IP      the client (socket peer) address (default: 127.0.0.1)
  -H, --header 'Name: value'   a request header (repeatable); 'Host: x' replaces the URL's host
  --all               list every router checked before the match (more than 20 are summarised by reason, with
                      the nearest ones in full)
Exit status: 0 when a router matched, 1 when none did (404), 2 for a usage error or a configuration that does
not load."""

_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_VALUE_OPTIONS = {"--header": "header", "--entrypoint": "entrypoint", "--client-ip": "client_ip"}

FULL_LIST_LIMIT = 20
"""Up to this many routers checked before the match get a ``not matched:`` line each; more are summarised."""
NEAREST = 5
"""How many of the summarised routers are shown in full."""


@dataclass(slots=True)
class ExplainArgs:
    """The parsed command line of ``explain``: the static options go to the configuration loader unchanged."""

    method: str
    url: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    entry_point: str = ""
    client_ip: str = "127.0.0.1"
    show_all: bool = False
    static_args: list[str] = field(default_factory=list)


def _option(arg: str) -> tuple[str, str | None] | None:
    """``(option, inline value or None)`` for one of explain's own options, else None (a static option)."""
    if arg == "-H":
        return "header", None
    if arg.startswith("-H") and ":" in arg:  # curl's -H'Name: value'
        return "header", arg[2:]
    if not arg.startswith("--"):
        return None
    name, eq, value = arg.partition("=")
    key = _VALUE_OPTIONS.get(name.lower())
    if key is None:
        return None
    return key, (value if eq else None)


def _takes_value(arg: str) -> bool:
    option = _option(arg)
    return option is not None and option[1] is None


def parse_args(args: Sequence[str]) -> ExplainArgs:
    """Split ``explain``'s arguments into the request, explain's options and the static options.

    METHOD URL are the last pair of words where URL is absolute (``http://...``). Raises ValueError (a usage error).
    """
    words = list(args)
    pair = None
    for i in range(len(words) - 1):
        if i > 0 and _takes_value(words[i - 1]):
            continue
        if _TOKEN.match(words[i]) and not words[i].startswith("-") and _URL.match(words[i + 1]):
            pair = i
    if pair is None:
        raise ValueError("expected METHOD URL, e.g. GET http://app.test/path")
    parsed = ExplainArgs(method=words[pair], url=words[pair + 1])
    rest = words[:pair] + words[pair + 2 :]
    index = 0
    while index < len(rest):
        arg = rest[index]
        index += 1
        if arg.lower() == "--all":
            parsed.show_all = True
            continue
        option = _option(arg)
        if option is None:
            parsed.static_args.append(arg)
            continue
        key, value = option
        if value is None:
            if index >= len(rest):
                raise ValueError(f"{arg} needs a value")
            value = rest[index]
            index += 1
        if key == "header":
            name, colon, header_value = value.partition(":")
            name = name.strip()
            if not colon or not _TOKEN.match(name):
                raise ValueError(f"invalid header {value!r} (expected 'Name: value')")
            parsed.headers.append((name, header_value.strip()))
        elif key == "entrypoint":
            parsed.entry_point = value
        else:
            parsed.client_ip = value
    return parsed


@dataclass(frozen=True, slots=True)
class Rejected:
    """The entrypoint answers ``status`` before routing (``reason`` says why)."""

    status: int
    reason: str


def build_request(
    method: str,
    url: str,
    headers: Sequence[tuple[str, str]],
    entry_point: str,
    ep: EntryPoint,
    client_ip: str = "127.0.0.1",
) -> Request | Rejected:
    """Return the :class:`Request` entrypoint ``entry_point`` would route for ``curl -X method url -H ...``.

    Raises ValueError for a URL that is not absolute ``http(s)://host/...`` or a header that is not latin-1.
    """
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ValueError(f"URL {url!r} must be absolute: http://host[:port]/path")
    settings = entrypoint_settings(entry_point, ep)
    raw: list[tuple[bytes, bytes]] = []
    user_host = any(name.lower() == "host" for name, _ in headers)
    try:
        if not user_host:
            raw.append((b"Host", parts.netloc.encode("latin-1")))
        raw.extend((name.encode("latin-1"), value.encode("latin-1")) for name, value in headers)
    except UnicodeEncodeError as exc:
        raise ValueError(f"headers and host must be latin-1: {exc}") from None
    path = parts.path or "/"
    target = f"{path}?{parts.query}" if parts.query else path
    # The server's own pipeline (http.pipeline), as HttpProtocol calls it once a head is parsed: explain and the
    # server cannot differ on the Host check, the path policy, Connection handling or the forwarded headers.
    facts = scan_headers(raw, settings)
    try:
        return entrypoint_request(
            settings,
            method,
            "1.1",
            target,
            raw,
            facts.host,
            facts.host_count,
            facts.managed,
            facts.connection,
            facts.upgrade,
            client_ip,
            client_ip.encode("latin-1"),
            0,
        )
    except RequestRejected as exc:
        return Rejected(exc.status, str(exc))


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _syntax(loaded: Loaded, route: Route) -> str:
    info = loaded.routers.get(route.name)
    return rule_syntax(info.model.rule_syntax) if info is not None else "v3"


def _reason(loaded: Loaded, route: Route, req: Request) -> str:
    syntax = _syntax(loaded, route)
    try:
        tree = compile_rule(route.rule, syntax).ast
    except RuleError:
        return "did not match"
    return why_not(tree, req, syntax) or "did not match"


def _middlewares(loaded: Loaded, route: Route, entry_point: str) -> list[str]:
    info = loaded.routers.get(route.name)
    if info is None:
        return list(route.middlewares)
    provider = info.provider
    ep_middlewares = [qualify(m, provider) for m in loaded.entry_point_middlewares.get(entry_point, ())]
    return [*ep_middlewares, *route.middlewares]


_MAX_SERVICES = 32


def _service_lines(loaded: Loaded, route: Route) -> list[str]:
    """``service:`` lines for the route's service and, after it, every service it uses (breadth first)."""
    lines: list[str] = []
    queue = [route.service or route.name]
    seen: set[str] = set()
    while queue and len(seen) < _MAX_SERVICES:
        name = queue.pop(0)
        if name in seen:
            continue
        seen.add(name)
        info = loaded.services.get(name)
        if info is None or info.model is None:
            lines.append(f"service: {name}")
            continue
        provider, service = info.provider, info.model
        lb = service.load_balancer
        # A load balancer's strategy decides which server a request reaches ("" is the builder's wrr too).
        strategy = "" if lb is None else f", strategy {lb.strategy or 'wrr'}"
        lines.append(f"service: {name} ({service.kind}{strategy})")
        if lb is not None:
            lines.extend(f"server: {server.url} (weight {server.weight})" for server in lb.servers)
            if not lb.servers:
                lines.append("server: none (the service answers 503)")
        children: list[str] = []
        for group in (service.weighted, service.highest_random_weight):
            if group is not None:
                for child in group.services:
                    children.append(qualify(child.name, provider))
                    lines.append(f"child: {children[-1]} (weight {child.weight})")
        if service.mirroring is not None:
            children.append(qualify(service.mirroring.service, provider))
            lines.append(f"main: {children[-1]}")
            for mirror in service.mirroring.mirrors:
                children.append(qualify(mirror.name, provider))
                lines.append(f"mirror: {children[-1]} ({mirror.percent}%)")
        if service.failover is not None:
            children.append(qualify(service.failover.service, provider))
            lines.append(f"main: {children[-1]}")
            children.append(qualify(service.failover.fallback, provider))
            lines.append(f"fallback: {children[-1]}")
        queue.extend(children)
    return lines


def _not_matched(loaded: Loaded, route: Route, req: Request) -> str:
    return f"not matched: {route.name} (priority {route.priority}): {_reason(loaded, route, req)}"


def _summary(loaded: Loaded, routes: Sequence[Route], req: Request) -> list[str]:
    """Count ``routes`` (none matched ``req``) by reason and show the nearest ones in full (see the module doc)."""
    reasons: Counter[str] = Counter()
    near: list[tuple[int, int]] = []  # (failing matchers, index in routes)
    for index, route in enumerate(routes):
        if route.hosts is not None and req.host not in route.hosts:
            reasons["host differs"] += 1  # the table's own host index says so: nothing to evaluate
            continue
        syntax = _syntax(loaded, route)
        try:
            failed = failed_matchers(compile_rule(route.rule, syntax).ast, req, syntax) or []
        except RuleError:
            failed = []
        if failed:
            reasons[failure_kind(*failed[0])] += 1
            if failed[0][0].name not in ("Host", "HostRegexp", "HostHeader"):
                near.append((len(failed), index))
        else:
            reasons["did not match"] += 1
            near.append((0, index))
    counts = ", ".join(f"{reason} ({count:,})" for reason, count in reasons.most_common())
    nearest = sorted(index for _, index in sorted(near)[:NEAREST])
    follow = f"; the {len(nearest)} nearest follow" if nearest else ""
    lines = [f"summary: {len(routes):,} routers not matched: {counts}{follow} (--all lists every one)"]
    lines.extend(_not_matched(loaded, routes[index], req) for index in nearest)
    return lines


def explain_request(
    loaded: Loaded, entry_point: str, req: Request, *, show_all: bool = False
) -> tuple[list[str], bool]:
    """Return the lines after ``request:`` for ``req`` on ``entry_point``, and whether a router matched.

    The routers checked before the match are listed one per line when ``show_all`` or when there are at most
    :data:`FULL_LIST_LIMIT` of them; otherwise they are summarised (see the module docstring).
    """
    lines: list[str] = []
    for name, info in sorted(loaded.routers.items()):
        if info.errors and entry_point in info.entry_points:
            lines.extend(f"disabled: {name}: {message}" for message in info.errors)
    table = loaded.build.tables[entry_point]
    matched = table.match(req)
    before: list[Route] = []
    for route in table.routes:
        if route is matched:
            break
        before.append(route)
    if show_all or len(before) <= FULL_LIST_LIMIT:
        lines.extend(_not_matched(loaded, route, req) for route in before)
    else:
        lines.extend(_summary(loaded, before, req))
    if matched is None:
        lines.append("result: no router matched; the request gets 404 page not found")
        return lines, False
    lines.append(f"matched: {matched.name} (priority {matched.priority}): {matched.rule}")
    chain = _middlewares(loaded, matched, entry_point)
    lines.append(f"middlewares: {' -> '.join(chain) if chain else 'none'}")
    lines.extend(_service_lines(loaded, matched))
    return lines, True


def _usage(message: str) -> CommandResult:
    return CommandResult(Outcome.USAGE, [], [f"explain: {message}", "usage: ingress explain --help"])


def run_explain(args: Sequence[str], env: Mapping[str, str]) -> CommandResult:
    """Run ``ingress explain`` with ``args`` (the words after ``explain``) and environment ``env``."""
    if any(arg in ("-h", "--help", "help") for arg in args):
        return CommandResult(Outcome.CLEAN, USAGE.splitlines())
    try:
        parsed = parse_args(args)
        static = load_static_config(parsed.static_args, env)
    except (ValueError, ConfigError) as exc:
        return _usage(str(exc))
    try:
        dynamic = load_dynamic(static)
    except ConfigError as exc:
        return CommandResult(Outcome.USAGE, [], [f"explain: {exc}"])
    # A file that does not load is left out, as the server leaves it out: say so, and explain with the rest.
    notes = [f"explain: {error} (left out, as ingress does)" for error in dynamic.errors]
    loaded = build_offline(static, dynamic.snapshots)
    entry_point = parsed.entry_point or next(iter(loaded.default_entry_points or static.entry_points))
    ep = static.entry_points.get(entry_point)
    if ep is None:
        known = ", ".join(static.entry_points)
        return _usage(f"no entrypoint {entry_point!r} (entrypoints: {known})")
    try:
        req = build_request(parsed.method, parsed.url, parsed.headers, entry_point, ep, parsed.client_ip)
    except ValueError as exc:
        return _usage(str(exc))
    lines = [f"entrypoint: {entry_point}"]
    if isinstance(req, Rejected):
        answer = f"{req.status} {status_text(req.status)}"
        lines.append(f"result: the entrypoint answers {answer} before routing ({req.reason})")
        return CommandResult(Outcome.UNMATCHED, lines, notes)
    lines.append(
        f"request: {req.method} {req.target} (host {_quote(req.host)}, path {_quote(req.routing_path)}, "
        f"client {req.client_ip})"
    )
    more, matched = explain_request(loaded, entry_point, req, show_all=parsed.show_all)
    lines.extend(more)
    return CommandResult(Outcome.MATCHED if matched else Outcome.UNMATCHED, lines, notes)
