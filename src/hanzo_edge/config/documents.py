"""Parse YAML/TOML configuration documents and map option paths back to ``file:line`` for messages.

YAML is parsed with libyaml (`yaml.CSafeLoader`). Line numbers are found lazily: only when a message needs one do we
compose the node tree and walk it, so the common (valid) case pays nothing extra. TOML (stdlib `tomllib`) keeps no
positions, so TOML messages name the file only, except syntax errors, which carry tomllib's line.
"""

from __future__ import annotations

import gc
import re
import sys
import tomllib
from collections.abc import Callable
from typing import Any

import yaml

from hanzo_edge.config.errors import ConfigError

__all__ = ["DOCUMENT_SUFFIXES", "Document", "parse_document", "read_document"]

DOCUMENT_SUFFIXES = (".yml", ".yaml", ".toml")
_TOML_LINE = re.compile(r"\(at line (\d+), column \d+\)")

Path = tuple[str | int, ...]


class Document:
    """Parsed data of one configuration file plus a path → ``file:line`` locator.

    Attributes:
        name: the file name as given (used in messages).
        data: the parsed content (None for an empty file).
    """

    __slots__ = ("_root", "_text", "data", "is_yaml", "name")

    def __init__(self, name: str, data: Any, text: str, *, is_yaml: bool) -> None:
        self.name = name
        self.data = data
        self.is_yaml = is_yaml
        self._text = text
        self._root: yaml.Node | None = None

    def locate(self, path: Path) -> str:
        """Return ``name:line`` of the deepest node of `path` found in the file (``name`` if unknown)."""
        line = self.line_of(path) if self.is_yaml else None
        return f"{self.name}:{line}" if line else self.name

    def line_of(self, path: Path) -> int | None:
        """Return the 1-based line where the option at `path` is written, or the nearest enclosing one; None if none."""
        if self._root is None:
            try:
                self._root = yaml.compose(self._text, Loader=yaml.CSafeLoader)
            except yaml.YAMLError:
                return None
            if self._root is None:
                return None
        node: yaml.Node = self._root
        line: int | None = node.start_mark.line + 1
        for part in path:
            found = _child(node, part)
            if found is None:
                break
            mark_node, node = found
            line = mark_node.start_mark.line + 1
        return line


def _child(node: yaml.Node, part: str | int) -> tuple[yaml.Node, yaml.Node] | None:
    if isinstance(node, yaml.MappingNode):
        wanted = str(part)
        fallback = None
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value == wanted:
                    return key, value
                if fallback is None and key.value.lower() == wanted.lower():
                    fallback = (key, value)
        return fallback
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        item: yaml.Node = node.value[part]
        return item, item
    return None


def parse_document(text: str, name: str) -> Document:
    """Return the `Document` parsed from `text`; the format comes from the suffix of `name` (.yml/.yaml/.toml).

    Raises:
        ConfigError: unsupported suffix, or a syntax error (location ``name:line``, message ``invalid YAML: ...``
            or ``invalid TOML: ...``).
    """
    lowered = name.lower()
    if lowered.endswith((".yml", ".yaml")):
        try:
            data = _load_yaml(text)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            location = f"{name}:{mark.line + 1}" if mark is not None else name
            problem = exc.problem or exc.context or "syntax error"
            raise ConfigError("", f"invalid YAML: {problem}", location=location) from None
        except yaml.YAMLError as exc:
            raise ConfigError("", f"invalid YAML: {exc}", location=name) from None
        except UnicodeEncodeError as exc:  # a lone surrogate from a reader: libyaml takes UTF-8 only
            raise ConfigError("", f"invalid YAML: text is not valid Unicode ({exc.reason})", location=name) from None
        return Document(name, data, text, is_yaml=True)
    if lowered.endswith(".toml"):
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            message = str(exc)
            match = _TOML_LINE.search(message)
            location = f"{name}:{match.group(1)}" if match else name
            message = _TOML_LINE.sub("", message).strip()
            raise ConfigError("", f"invalid TOML: {message}", location=location) from None
        return Document(name, data, text, is_yaml=False)
    raise ConfigError("", "unsupported file extension (expected .yml, .yaml or .toml)", location=name)


def read_document(filename: str, *, reader: Callable[[str], str] | None = None) -> Document:
    """Return the `Document` read from `filename` (UTF-8).

    Raises:
        ConfigError: the file cannot be read or parsed (location = the file name).
    """
    try:
        if reader is not None:
            text = reader(filename)
        else:
            with open(filename, encoding="utf-8") as handle:
                text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError("", f"cannot read file: {reason}", location=filename) from None
    return parse_document(text, filename)


def _load_yaml(text: str) -> Any:
    """Parse YAML with libyaml into the data ``yaml.load(text, Loader=yaml.CSafeLoader)`` returns, the cyclic GC paused.

    Plain documents (nearly every configuration) are built straight from libyaml's events (:func:`_load_from_events`);
    anything else (anchors and aliases, merge keys, collection tags, several documents, a scalar whose construction
    fails) is composed into PyYAML's node tree and built by PyYAML's own constructor, so the result, the sharing of
    aliased objects and the errors are PyYAML's. A scalar PyYAML cannot construct (``!!int abc``, an impossible
    date such as ``2024-02-30``) raises a located ``ConstructorError`` instead of PyYAML's bare ValueError, and an
    alias inside its own anchor (which Traefik's YAML decoder refuses) a located ``ComposerError``.
    """
    enabled = gc.isenabled()
    gc.disable()  # a document is a tree: collections during the load find nothing, and cost half the time
    try:
        loader = yaml.CSafeLoader(text)
        try:
            return _load_from_events(loader)
        except _NeedsNodes:
            pass  # the node tree below handles the rest, exactly as PyYAML does
        finally:
            loader.dispose()
        loader = yaml.CSafeLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            _check_aliases(node)
            data = _construct_with_pyyaml(node, loader)
        finally:
            loader.dispose()
        _shed_nodes(node)
        return data
    finally:
        if enabled:
            gc.enable()


def _construct_with_pyyaml(root: yaml.Node, loader: Any) -> Any:
    """Return PyYAML's data for the composed ``root``; a scalar it cannot construct raises a located error.

    PyYAML's constructor (not a recursive walk of ours) keeps its semantics: one object per anchor however often it
    is aliased (a walk copying each alias grows exponentially with nested aliases), no recursion limit at 1,000
    levels, merge keys flattened. Its constructors raise bare ValueError/KeyError/IndexError/AttributeError for
    values their tag cannot hold; the scalar responsible is found again to name its line.
    """
    try:
        return loader.construct_document(root)
    except yaml.YAMLError:
        raise
    except MemoryError:
        raise
    except Exception as exc:  # ValueError, KeyError, IndexError, AttributeError...: whatever a constructor raised
        culprit = _failing_scalar(root, loader)
        mark = culprit.start_mark if culprit is not None else root.start_mark
        tag = culprit.tag if culprit is not None else root.tag
        value = culprit.value if culprit is not None else ""
        problem = f"cannot construct {_short_tag(tag)} from {value!r} ({type(exc).__name__}: {exc})"
        raise yaml.constructor.ConstructorError(None, None, problem, mark) from None


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_TAG) :] if tag.startswith(_TAG) else tag


def _failing_scalar(root: yaml.Node, loader: Any) -> yaml.ScalarNode | None:
    """The first scalar, in document order, that PyYAML's constructor cannot build on its own."""
    loader.constructed_objects = {}  # left as the failed construction left them: its culprit still "in progress"
    loader.recursive_objects = {}
    loader.state_generators = []
    stack: list[yaml.Node] = [root]
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            try:
                loader.construct_object(node, deep=True)
            except yaml.YAMLError:
                continue  # PyYAML's own (located) error would have been raised as such
            except Exception:  # whatever the tag's constructor raised marks the culprit
                return node
            continue
        children = node.value
        if isinstance(node, yaml.MappingNode):
            stack.extend(child for pair in reversed(children) for child in reversed(pair))
        else:
            stack.extend(reversed(children))
    return None


def _check_aliases(root: yaml.Node) -> None:
    """Refuse, with a located ``ComposerError``, what aliases can make of a small file (Traefik's decoder refuses both).

    An alias inside the collection it refers to (``a: &a [*a]``): PyYAML builds a cyclic object, on which the typed
    decoding would recurse without end (Go: ``anchor 'a' value contains itself``). Nested aliases whose expansion
    is huge (ten levels of ten aliases: 10**10 values from 100 lines): PyYAML shares one object per anchor, but the
    decoding of schema-less settings walks every occurrence (Go: ``document contains excessive aliasing``). The
    walk is iterative (nesting can be 1,000 deep) and counts each distinct node once.
    """
    on_path: set[int] = set()
    expanded: dict[int, int] = {}  # a finished collection -> its node count with every alias expanded
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, leaving = stack.pop()
        key = id(node)
        if leaving:
            on_path.discard(key)
            expanded[key] = 1 + sum(
                1 if isinstance(child, yaml.ScalarNode) else expanded[id(child)]
                for item in node.value
                for child in (item if isinstance(item, tuple) else (item,))
            )
            continue
        if isinstance(node, yaml.ScalarNode) or key in expanded:
            continue
        if key in on_path:
            raise yaml.composer.ComposerError(
                None,
                None,
                "an alias refers to a collection that contains it (its value contains itself)",
                node.start_mark,
            )
        on_path.add(key)
        stack.append((node, True))
        for item in node.value:
            stack.extend((child, False) for child in (item if isinstance(item, tuple) else (item,)))
    total = expanded.get(id(root), 1)
    if total > max(MAX_EXPANDED_NODES, 10 * len(expanded)):
        raise yaml.composer.ComposerError(
            None,
            None,
            f"document contains excessive aliasing ({total} values once aliases are expanded)",
            root.start_mark,
        )


MAX_EXPANDED_NODES = 1_000_000
"""Collections and scalars a document may hold once its aliases are expanded (or ten times its distinct
collections, if more): far past any configuration (10,000 routers sharing a middleware chain by alias: ~100,000)."""


class _NeedsNodes(Exception):
    """The document uses something :func:`_load_from_events` leaves to the node tree (raised before any effect)."""


_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_NO_KEY = object()  # a mapping on the stack waits for its next key
_SHARED_STRING_MAX = 64  # names, keys, short values; longer ones (rules, URLs with paths) are rarely repeated


def _load_from_events(loader: Any) -> Any:
    """Build the data straight from libyaml's events, without composing the node tree first.

    The tree is the load's memory peak: for 10,000 routers ~70,000 nodes with two marks each, ~21 MiB of objects that
    live only until the data is built (measured with tracemalloc: 24 MiB peak for 3 MiB of data kept). Freed, that
    memory stays with the process as fragmented arenas, so it showed in the steady-state RSS too. Here each event
    is dropped as soon as its value is placed. Plain documents only: an anchor or alias, a merge key, a tag other
    than str/int/float/bool/null/map/seq on a collection, an unhashable key or a second document raise
    :class:`_NeedsNodes`, and the caller loads the text again through the node tree, so the result (and any
    error) is exactly ``yaml.load(text, Loader=yaml.CSafeLoader)``'s.
    """
    get = loader.get_event
    get()  # StreamStartEvent
    if loader.check_event(yaml.StreamEndEvent):
        return None
    get()  # DocumentStartEvent
    # Equal short strings become one object: keys and values repeated per router ("rule", "service", a shared
    # service's name, "websecure") were one string per occurrence; the data keeps only the values.
    strings: dict[str, str] = {}
    stack: list[tuple[Any, Any]] = []  # (dict or list being filled, the mapping's pending key or _NO_KEY)
    while True:
        event = get()
        kind = type(event)
        if kind is yaml.ScalarEvent:
            if event.anchor is not None:
                raise _NeedsNodes
            value = _scalar_from_event(event, loader)
            if type(value) is str and len(value) <= _SHARED_STRING_MAX:
                value = strings.setdefault(value, value)
        elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
            is_map = kind is yaml.MappingStartEvent
            if event.anchor is not None or event.tag not in (None, "!", _MAP if is_map else _SEQ):
                raise _NeedsNodes
            stack.append(({} if is_map else [], _NO_KEY))
            continue
        elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
            value = stack.pop()[0]
        else:  # an alias
            raise _NeedsNodes
        if not stack:
            break
        container, key = stack[-1]
        if type(container) is list:
            container.append(value)
        elif key is _NO_KEY:
            try:
                hash(value)
            except TypeError:
                raise _NeedsNodes from None  # PyYAML reports the unhashable key
            stack[-1] = (container, value)
        else:
            container[key] = value
            stack[-1] = (container, _NO_KEY)
    get()  # DocumentEndEvent
    if not loader.check_event(yaml.StreamEndEvent):
        raise _NeedsNodes  # a second document: the composer's error names both
    return value


def _scalar_from_event(event: Any, loader: Any) -> Any:
    value: str = event.value
    tag = event.tag
    if tag is None or tag == "!":
        tag = loader.resolve(yaml.ScalarNode, value, event.implicit)  # what the composer does
    if tag == _TAG + "str":
        return value
    # ASCII digits only: str.isdigit() accepts "¹", which int() refuses (PyYAML's error, raised where it would be).
    if tag == _TAG + "int" and value.isascii() and value.isdigit() and (value == "0" or value[0] != "0"):
        return int(value)
    if tag == _TAG + "bool":
        # Only PyYAML's six words (``!!bool y`` or ``!!bool maybe`` is its KeyError, not False).
        truth = _BOOL_WORDS.get(value.lower())
        if truth is None:
            raise _NeedsNodes
        return truth
    if tag == _TAG + "null":
        return None
    if tag == _TAG + "float" and value.isascii() and value.replace(".", "", 1).isdigit():
        return float(value)
    if tag == _TAG + "merge" or tag == _TAG + "value":
        raise _NeedsNodes  # ``<<`` merges and a ``=`` key is the string "=": only the mapping's constructor knows
    node = yaml.ScalarNode(tag, value, event.start_mark, event.end_mark, style=event.style)
    try:
        return loader.construct_object(node, deep=True)
    except Exception:  # any failure: PyYAML reports syntax errors of the whole document first
        raise _NeedsNodes from None


def _shed_nodes(root: yaml.Node) -> None:
    """Free a composed node tree a few nodes at a time instead of in one deallocation cascade.

    The cascade runs in C without ever offering the GIL: for 10,000 routers it held it 25-30 ms, a stall for the event
    loop while a provider loads in a thread. Popping the big lists from the end frees one small subtree per pop,
    with bytecode in between where the loop can take the GIL. Only this function holds the tree (the loader is
    disposed), so emptying it is safe.
    """
    stack: list[yaml.Node] = [root]
    del root
    while stack:
        items = stack.pop().value
        if not isinstance(items, list):
            continue
        while items:
            item = items.pop()
            for child in item if isinstance(item, tuple) else (item,):
                if isinstance(child.value, list) and child.value:
                    stack.append(child)  # a collection: emptied in turn, not freed with everything below it


def shed_data(pending: list[object]) -> None:
    """Free what ``pending`` holds (a parsed document: dicts, lists, strings) a piece at a time; empties it.

    Freed at once it is one deallocation cascade holding the GIL (~10 ms for 10,000 routers). Not mutated, since the
    decoded configuration may share parts of it: an object only ``pending`` holds has its referents taken over before
    it is dropped (the walk of ``routing.slices.release_steps``, which providers may not import). The caller passes
    the list as the only holder of the document, so nothing else keeps the tree alive.
    """
    while pending:
        item = pending.pop()
        if sys.getrefcount(item) == 2:  # ``item`` and getrefcount's argument: nobody else holds it
            pending.extend(gc.get_referents(item))
        del item


_TAG = "tag:yaml.org,2002:"
_BOOL_WORDS = {"yes": True, "no": False, "true": True, "false": False, "on": True, "off": False}  # PyYAML's
