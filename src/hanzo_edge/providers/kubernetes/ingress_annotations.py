"""The ``traefik.ingress.kubernetes.io/*`` annotations Traefik v3.6 reads on Ingresses and Services.

Traefik turns the annotations into labels (``router.tls.domains.0.main`` becomes ``router.tls.domains[0].main``)
and decodes them with its label decoder, whose rules are kept here:

* keys are case-insensitive (``router.tls.certresolver`` and ``router.tls.certResolver`` are the same option);
* lists are comma-separated (``router.entrypoints: web,websecure``), booleans are Go's ``strconv.ParseBool``;
* a section is created by any of its keys, or by the section itself set to ``true`` (``router.tls: "true"``,
  ``service.sticky.cookie: "true"``);
* a key that names no option is an error: Traefik then skips the whole Ingress (router annotations) or the
  backend using the Service (service annotations), and so do we, naming the annotation.

On an Ingress only ``router.*`` keys are read; on a Service only ``service.*`` keys.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from hanzo_edge.config.dynamic import RouterObservability, RouterTLS, RouterTLSDomain
from hanzo_edge.config.services import Cookie, Sticky

__all__ = [
    "ANNOTATIONS_PREFIX",
    "PATH_MATCHERS",
    "AnnotationError",
    "RouterAnnotations",
    "ServiceAnnotations",
    "parse_router_annotations",
    "parse_service_annotations",
]

ANNOTATIONS_PREFIX = "traefik.ingress.kubernetes.io/"

PATH_MATCHERS = frozenset({"Path", "PathPrefix", "PathRegexp"})
"""The values ``router.pathmatcher`` may take: the matcher is written into the rule unquoted, so anything else
could inject rule syntax (Traefik restricts it too)."""

_INDEXED = re.compile(r"^(.+)\.(\w+)\.(\d+)\.(.+)$")
_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


class AnnotationError(ValueError):
    """An annotation that does not decode; ``str()`` names it and says why."""


@dataclass(frozen=True, slots=True)
class RouterAnnotations:
    """What the ``router.*`` annotations of one Ingress set (None/empty: not set)."""

    path_matcher: str = ""
    entry_points: tuple[str, ...] = ()
    middlewares: tuple[str, ...] = ()
    priority: int = 0
    rule_syntax: str = ""
    tls: RouterTLS | None = None
    observability: RouterObservability | None = None


@dataclass(frozen=True, slots=True)
class ServiceAnnotations:
    """What the ``service.*`` annotations of one Service set."""

    servers_scheme: str = ""
    servers_transport: str = ""
    pass_host_header: bool = True
    sticky: Sticky | None = None
    native_lb: bool | None = None
    node_port_lb: bool = False


@dataclass(slots=True)
class _Labels:
    """The annotations under one root (``router`` or ``service``) as ``{lower-case dotted key: (original, value)}``."""

    items: dict[str, tuple[str, str]] = field(default_factory=dict)

    def take(self, key: str) -> tuple[str, str] | None:
        return self.items.pop(key, None)

    def has_prefix(self, prefix: str) -> bool:
        return any(key == prefix or key.startswith(prefix + ".") for key in self.items)


def _labels(annotations: Mapping[str, str], root: str) -> _Labels:
    labels = _Labels()
    for key, value in annotations.items():
        if not key.startswith(ANNOTATIONS_PREFIX):
            continue
        label = key[len(ANNOTATIONS_PREFIX) :]
        match = _INDEXED.match(label)
        if match:
            label = f"{match[1]}.{match[2]}[{match[3]}].{match[4]}"
        lowered = label.lower()
        if lowered == root or lowered.startswith(root + "."):
            labels.items[lowered] = (key, value)
    return labels


def _bool(entry: tuple[str, str]) -> bool:
    key, value = entry
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise AnnotationError(f'annotation "{key}": invalid boolean "{value}"')


def _int(entry: tuple[str, str]) -> int:
    key, value = entry
    text = value.strip()
    digits = text[1:] if text[:1] in "+-" else text
    if not digits.isascii() or not digits.isdigit():
        raise AnnotationError(f'annotation "{key}": invalid integer "{value}"')
    return int(text)


def _list(entry: tuple[str, str]) -> tuple[str, ...]:
    return tuple(part.strip() for part in entry[1].split(",") if part.strip())


def _unknown(labels: _Labels) -> None:
    if labels.items:
        key = sorted(original for original, _ in labels.items.values())[0]
        raise AnnotationError(f'annotation "{key}": no such option')


def _section_enabled(labels: _Labels, key: str) -> bool | None:
    """``key: "true"`` enables a section, ``"false"`` disables it; None when the key itself is not set."""
    entry = labels.take(key)
    return None if entry is None else _bool(entry)


def parse_router_annotations(annotations: Mapping[str, str]) -> RouterAnnotations:
    """Return the router options of an Ingress's annotations.

    Raises:
        AnnotationError: an annotation names no option or its value does not decode.
    """
    labels = _labels(annotations, "router")
    labels.take("router")
    result: dict[str, object] = {}
    scalar: dict[str, tuple[str, Callable[[tuple[str, str]], object]]] = {
        "router.pathmatcher": ("path_matcher", lambda e: e[1]),
        "router.entrypoints": ("entry_points", _list),
        "router.middlewares": ("middlewares", _list),
        "router.priority": ("priority", _int),
        "router.rulesyntax": ("rule_syntax", lambda e: e[1]),
    }
    for key, (attr, convert) in scalar.items():
        entry = labels.take(key)
        if entry is not None:
            result[attr] = convert(entry)
    tls = _router_tls(labels)
    observability = _router_observability(labels)
    _unknown(labels)
    return RouterAnnotations(tls=tls, observability=observability, **result)  # type: ignore[arg-type]


def _router_tls(labels: _Labels) -> RouterTLS | None:
    enabled = _section_enabled(labels, "router.tls")
    if not labels.has_prefix("router.tls"):
        return RouterTLS() if enabled else None
    options = labels.take("router.tls.options")
    resolver = labels.take("router.tls.certresolver")
    domains: dict[int, dict[str, object]] = {}
    for key in [k for k in labels.items if k.startswith("router.tls.domains[")]:
        match = re.fullmatch(r"router\.tls\.domains\[(\d+)\]\.(main|sans)", key)
        if match is None:
            continue
        entry = labels.take(key)
        if entry is None:
            continue
        domain = domains.setdefault(int(match[1]), {})
        domain[match[2]] = entry[1] if match[2] == "main" else _list(entry)
    return RouterTLS(
        options=options[1] if options else "",
        cert_resolver=resolver[1] if resolver else "",
        domains=tuple(
            RouterTLSDomain(main=str(d.get("main", "")), sans=tuple(d.get("sans", ())))  # type: ignore[arg-type]
            for _, d in sorted(domains.items())
        ),
    )


def _router_observability(labels: _Labels) -> RouterObservability | None:
    enabled = _section_enabled(labels, "router.observability")
    if not labels.has_prefix("router.observability"):
        return RouterObservability() if enabled else None
    values: dict[str, object] = {}
    for key, attr in (
        ("router.observability.accesslogs", "access_logs"),
        ("router.observability.metrics", "metrics"),
        ("router.observability.tracing", "tracing"),
    ):
        entry = labels.take(key)
        if entry is not None:
            values[attr] = _bool(entry)
    verbosity = labels.take("router.observability.traceverbosity")
    if verbosity is not None:
        values["trace_verbosity"] = verbosity[1]
    return RouterObservability(**values)  # type: ignore[arg-type]


def parse_service_annotations(annotations: Mapping[str, str]) -> ServiceAnnotations:
    """Return the service options of a Service's annotations.

    Raises:
        AnnotationError: an annotation names no option or its value does not decode.
    """
    labels = _labels(annotations, "service")
    labels.take("service")
    scheme = labels.take("service.serversscheme")
    transport = labels.take("service.serverstransport")
    pass_host = labels.take("service.passhostheader")
    native = labels.take("service.nativelb")
    node_port = labels.take("service.nodeportlb")
    sticky = _sticky(labels)
    _unknown(labels)
    return ServiceAnnotations(
        servers_scheme=scheme[1] if scheme else "",
        servers_transport=transport[1] if transport else "",
        pass_host_header=_bool(pass_host) if pass_host else True,
        sticky=sticky,
        native_lb=_bool(native) if native else None,
        node_port_lb=_bool(node_port) if node_port else False,
    )


def _sticky(labels: _Labels) -> Sticky | None:
    sticky_enabled = _section_enabled(labels, "service.sticky")
    cookie_enabled = _section_enabled(labels, "service.sticky.cookie")
    if not labels.has_prefix("service.sticky.cookie"):
        if cookie_enabled or (cookie_enabled is None and sticky_enabled):
            return Sticky(cookie=Cookie())
        return None
    values: dict[str, object] = {}
    for key, attr, convert in (
        ("service.sticky.cookie.name", "name", lambda e: e[1]),
        ("service.sticky.cookie.secure", "secure", _bool),
        ("service.sticky.cookie.httponly", "http_only", _bool),
        ("service.sticky.cookie.samesite", "same_site", lambda e: e[1]),
        ("service.sticky.cookie.maxage", "max_age", _int),
        ("service.sticky.cookie.path", "path", lambda e: e[1]),
        ("service.sticky.cookie.domain", "domain", lambda e: e[1]),
    ):
        entry = labels.take(key)
        if entry is not None:
            values[attr] = convert(entry)
    return Sticky(cookie=Cookie(**values))  # type: ignore[arg-type]
