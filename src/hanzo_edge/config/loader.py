"""Load the static configuration from exactly one source: a file, CLI flags, or environment variables.

Everything here is derived from the `StaticConfig` model through `_schema.struct_spec`: flag names, env var names,
file keys, value types and help. No option is listed anywhere else.

Source selection (Traefik's loaders are mutually exclusive, `cmd/traefik/traefik.go`):

1. ``--configFile=PATH`` → that file. Other flags are an error (Traefik silently ignores them), except Hanzo
   additions that are process settings rather than configuration (``--workers``), which override the file.
2. any other flag → flags only.
3. no flag → the first of ``traefik.toml|yaml|yml`` in ``/etc/traefik``, ``$XDG_CONFIG_HOME``, ``$HOME/.config``
   and the working directory (Traefik also looks there when flags are given; we do not, so flags always win).
4. no file → environment variables ``TRAEFIK_*`` and ``HANZO_INGRESS_*`` (the latter wins on conflicts).
5. nothing → defaults.

Flags: ``--a.b.c=v`` or ``--a.b.c v`` (one or two dashes), case-insensitive path segments, map keys as written,
``[n]`` for list items (``--entrypoints.ws.http.tls.domains[0].main=x``), bare booleans and sections
(``--ping`` = ``--ping=true``), comma-separated lists, durations as seconds or Go strings.

Environment: ``TRAEFIK_ENTRYPOINTS_WEB_ADDRESS=:8080``. Since ``_`` is both the separator and a legal character in
map keys, segments are resolved against the model with backtracking (the shortest map key that lets the rest
resolve wins). Map keys are lower-cased, as in Traefik. Variables whose first segment is not a top-level option
(e.g. Kubernetes' ``TRAEFIK_PORT`` service links) are ignored, as paerser does; a bad deeper path is an error.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hanzo_edge.config._schema import Kind, StructSpec, TypeSpec, struct_spec
from hanzo_edge.config.decode import DecodeContext, Path, decode_into, dotted
from hanzo_edge.config.documents import Document, read_document
from hanzo_edge.config.durations import format_duration
from hanzo_edge.config.errors import ConfigError
from hanzo_edge.config.static import StaticConfig
from hanzo_edge.config.types import FrozenDict

__all__ = ["ENV_PREFIXES", "find_config_file", "load_static", "load_static_file", "render_help"]

ENV_PREFIXES = ("TRAEFIK_", "HANZO_INGRESS_")
_CONFIG_FILE_FLAG = "configfile"
_FILE_OVERRIDABLE = frozenset({"workers"})
_SEGMENT = re.compile(r"^([^\[\]]*)((?:\[\d+\])*)$")
_NO_VALUE_KINDS = frozenset({Kind.BOOL})


class _Tree:
    """A nested raw tree keyed by canonical (wire) names, plus how the user spelled each path."""

    def __init__(self) -> None:
        self.root: dict[Any, Any] = {}
        self.spelled: dict[Path, str] = {}

    def insert(self, path: Path, value: Any, spelling: Sequence[str]) -> None:
        node = self.root
        for depth, part in enumerate(path[:-1]):
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child  # a bare "--ping" followed by "--ping.entryPoint=x" becomes a section
            node = child
            self.spelled.setdefault(path[: depth + 1], spelling[depth])
        last = path[-1]
        if isinstance(node.get(last), dict) and value is True:
            pass  # "--ping.entryPoint=x --ping": the section already exists
        else:
            node[last] = value
        self.spelled[path] = spelling[-1]


def _split_segments(name: str) -> list[tuple[str, list[int]]] | None:
    out: list[tuple[str, list[int]]] = []
    for segment in name.split("."):
        match = _SEGMENT.match(segment)
        if match is None or not match.group(1):
            return None
        indexes = [int(i) for i in re.findall(r"\[(\d+)\]", match.group(2))]
        out.append((match.group(1), indexes))
    return out


def _resolve_flag(root: StructSpec, name: str) -> tuple[Path, TypeSpec, list[str]] | None:
    """Return (canonical path, leaf type, per-element user spelling) for a dotted flag name, or None if unknown."""
    segments = _split_segments(name)
    if segments is None:
        return None
    spec = TypeSpec(Kind.STRUCT, cls=root.cls)
    path: list[str | int] = []
    spelling: list[str] = []
    position = 0
    while position < len(segments):
        segment, indexes = segments[position]
        position += 1
        if spec.kind is Kind.STRUCT:
            field = spec.struct.lookup(segment)
            if field is None:
                return None
            path.append(field.wire)
            spec = field.type
        elif spec.kind is Kind.MAP and spec.item is not None:
            rest = segments[position:]
            if spec.item.kind is Kind.STR and rest and not indexes and not any(ix for _, ix in rest):
                # A string map's key may itself contain dots (``resourceAttributes.deployment.environment``).
                segment = ".".join([segment, *(name for name, _ in rest)])
                position = len(segments)
            path.append(segment)
            spec = spec.item
        elif spec.kind is Kind.ANY:
            path.append(segment)
        else:
            return None
        spelling.append(segment)
        for index in indexes:
            if spec.kind is Kind.LIST and spec.item is not None:
                spec = spec.item
            elif spec.kind is not Kind.ANY:
                return None
            path.append(index)
            spelling.append(f"[{index}]")
    return tuple(path), spec, spelling


def _takes_no_value(spec: TypeSpec) -> bool:
    return spec.kind in _NO_VALUE_KINDS or spec.kind is Kind.STRUCT or (spec.kind is Kind.MAP and spec.optional)


def _flag_display(tree: _Tree, prefix: str) -> Callable[[Path], str]:
    def display(path: Path) -> str:
        for cut in range(len(path), 0, -1):
            spelled = tree.spelled.get(path[:cut])
            if spelled is not None:
                rest = dotted(path[cut:])
                if rest and not rest.startswith("["):
                    rest = "." + rest
                return prefix + _join_spelling(tree, path[:cut]) + rest
        return prefix + dotted(path)

    return display


def _join_spelling(tree: _Tree, path: Path) -> str:
    out = ""
    for cut in range(1, len(path) + 1):
        part = tree.spelled.get(path[:cut], str(path[cut - 1]))
        out += part if part.startswith("[") or not out else "." + part
    return out


def _parse_flags(argv: Sequence[str], root: StructSpec) -> tuple[_Tree, str | None, list[str]]:
    """Return (tree of flag values, --configFile value or None, displays of the flags in order)."""
    tree = _Tree()
    config_file: str | None = None
    shown: list[str] = []
    index = 0
    while index < len(argv):
        arg = argv[index]
        index += 1
        if not arg.startswith("-") or arg in ("-", "--"):
            raise ConfigError(arg, "unexpected argument (options are written --name=value)")
        body = arg.lstrip("-")
        dashes = arg[: len(arg) - len(body)]
        name, has_value, value = body.partition("=")
        display = dashes + name
        if name.lower() == _CONFIG_FILE_FLAG:
            if not has_value:
                if index >= len(argv):
                    raise ConfigError(display, "missing value")
                value = argv[index]
                index += 1
            config_file = value
            continue
        resolved = _resolve_flag(root, name)
        if resolved is None:
            raise ConfigError(display, "unknown option")
        path, leaf, spelling = resolved
        raw: Any = value
        if not has_value:
            if _takes_no_value(leaf):
                raw = True
            elif index < len(argv):
                raw = argv[index]
                index += 1
            else:
                raise ConfigError(display, "missing value")
        tree.insert(path, raw, spelling)
        shown.append(display)
    return tree, config_file, shown


# ------------------------------------------------------------------------------------------------------- env vars


def _resolve_env(spec: TypeSpec, tokens: list[str], start: int) -> tuple[list[str | int], TypeSpec] | None:
    if start == len(tokens):
        return [], spec
    token = tokens[start]
    kind = spec.kind
    if kind is Kind.STRUCT:
        field = spec.struct.lookup(token)
        if field is None:
            return None
        rest = _resolve_env(field.type, tokens, start + 1)
        return ([field.wire, *rest[0]], rest[1]) if rest else None
    if kind is Kind.MAP and spec.item is not None:
        item = spec.item
        if item.kind not in (Kind.STRUCT, Kind.MAP, Kind.ANY) and not (
            item.kind is Kind.LIST and item.item is not None and item.item.kind is Kind.STRUCT
        ):
            return ["_".join(tokens[start:])], item
        # A section value needs at least one more token for its own fields ("..._WEB_ADDRESS", not "..._WEB").
        last = len(tokens) if item.kind is not Kind.STRUCT else len(tokens) - 1
        for end in range(start + 1, last + 1):
            rest = _resolve_env(item, tokens, end)
            if rest is not None:
                return ["_".join(tokens[start:end]), *rest[0]], rest[1]
        return None
    if kind is Kind.LIST and spec.item is not None and token.isdigit():
        rest = _resolve_env(spec.item, tokens, start + 1)
        return ([int(token), *rest[0]], rest[1]) if rest else None
    if kind is Kind.ANY:
        return list(tokens[start:]), spec
    return None


def _parse_env(env: Mapping[str, str], root: StructSpec) -> tuple[_Tree, dict[Path, str]]:
    tree = _Tree()
    names: dict[Path, str] = {}
    for prefix in ENV_PREFIXES:  # later prefixes override earlier ones
        for var in sorted(env):
            if not var.upper().startswith(prefix):
                continue
            tokens = var[len(prefix) :].lower().split("_")
            if not tokens[0] or root.lookup(tokens[0]) is None:
                continue  # not ours (e.g. TRAEFIK_PORT from a Kubernetes service link), as paerser ignores it
            resolved = _resolve_env(TypeSpec(Kind.STRUCT, cls=root.cls), tokens, 0)
            if resolved is None or any(p == "" for p in resolved[0]):
                raise ConfigError(var, "unknown option")
            path = tuple(resolved[0])
            tree.insert(path, env[var], [str(p) for p in path])
            names[path] = var
    return tree, names


def _env_display(names: dict[Path, str]) -> Callable[[Path], str]:
    def display(path: Path) -> str:
        if path in names:
            return names[path]
        return ENV_PREFIXES[0] + "_".join(str(p).upper() for p in path)

    return display


# ---------------------------------------------------------------------------------------------------------- files


def find_config_file(env: Mapping[str, str], cwd: str | None = None) -> str | None:
    """Return the first existing ``traefik.toml|yaml|yml`` in Traefik's lookup directories, or None.

    Directories, in order: ``/etc/traefik``, ``$XDG_CONFIG_HOME``, ``$HOME/.config``, `cwd` (default: the
    process working directory). Unset variables are skipped.
    """
    bases = ["/etc/traefik"]
    if env.get("XDG_CONFIG_HOME"):
        bases.append(env["XDG_CONFIG_HOME"])
    if env.get("HOME"):
        bases.append(os.path.join(env["HOME"], ".config"))
    bases.append(cwd if cwd is not None else os.getcwd())
    for base in bases:
        for ext in ("toml", "yaml", "yml"):
            candidate = os.path.join(base, f"traefik.{ext}")
            if os.path.isfile(candidate):
                return candidate
    return None


def load_static_file(filename: str) -> StaticConfig:
    """Return the effective `StaticConfig` read from the YAML/TOML file `filename` (keys case-insensitive).

    Raises:
        ConfigError: unreadable file, syntax error, unknown option or invalid value; ``str()`` starts with
            ``file:line`` for YAML.
    """
    document = read_document(filename)
    return _from_document(document, {})


def _from_document(document: Document, overrides: dict[Any, Any]) -> StaticConfig:
    data = document.data if document.data is not None else {}
    if not isinstance(data, Mapping):
        raise ConfigError("", "the static configuration must be a mapping", location=document.locate(()))
    if overrides:
        data = {**data, **overrides}
    ctx = DecodeContext(unknown="error", locate=document.locate)
    config = decode_into(StaticConfig, data, ctx)
    return _finish(config, ctx)


# ----------------------------------------------------------------------------------------------------------- load


def load_static(
    argv: Sequence[str],
    env: Mapping[str, str],
    *,
    cwd: str | None = None,
    search: bool = True,
) -> StaticConfig:
    """Return the effective static configuration from `argv` (without the program name) and `env`.

    Exactly one source is used; see the module docstring for the order. `cwd` is the last directory searched for
    ``traefik.yml`` (default: the working directory); ``search=False`` disables that lookup (tests).
    Traefik's implicit entry points are applied (`StaticConfig.effective`), and every entry point address is
    validated.

    Raises:
        ConfigError: unknown option, invalid value, missing value, unreadable/invalid file, or ``--configFile``
            combined with other options. ``str()`` is one line naming the option as written, e.g.
            ``--entrypoints.web.adress: unknown option``.
    """
    root = struct_spec(StaticConfig)
    tree, config_file, shown = _parse_flags(argv, root)
    if config_file is not None:
        others = [
            (path, value)
            for path, value in tree.root.items()
            if not (isinstance(path, str) and path.lower() in _FILE_OVERRIDABLE)
        ]
        if others:
            first = next(s for s in shown if s.lstrip("-").split(".")[0].lower() not in _FILE_OVERRIDABLE)
            raise ConfigError(first, "cannot be combined with --configFile (configuration sources are exclusive)")
        return _from_document(read_document(config_file), dict(tree.root))
    if tree.root:
        ctx = DecodeContext(unknown="error", display=_flag_display(tree, "--"))
        return _finish(decode_into(StaticConfig, tree.root, ctx), ctx)
    if search:
        found = find_config_file(env, cwd)
        if found is not None:
            return _from_document(read_document(found), {})
    env_tree, names = _parse_env(env, root)
    ctx = DecodeContext(unknown="error", display=_env_display(names))
    return _finish(decode_into(StaticConfig, env_tree.root, ctx), ctx)


def _finish(config: StaticConfig, ctx: DecodeContext) -> StaticConfig:
    for name, entry_point in config.entry_points.items():
        try:
            entry_point.parsed_address()
        except ConfigError as exc:
            raise ctx.error(("entryPoints", name, "address"), exc.message) from None
    return config.effective()


# ----------------------------------------------------------------------------------------------------------- help


def render_help() -> str:
    """Return the help text listing every static option as a flag, with its type, default and description.

    Map keys are shown as ``<name>`` and list items as ``[n]``, e.g.
    ``--entrypoints.<name>.transport.respondingTimeouts.idleTimeout``.
    """
    lines: list[str] = [
        "Static configuration options (flags; also TRAEFIK_*/HANZO_INGRESS_* env vars or a --configFile).",
        "Paths are case-insensitive. Durations: seconds or Go strings (10s, 100ms). Lists: comma-separated.",
        "",
        "  --configFile  (string)  Configuration file to use (YAML or TOML); excludes other options.",
    ]
    _help_struct(struct_spec(StaticConfig), "--", lines)
    return "\n".join(lines) + "\n"


def _help_line(lines: list[str], name: str, kind: str, description: str) -> None:
    lines.append(f"  {name}  ({kind})  {description}".rstrip())


def _format_default(value: Any, spec: TypeSpec) -> str:
    if value is None or isinstance(value, FrozenDict) or value == () or value == "":
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if spec.kind is Kind.DURATION and isinstance(value, (int, float)):
        return format_duration(float(value))
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def _help_struct(spec: StructSpec, prefix: str, lines: list[str]) -> None:
    for field in spec.fields:
        name = prefix + field.shown
        _help_type(field.type, name, field.description, field.required, field.default_value(), lines)


def _help_type(spec: TypeSpec, name: str, description: str, required: bool, default: Any, lines: list[str]) -> None:
    kind = spec.kind
    if kind is Kind.STRUCT:
        if spec.optional:
            _help_line(lines, name, "section: enabled by presence", description)
        _help_struct(spec.struct, name + ".", lines)
        return
    if kind is Kind.MAP and spec.item is not None:
        item = spec.item
        if spec.optional:
            _help_line(lines, name, "section: enabled by presence", description)
        if item.kind is Kind.STRUCT:
            _help_struct(item.struct, name + ".<name>.", lines)
        elif item.kind is Kind.ANY:
            _help_line(lines, name + ".<name>...", "raw", description)
        else:
            _help_line(lines, name + ".<name>", item.describe(), description)
        return
    if kind is Kind.LIST and spec.item is not None and spec.item.kind is Kind.STRUCT:
        _help_struct(spec.item.struct, name + "[n].", lines)
        return
    label = "raw" if kind is Kind.ANY else spec.describe()
    if required:
        label += ", required"
    else:
        shown = _format_default(default, spec)
        if shown:
            label += f", default: {shown}"
    _help_line(lines, name, label, description)
