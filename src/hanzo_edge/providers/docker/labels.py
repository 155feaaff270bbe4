"""Container labels → one container's dynamic configuration, with Traefik's label syntax.

Traefik's label decoder is generic: the ``traefik.``-prefixed keys under ``http``, ``tcp``, ``udp`` and ``tls`` become a
tree (one level per ``.``, ``name[0]`` is item 0 of a list) that is decoded into the dynamic model like any
document. Here the tree goes through :func:`hanzo_edge.config.dynamic.decode_dynamic`, the decoder of files, so
every option a file takes is a label too, keys are case-insensitive and lists may be comma-separated. No option is
special-cased except the one the model cannot hold: a load balancer's single ``server`` (``port``, ``scheme``,
``url``), which the provider turns into the server of the container (see :mod:`.build`).

A leaf and a section at the same key (``...tls=true`` with ``...tls.certresolver=x``) is a section, as in Traefik;
any other value there is an error. Errors name the container and the label.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hanzo_edge.config.dynamic import Configuration, decode_dynamic
from hanzo_edge.config.errors import ConfigError, ConfigWarning

__all__ = ["ContainerLabels", "ExtraLabels", "ServerLabels", "decode_extra", "decode_labels"]

_ROOTS = ("http", "tcp", "udp", "tls")  # Traefik's label.DecodeConfiguration filters
_SEGMENT = re.compile(r"^([^\[\]]+)((?:\[\d+\])*)$")
_INDEX = re.compile(r"\[(\d+)\]")


@dataclass(slots=True)
class ServerLabels:
    """What ``<proto>.services.<s>.loadbalancer.server.*`` says: port, scheme, url and the other server options."""

    port: str = ""
    scheme: str = ""
    url: str = ""
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ContainerLabels:
    """The decoded ``traefik.http|tcp|udp|tls.*`` labels of one container and its per-service ``server`` labels."""

    config: Configuration
    warnings: list[ConfigWarning]
    servers: dict[tuple[str, str], ServerLabels]  # (http|tcp|udp, service name) -> server labels


@dataclass(frozen=True, slots=True)
class ExtraLabels:
    """The provider's own labels: ``traefik.enable``, ``traefik.docker.network``, ``traefik.docker.allownonrunning``."""

    enable: bool
    network: str
    allow_non_running: bool


_TRUE = frozenset({"true", "t", "1", "yes", "on"})
_FALSE = frozenset({"false", "f", "0", "no", "off"})


def _bool_text(value: Any) -> bool | None:
    """Return a label's boolean (Go's ``strconv.ParseBool`` spellings and the decoder's), or None."""
    text = str(value).strip().lower()
    return True if text in _TRUE else False if text in _FALSE else None


def _label_error(container: str, label: str, message: str) -> ConfigError:
    return ConfigError(label, message, location=f"container {container}")


def decode_extra(labels: Mapping[str, str], container: str, *, exposed_by_default: bool, network: str) -> ExtraLabels:
    """Return the provider labels of ``container`` with the static defaults.

    Raises:
        ConfigError: a boolean label that is not a boolean (naming the container and the label).
    """
    flags: dict[str, bool] = {}
    values = {"traefik.enable": exposed_by_default, "traefik.docker.allownonrunning": False}
    chosen_network = network
    for key, value in labels.items():
        lowered = key.lower()
        if lowered in values:
            flag = _bool_text(value)
            if flag is None:
                raise _label_error(container, key, f"invalid boolean {value!r}")
            flags[lowered] = flag
        elif lowered == "traefik.docker.network":
            chosen_network = value
    return ExtraLabels(
        enable=flags.get("traefik.enable", exposed_by_default),
        network=chosen_network,
        allow_non_running=flags.get("traefik.docker.allownonrunning", False),
    )


def _tree(labels: Mapping[str, str], container: str) -> tuple[dict[str, Any], dict[tuple[str | int, ...], str]]:
    """Return the nested tree of the ``traefik.(http|tcp|udp).*`` labels and, per tree path, the label's name."""
    root: dict[str, Any] = {}
    names: dict[tuple[str | int, ...], str] = {}
    for key in sorted(labels):
        parts = key.split(".")
        if len(parts) < 3 or parts[0].lower() != "traefik" or parts[1].lower() not in _ROOTS:
            continue
        path: list[str | int] = []
        for segment in parts[1:]:
            match = _SEGMENT.match(segment)
            if match is None:
                raise _label_error(container, key, f"invalid label key segment {segment!r}")
            path.append(match.group(1))
            path.extend(int(i) for i in _INDEX.findall(match.group(2)))
        _insert(root, path, labels[key], key, container)
        names[tuple(path)] = key
    return root, names


def _insert(root: dict[Any, Any], path: list[str | int], value: str, label: str, container: str) -> None:
    node = root
    for depth, raw_part in enumerate(path):
        last = depth == len(path) - 1
        # Keys are case-insensitive (``traefik.HTTP.Services`` and ``traefik.http.services`` are one section):
        # the first spelling met (labels are visited in sorted order) is the one kept.
        part = raw_part if isinstance(raw_part, int) else _same_key(node, raw_part)
        existing = node.get(part)
        if last:
            if isinstance(existing, dict):
                if _bool_text(value) is not True:  # ``x=true`` next to ``x.y=...`` only enables the section
                    raise _label_error(container, label, "has both a value and sub-options (contradictory labels)")
                return
            node[part] = value
            return
        if existing is None:
            existing = node[part] = {}
        elif not isinstance(existing, dict):
            if _bool_text(existing) is not True:
                raise _label_error(container, label, "has both a value and sub-options (contradictory labels)")
            existing = node[part] = {}
        node = existing


def _same_key(node: dict[Any, Any], part: str) -> str:
    if part in node:
        return part
    lowered = part.lower()
    for key in node:
        if isinstance(key, str) and key.lower() == lowered:
            return key
    return part


def _take_servers(tree: dict[str, Any]) -> dict[tuple[str, str], ServerLabels]:
    """Remove every ``services.<s>.loadbalancer.server`` section from ``tree`` and return them by service."""
    found: dict[tuple[str, str], ServerLabels] = {}
    for proto, section in tree.items():
        if not isinstance(section, dict):
            continue
        for key, services in section.items():
            if key.lower() != "services" or not isinstance(services, dict):
                continue
            for service, body in services.items():
                if not isinstance(body, dict):
                    continue
                for lb_key, lb in body.items():
                    if lb_key.lower() != "loadbalancer" or not isinstance(lb, dict):
                        continue
                    for server_key in [k for k in lb if isinstance(k, str) and k.lower() == "server"]:
                        server = lb.pop(server_key)
                        found[(proto.lower(), service)] = _server_labels(server)
    return found


def _server_labels(server: Any) -> ServerLabels:
    out = ServerLabels()
    if not isinstance(server, dict):
        return out
    for key, value in server.items():
        lowered = key.lower() if isinstance(key, str) else key
        if lowered == "port":
            out.port = str(value)
        elif lowered == "scheme":
            out.scheme = str(value)
        elif lowered in ("url", "address"):
            out.url = str(value)
        else:
            out.options[key] = value
    return out


def decode_labels(labels: Mapping[str, str], container: str) -> ContainerLabels:
    """Decode the ``traefik.http|tcp|udp.*`` labels of ``container`` (its name, for messages).

    Raises:
        ConfigError: a malformed or contradictory label, a wrong type, or a service with several kinds; the path
            is the label (``traefik.http.routers.web.priority``), the location ``container <name>``.
    """
    tree, names = _tree(labels, container)
    servers = _take_servers(tree)
    try:
        config, warnings = decode_dynamic(tree, source=f"container {container}")
    except ConfigError as exc:
        raise ConfigError(_label_name(exc.path, names), exc.message, location=exc.location) from None
    shown = [ConfigWarning(_label_name(w.path, names), w.message, w.location) for w in warnings]
    return ContainerLabels(config, shown, servers)


def _label_name(dotted_path: str, names: Mapping[tuple[str | int, ...], str]) -> str:
    """Return the label a decoder path names: the exact label when one matches, else ``traefik.<path>``."""
    wanted = "traefik." + dotted_path
    for label in names.values():
        if label.lower() == wanted.lower():
            return label
    return wanted
