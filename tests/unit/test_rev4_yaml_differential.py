"""Review of the event-built YAML load (issue 22): users' Traefik YAML must load exactly as PyYAML's ``CSafeLoader``
loads it, the loader this project always used. A Hypothesis differential test over generated documents (YAML 1.1
implicit types, quoting, block scalars, tags, odd keys, markers, BOM, CRLF, tabs, anchors) and over every YAML file
of the repository and of shared/ compares the results type-exactly (bool is not int, a date is not a string).
Where PyYAML raises a bare ValueError/KeyError/AttributeError (``!!int abc``, ``2024-02-30``) the load raises a
located YAML error instead, so a bad file is reported and left out rather than ending the provider.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hanzo_edge.config.documents import _load_yaml, parse_document
from hanzo_edge.config.errors import ConfigError
from hanzo_edge.providers.file import read_snapshot

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"  # beside the repository, for the developers and for CI


def pyyaml(text: str) -> Any:
    return yaml.load(text, Loader=yaml.CSafeLoader)


def canon(value: Any) -> Any:
    """A comparable form that keeps exact types (True != 1 here) and dict order; NaN equals NaN."""
    if isinstance(value, dict):
        return ("dict", [(canon(k), canon(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [canon(item) for item in value])
    if isinstance(value, set):
        return ("set", sorted(repr(canon(item)) for item in value))
    if isinstance(value, float) and math.isnan(value):
        return ("float", "nan")
    return (type(value).__name__, value)


def outcome(load: Callable[[str], Any], text: str) -> tuple[str, Any]:
    try:
        return ("ok", canon(load(text)))
    except yaml.YAMLError as exc:
        return (type(exc).__name__, str(exc))
    except Exception as exc:  # PyYAML's bare constructor errors
        return ("bare", type(exc).__name__)


def assert_same_as_pyyaml(text: str) -> None:
    expected = outcome(pyyaml, text)
    got = outcome(_load_yaml, text)
    if expected[0] == "bare":
        # PyYAML's bare error becomes a located one, which parse_document reports as ``file:line: invalid YAML``.
        assert got[0] == "ConstructorError", (text, got)
        assert "cannot construct" in got[1], got
        assert ", line " in got[1], got
        return
    assert got == expected, text


# --- generated documents ---------------------------------------------------------------------------------------------

SCALARS = [
    *("yes", "no", "on", "off", "y", "n", "Y", "N", "Yes", "NO", "True", "false", "TRUE", "oN"),
    *("~", "null", "Null", "NULL", "", "-", "0", "00", "-0", "+12", "1_000", "0o17", "017", "0x1F", "0b101", "08"),
    *("1:30", "-1:30", "190:20:30.15", ".inf", "-.Inf", "+.INF", ".nan", ".NaN", "1e3", "1.0e+3", "1.5", "1.", "-.5"),
    *("6.8523015e+5", "1_0.5", "685.230_15e+03", "2001-12-14", "2001-12-14t21:59:43.10-05:00", "2001-13-45"),
    *("2001-12-14 21:59:43.10", "2002-12-14T21:59:43Z", "2024-02-30", "12:30:45", "=", "<<", "a b", "é", "١٢"),
    *("Host(`a.example.com`) && PathPrefix(`/api`)", "http://127.0.0.1:8080", "web", "websecure", "10s", "x:y"),
    *("a #not", "b # comment", "@at", "`tick`", "%pct", "!bang", "&amp", "*star", "|bar", ">gt", "?q", "- dash"),
]
TAGS = ["!!str", "!!int", "!!float", "!!bool", "!!null", "!!binary", "!!timestamp", "!", "!local", "!!merge"]
KEYS = [
    *("rule", "service", "a", "b", "1", "2.5", "true", "no", "null", "~", "''", '"q"', "=", "2001-12-14", "0x1F"),
    *("'<<'", "!!str 5", "[a, b]", "{k: v}", "é", "- x", "a b"),
]
token = st.one_of(st.sampled_from(SCALARS), st.text(alphabet="ab1:-.# '\"\\\t_ée0x", max_size=6))


@st.composite
def scalar_text(draw: st.DrawFn) -> str:
    value = draw(token)
    style = draw(st.sampled_from(["plain", "plain", "single", "double", "tagged"]))
    if style == "single":
        return "'" + value.replace("'", "''") + "'"
    if style == "double":
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if style == "tagged":
        return draw(st.sampled_from(TAGS)) + " " + draw(st.sampled_from([value, f"'{value}'", f'"{value}"', "aGk="]))
    return value


@st.composite
def value_text(draw: st.DrawFn, indent: int, depth: int) -> str:
    """Text following ``key:`` or ``-``: an inline value (leading space) or a block (leading newline)."""
    kinds = ["scalar", "scalar", "flow_seq", "flow_map", "block_scalar", "multiline_plain", "empty"]
    if depth > 0:
        kinds += ["block_map", "block_seq", "block_map"]
    kind = draw(st.sampled_from(kinds))
    pad = " " * (indent + 2)
    if kind == "scalar":
        return " " + draw(scalar_text())
    if kind == "empty":
        return ""
    if kind == "flow_seq":
        return " [" + ", ".join(draw(st.lists(scalar_text(), max_size=3))) + "]"
    if kind == "flow_map":
        pairs = draw(st.lists(st.tuples(st.sampled_from(KEYS), scalar_text()), max_size=3))
        return " {" + ", ".join(f"{k}: {v}" for k, v in pairs) + "}"
    if kind == "block_scalar":
        header = draw(st.sampled_from(["|", ">", "|-", ">-", "|+", ">+", "|2"]))
        lines = draw(
            st.lists(
                st.sampled_from(["text", "more text", "", "  indented", "x: y", "# not a comment"]),
                min_size=1,
                max_size=4,
            )
        )
        return f" {header}\n" + "\n".join(pad + line if line else "" for line in lines)
    if kind == "multiline_plain":
        return f" first\n{pad}second\n{pad}third"
    if kind == "block_seq":
        items = draw(st.lists(value_text(indent + 2, depth - 1), min_size=1, max_size=3))
        return "\n" + "\n".join(f"{pad}-{item}" for item in items)
    pairs = draw(st.lists(st.tuples(st.sampled_from(KEYS), value_text(indent + 2, depth - 1)), min_size=1, max_size=4))
    lines = []
    for key, item in pairs:
        if key.startswith(("[", "{")) and draw(st.booleans()):
            lines.append(f"{pad}? {key}\n{pad}:{item}")  # an explicit (complex) key
        else:
            lines.append(f"{pad}{key}:{item}")
    return "\n" + "\n".join(lines)


@st.composite
def yaml_document(draw: st.DrawFn) -> str:
    body = draw(value_text(-2, 3))
    block = body.startswith("\n")
    text = body[1:] if block else f"---{body}"
    if block and text.lstrip()[:1] not in ("-", "?") and draw(st.booleans()):
        # anchors and aliases (the node-tree path): anchored values first, aliased below, in the same mapping
        text = f"base: &base {{x: 1, y: [a, b]}}\nscalar: &s yes\nuse: *base\nmerged:\n  <<: *base\n  z: *s\n{text}"
    starts = ["", "", "# comment\n", "\ufeff"] + (["---\n", "%YAML 1.1\n---\n", "--- # c\n"] if block else [])
    ends = ["\n", "\n", "\n", "\n...\n", "\n# trailing\n", "", "\n---\nsecond: doc\n"]
    text = draw(st.sampled_from(starts)) + text + draw(st.sampled_from(ends))
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    if draw(st.integers(0, 9)) == 0:
        text = text.replace("\n  ", "\n\t", 1)  # a tab indent: a scanner error, the same for both
    return text


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(yaml_document())
def test_generated_documents_load_as_pyyaml_loads_them(text: str) -> None:
    assert_same_as_pyyaml(text)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="ab:-[]{}#&*!|>'\"\n ,?%@`~.1\t", max_size=40))
def test_arbitrary_text_loads_or_fails_as_pyyaml(text: str) -> None:
    assert_same_as_pyyaml(text)


# --- every YAML file we have ------------------------------------------------------------------------------------------


def corpus() -> list[Path]:
    roots = [REPO / "examples", REPO / "tests", REPO / "deploy", SHARED]
    found = {p for root in roots if root.is_dir() for p in root.rglob("*") if p.suffix in (".yml", ".yaml")}
    return sorted(p for p in found if p.is_file())


def test_the_corpus_is_not_empty() -> None:
    assert len(corpus()) >= 10


@pytest.mark.parametrize("path", corpus(), ids=lambda p: str(p.relative_to(p.parents[1])))
def test_corpus_files_load_as_pyyaml_loads_them(path: Path) -> None:
    text = path.read_text(encoding="utf-8", errors="surrogateescape")
    assert_same_as_pyyaml(text)


# --- the divergences found, each failing before its fix ---------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "=: 1\n",  # a "=" key is the string "=" (the value tag is only a key's); it raised
        "{=: 1, b: 2}\n",
        "a:\n  =: 2\n",
        "x: !foo a\ny: [1, 2\n",  # the syntax error of the document first, as PyYAML (it named the tag)
        "a: {b: !foo x}\nc: !bar y\n",  # PyYAML's construction order picks the first error
    ],
)
def test_divergences_found_in_review_now_match_pyyaml(text: str) -> None:
    assert outcome(_load_yaml, text) == outcome(pyyaml, text)


def test_a_deep_document_through_the_node_tree_loads() -> None:
    # An anchor sends the document to the node tree, whose recursive walk hit the recursion limit at ~500 levels
    # (RecursionError out of parse_document); libyaml itself refuses more than 1,000 levels with a located error.
    data = parse_document("a: &x 1\nb: " + "[" * 900 + "]" * 900 + "\n", "f.yml").data
    depth, node = 0, data["b"]
    while node:
        depth, node = depth + 1, node[0]
    assert (data["a"], depth + 1) == (1, 900)
    with pytest.raises(ConfigError, match=r"^f\.yml:2: invalid YAML: exceeded maximum nesting depth"):
        parse_document("a: &x 1\nb: " + "[" * 1100 + "]" * 1100 + "\n", "f.yml")


@pytest.mark.parametrize("text", ["a: !!bool y\n", "a: !!bool maybe\n", "a: !!bool ''\n"])
def test_an_explicit_bool_outside_pyyamls_words_is_an_error_not_a_value(text: str) -> None:
    # It loaded as True/False; PyYAML (and so Traefik's users' expectations of an error) refuse it.
    with pytest.raises(ConfigError, match=r"^f\.yml:1: invalid YAML: cannot construct !!bool"):
        parse_document(text, "f.yml")


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("a: !!int abc\n", 1),
        ("a: 1\nb: !!float 1.2.3\n", 2),
        ("a:\n  when: 2024-02-30\n", 2),  # an impossible date, resolved as a timestamp
        ("a: !!timestamp nope\n", 1),
        ("a: !!int '¹'\n", 1),  # str.isdigit() accepts it, int() does not
        ("a: !!int ''\n", 1),  # PyYAML's IndexError
        ("a: &x 1\nb:\n  - !!int abc\n", 3),  # the node-tree path
    ],
)
def test_a_scalar_pyyaml_cannot_construct_is_a_located_config_error(text: str, line: int) -> None:
    # These raised a bare ValueError/KeyError/AttributeError out of parse_document (the file provider's load died).
    with pytest.raises(ConfigError, match=rf"^f\.yml:{line}: invalid YAML: cannot construct "):
        parse_document(text, "f.yml")


def test_a_file_with_an_impossible_date_is_left_out_and_reported(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("http:\n  routers:\n    r:\n      rule: Host(`a`)\n      service: s\n      note: 2024-02-30\n")
    good = tmp_path / "good.yml"
    good.write_text("http:\n  services:\n    s:\n      loadBalancer:\n        servers: [{url: 'http://127.0.0.1:1'}]\n")
    snapshot = read_snapshot(directory=str(tmp_path))
    assert [str(e) for e in snapshot.errors] == [
        f"{bad}:6: invalid YAML: cannot construct !!timestamp from '2024-02-30'"
        " (ValueError: day is out of range for month)"
    ]
    assert list(snapshot.config.http.services) == ["s"]


def test_an_alias_inside_its_own_anchor_is_a_located_error() -> None:
    # PyYAML builds a cyclic list, on which the typed decoding recursed without end; Traefik refuses it too.
    with pytest.raises(ConfigError, match=r"^f\.yml:2: invalid YAML: an alias refers to a collection that contains it"):
        parse_document("ok: 1\na: &a [x, *a]\n", "f.yml")
    assert parse_document("a: &a [x]\nb: [*a, *a]\n", "f.yml").data == {"a": ["x"], "b": [["x"], ["x"]]}


def nested_aliases(levels: int) -> str:
    lines = ["l0: &l0 [x, y]"] + [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


def test_nested_aliases_share_one_object_per_anchor_as_pyyaml() -> None:
    # The node-tree walk copied each alias (10**4 lists here; ten levels never finished); PyYAML shares one.
    data = _load_yaml(nested_aliases(4))
    assert data["l4"][0] is data["l4"][9] is data["l3"]
    assert data["l1"][0] is data["l0"]


def test_an_alias_expansion_past_a_million_values_is_a_located_error() -> None:
    # 100 lines, 10**10 values once expanded: the schema-less decoding (plugin settings) would walk them all.
    started = time.process_time()
    with pytest.raises(ConfigError, match=r"^f\.yml:1: invalid YAML: document contains excessive aliasing"):
        parse_document(nested_aliases(10), "f.yml")
    assert time.process_time() - started < 5


def test_many_routers_sharing_an_aliased_chain_load() -> None:
    lines = ["chain: &chain [auth, compress, retry]", "http:", "  routers:"]
    lines += [f"    r{i}: {{rule: Host(`h{i}`), service: s, middlewares: *chain}}" for i in range(20000)]
    data = _load_yaml("\n".join(lines) + "\n")
    assert len(data["http"]["routers"]) == 20000


def test_aliased_lists_shared_by_routers_decode_into_values_no_router_can_change(tmp_path: Path) -> None:
    # PyYAML (and so the node-tree path) gives every alias the anchor's one list object: two routers hold the same
    # list. The typed decoding turns it into tuples, so nothing one router's build does can show in another's.
    path = tmp_path / "dynamic.yml"
    path.write_text(
        "x-chain: &chain [auth, compress]\n"
        "http:\n"
        "  routers:\n"
        "    a: {rule: Host(`a`), service: s, middlewares: *chain}\n"
        "    b: {rule: Host(`b`), service: s, middlewares: *chain}\n"
        "  services:\n"
        "    s: {loadBalancer: {servers: [{url: 'http://127.0.0.1:1'}]}}\n"
    )
    raw = parse_document(path.read_text(), str(path)).data
    assert raw["http"]["routers"]["a"]["middlewares"] is raw["http"]["routers"]["b"]["middlewares"]
    snapshot = read_snapshot(filename=str(path))
    routers = snapshot.config.http.routers
    assert routers["a"].middlewares == routers["b"].middlewares == ("auth", "compress")
    assert isinstance(routers["a"].middlewares, tuple)


def test_text_with_a_lone_surrogate_is_a_config_error() -> None:
    # A reader (templating) can hand over such text; libyaml's UnicodeEncodeError escaped parse_document.
    with pytest.raises(
        ConfigError, match=r"^f\.yml: invalid YAML: text is not valid Unicode \(surrogates not allowed\)"
    ):
        parse_document("a: \udc80\n", "f.yml")
