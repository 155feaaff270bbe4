"""Every user-supplied regexp runs on RE2 (issue 9): the structure that guarantees it, Go's error texts for what Go
rejects (through a rule and through a middleware), the RE2 → Go error mapping, and the pathological pattern that
backtracking ``re`` takes seconds on (answered here without timing anything; the timing is in
``benchmarks/regex_bench.py``)."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rules_fakes import FakeRequest

import hanzo_edge
from hanzo_edge.config.dynamic import decode_dynamic
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.middlewares.base import BuildContext, factory_for
from hanzo_edge.rules import RuleError, compile_rule
from hanzo_edge.rules.goregexp import GoRegexpError, compile_go_regexp, go_error_text, quote_meta

P = pytest.param
SOURCE = Path(hanzo_edge.__file__).parent
COMPILE_MODULE = "rules/goregexp.py"

# Modules that may import Python's backtracking ``re``, each with the reason. Every pattern they give ``re`` must be
# a literal in the source (checked below), so no configuration text ever reaches it.
RE_ALLOWED: dict[str, str] = {
    "rules/goregexp.py": "internal lexical checks on the pattern text (repeat counts); user patterns go to RE2",
    "rules/parser.py": "rule-language tokenizer (fixed token patterns)",
    "rules/ipcheck.py": "CIDR prefix-length syntax",
    "rules/tcp_matchers.py": "Traefik's fixed hostOrIP pattern of HostSNI values",
    "middlewares/_gocompat.py": "Go url.Parse details (control characters, port syntax, Traefik's uriRegexp)",
    "middlewares/redirect_scheme.py": "Traefik's fixed uriRegexp and host:port split",
    "middlewares/buffering.py": "retry-expression tokenizer and unquoting",
    "middlewares/_breaker_expr.py": "circuitBreaker expression tokenizer",
    "middlewares/retry.py": "status-code syntax",
    "middlewares/errors.py": "Go strconv.Atoi syntax for status ranges",
    "middlewares/digest_auth.py": "nonce and hex syntax",
    "config/documents.py": "TOML error-position parsing",
    "config/loader.py": "flag path segment syntax",
    "config/durations.py": "Go duration syntax",
    "observability/metrics.py": "Prometheus name syntax",
    "http/proxy.py": "absolute-URL split of the request target",
    "commands/explain.py": "HTTP token and URL scheme syntax",
    "routing/v2_hints.py": "spotting gorilla {name:pattern} templates in rule text",
    "providers/kubernetes/names.py": "Traefik's Normalize: runs of letters and numbers in object names",
    "providers/kubernetes/ingress_annotations.py": "Traefik's fixed pattern of indexed annotation keys (a.b.0.c)",
    "providers/docker/labels.py": "label key segment syntax (name[0][1])",
    "providers/docker/constraints.py": "constraints tokenizer (fixed token patterns); LabelRegex goes to the lent RE2",
    "config/gotemplate.py": "Go template lexer (fixed token patterns) and string-escape syntax",
    "config/gotemplate_funcs.py": "printf verb syntax, Traefik's Normalize, Go's exponent form",
    "gateway/document.py": "KrakenD's fixed endpoint, {param} and host syntax checks",
    "gateway/backend.py": "the fixed {param} placeholder pattern of url_patterns",
    "gateway/translate.py": "re.escape of endpoint segments for the displayed PathRegexp rule",
    "gateway/positions.py": "JSON lexer (fixed token patterns) for line/column positions",
    "gateway/namespaces/jwt_validator.py": "HTTP token syntax of header names",
    "gateway/sidecar/document.py": "spotting nginx-style regex characters in sidecar paths (to report them)",
    "gateway/stats.py": "the fixed {param} pattern of endpoint paths (gin's :param names in /__stats keys)",
    "http/h2/translate.py": "RFC 9113 field-name syntax (fixed byte pattern) in the HTTP/2 header validator",
    "gateway/sequential.py": "the fixed {respN_field} placeholder pattern of backend url_patterns",
}
_RE_FUNCTIONS = frozenset({"compile", "match", "search", "sub", "subn", "fullmatch", "split", "findall", "finditer"})


def _modules() -> list[tuple[str, ast.Module]]:
    return [
        (path.relative_to(SOURCE).as_posix(), ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        for path in sorted(SOURCE.rglob("*.py"))
    ]


def _imports(tree: ast.Module, module: str) -> set[str]:
    """Return the local names bound to ``module`` (``import re``, ``import re as x``); ``from`` imports included."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.asname or alias.name for alias in node.names if alias.name.split(".")[0] == module)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == module:
            names.add(f"from {node.module}")
    return names


def test_only_the_compile_module_uses_re2() -> None:
    users = [name for name, tree in _modules() if _imports(tree, "re2")]
    assert users == [COMPILE_MODULE]


def test_re_is_used_only_by_allowlisted_modules() -> None:
    importers = {name for name, tree in _modules() if _imports(tree, "re")}
    assert importers - set(RE_ALLOWED) == set(), "new use of Python's re: justify it in RE_ALLOWED or use goregexp"
    assert set(RE_ALLOWED) - importers == set(), "stale RE_ALLOWED entries"


def test_re_never_gets_a_pattern_that_is_not_a_source_literal() -> None:
    offenders: list[str] = []
    for name, tree in _modules():
        bound = _imports(tree, "re")
        offenders += [f"{name}: {entry}" for entry in bound if entry.startswith("from ")]
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            target = node.func.value
            if not (isinstance(target, ast.Name) and target.id in bound and node.func.attr in _RE_FUNCTIONS):
                continue
            pattern = node.args[0] if node.args else None
            if not (isinstance(pattern, ast.Constant) and isinstance(pattern.value, str | bytes)):
                offenders.append(f"{name}:{node.lineno}: re.{node.func.attr} with a pattern that is not a literal")
    assert offenders == []


# ------------------------------------------------------------------------------------------ what Go rejects

GO_REJECTS = [
    P(r"^/a(b)\1", "invalid escape sequence: `\\1`", id="backreference"),
    P("^/a(?=x)", "invalid or unsupported Perl syntax: `(?=`", id="lookahead"),
    P("^/a(?!x)", "invalid or unsupported Perl syntax: `(?!`", id="negative-lookahead"),
    P("^/a(?<=x)", "invalid named capture: `(?<=x)`", id="lookbehind"),
    P("^/a(?<!x)", "invalid named capture: `(?<!x)`", id="negative-lookbehind"),
    P("^/a*+", "invalid nested repetition operator: `*+`", id="possessive"),
]


@pytest.mark.parametrize(("pattern", "go_text"), GO_REJECTS)
def test_rule_rejects_with_go_text(pattern: str, go_text: str) -> None:
    with pytest.raises(RuleError) as info:
        compile_rule(f"PathRegexp(`{pattern}`)")
    assert str(info.value) == f"compiling PathRegexp matcher: error parsing regexp: {go_text}"


def _middleware(kind: str, options: dict[str, Any]) -> Any:
    config, _ = decode_dynamic({"http": {"middlewares": {"m": {kind: options}}}})
    factory = factory_for(kind)
    assert factory is not None
    return factory(_Backend(), config.http.middlewares["m"].config, name="m@file", ctx=BuildContext())


class _Backend:
    def __init__(self) -> None:
        self.paths: list[str] = []

    async def __call__(self, req: Request) -> Response:
        self.paths.append(req.path)
        return Response(200, Headers(), b"ok")


@pytest.mark.parametrize(("pattern", "go_text"), GO_REJECTS)
def test_replace_path_regex_rejects_with_go_text(pattern: str, go_text: str) -> None:
    with pytest.raises(ValueError, match="error compiling regular expression") as info:
        _middleware("replacePathRegex", {"regex": pattern, "replacement": "/x"})
    assert str(info.value) == f"error compiling regular expression {pattern}: error parsing regexp: {go_text}"


@pytest.mark.parametrize(
    ("kind", "options", "prefix"),
    [
        P("redirectRegex", {"regex": "(?=x)", "replacement": "/x"}, "", id="redirectRegex"),
        P("stripPrefixRegex", {"regex": ["(?=x)"]}, "", id="stripPrefixRegex"),
        P(
            "headers",
            {"accessControlAllowOriginListRegex": ["(?=x)"]},
            "error occurred during origin parsing: ",
            id="headers-origin-regex",
        ),
        P(
            "forwardAuth",
            {"address": "http://127.0.0.1:9/auth", "authResponseHeadersRegex": "(?=x)"},
            "error compiling regular expression (?=x): ",
            id="forwardAuth-response-headers-regex",
        ),
    ],
)
def test_other_regex_middlewares_reject_with_go_text(kind: str, options: dict[str, Any], prefix: str) -> None:
    with pytest.raises(ValueError, match="error parsing regexp") as info:
        _middleware(kind, options)
    assert str(info.value) == f"{prefix}error parsing regexp: invalid or unsupported Perl syntax: `(?=`"


# --------------------------------------------------------------------------------------- RE2 → Go error texts


@pytest.mark.parametrize(
    ("pattern", "re2_text", "go_text"),
    [
        P("(a", "missing ): (a", "missing closing ): `(a`", id="missing-paren"),
        P("ab)c", "unexpected ): ab)c", "unexpected ): `ab)c`", id="unexpected-paren"),
        P("ab)c", "missing (: ab)c", "unexpected ): `ab)c`", id="unexpected-paren-old-re2"),
        P("x[ab", "missing ]: [ab", "missing closing ]: `[ab`", id="missing-bracket"),
        P("a\\", "trailing \\", "trailing backslash at end of expression: ``", id="trailing-backslash"),
        P("*", "no argument for repetition operator: *", "missing argument to repetition operator: `*`", id="arg"),
        P("a{1001}", "invalid repetition size: {1001}", "invalid repeat count: `{1001}`", id="repeat-size"),
        P("a**", "bad repetition operator: **", "invalid nested repetition operator: `**`", id="nested"),
        P("a{2}{1001}?", "bad repetition operator: {2}{1001}?", "invalid repeat count: `{1001}`", id="nested-size"),
        P("a{2}{3,}", "bad repetition operator: {2}{3,}", "invalid nested repetition operator: `{2}{3,}`", id="nn"),
        P("(?=a", "invalid perl operator: (?=", "invalid or unsupported Perl syntax: `(?=`", id="perl-op"),
        P("a(?<!b)", "invalid perl operator: (?<!", "invalid named capture: `(?<!b)`", id="lookbehind"),
        P("(?P<a", "invalid named capture group: (?P<a", "invalid named capture: `(?P<a`", id="named"),
        P("[a-\\d]", "invalid escape sequence: \\d", "invalid escape sequence: `\\d`", id="escape"),
        P("[z-a]", "invalid character class range: z-a", "invalid character class range: `z-a`", id="range"),
        P("[[:x:]]", "invalid character class: [:x:]", "invalid character class: `[:x:]`", id="class"),
        P("\\pL{1000}", "pattern too large - compile failed", "expression too large: `\\pL{1000}`", id="large"),
        P("x", "some future text", "some future text: `x`", id="unknown-kept"),
    ],
)
def test_go_error_text_table(pattern: str, re2_text: str, go_text: str) -> None:
    assert go_error_text(pattern, re2_text) == f"error parsing regexp: {go_text}"


_GO_CODES = (
    "invalid character class",
    "invalid character class range",
    "invalid escape sequence",
    "invalid named capture",
    "invalid or unsupported Perl syntax",
    "invalid nested repetition operator",
    "invalid repeat count",
    "invalid UTF-8",
    "missing closing ]",
    "missing closing )",
    "missing argument to repetition operator",
    "trailing backslash at end of expression",
    "unexpected )",
    "expression too large",
)
_FRAGMENTS = st.sampled_from(
    ["a", "(", ")", "(?:", "(?=", "(?<=", "(?<!", "(?P<n>", "(?P<", "(?i)", "(?x", "[", "]", "[^", "[:alpha:]",
     "[:foo:]", "-", "*", "+", "?", "{2}", "{1001}", "{3,2}", "{9876543210}", "|", "^", "$", "\\", "\\1", "\\C",
     "\\Q", "\\E", "\\pL", "\\p{Foo}", "\\x{110000}", "\\z", "\\Z", ">", "é"]
)  # fmt: skip


@given(st.lists(_FRAGMENTS, max_size=10).map("".join))
@settings(max_examples=400, deadline=None)
def test_every_refusal_reads_like_go(pattern: str) -> None:
    try:
        compile_go_regexp(pattern)
    except GoRegexpError as exc:
        message = str(exc)
        assert message.startswith("error parsing regexp: ")
        assert message.endswith("`")
        code, _, fragment = message.removeprefix("error parsing regexp: ").partition(": `")
        assert code in _GO_CODES
        if code in ("missing closing )", "unexpected )", "expression too large"):
            assert fragment == pattern + "`"


@given(st.text(alphabet="ab.*+?()[]{}|^$\\-:, 0123456789", max_size=12))
@settings(max_examples=300, deadline=None)
def test_quote_meta_matches_the_text_itself(text: str) -> None:
    assert compile_go_regexp(f"^{quote_meta(text)}$").is_match(text)


# ------------------------------------------------------------------------------------- linear-time matching

PATHOLOGICAL = "^/files/([a-z0-9]+-?)+/download$"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        P("/files/" + "a" * 19 + "!", False, id="27-chars-no-match"),  # 4.7 s on Python's re
        P("/files/" + "a" * 4000 + "!", False, id="4k-chars-no-match"),
        P("/files/" + "a1-" * 1000 + "/download", True, id="3k-chars-match"),
        P("/files/abc-def-1/download", True, id="match"),
        P("/files/abc--def/download", False, id="double-dash"),
    ],
)
def test_pathological_path_regexp_answers(path: str, expected: bool) -> None:
    rule = compile_rule(f"PathRegexp(`{PATHOLOGICAL}`)")
    assert rule.matches(FakeRequest(routing_path=path)) is expected


def test_pathological_pattern_in_replace_path_regex() -> None:
    middleware = _middleware("replacePathRegex", {"regex": PATHOLOGICAL, "replacement": "/dl"})
    backend: _Backend = middleware.next
    for path in ("/files/" + "a" * 4000 + "!", "/files/a-b/download"):
        request = Request("GET", path, Headers([(b"Host", b"example.com")]))
        response = asyncio.run(middleware(request))
        assert response.status == 200
    assert backend.paths == ["/files/" + "a" * 4000 + "!", "/dl"]


# ------------------------------------------------------------------------------------------ search and groups


def test_search_reports_character_offsets_for_non_ascii_text() -> None:
    regexp = compile_go_regexp("(?P<word>é+)(x)?")
    match = regexp.search("aé🦭éé b", 3)
    assert match is not None
    assert match.span() == (3, 5)
    assert match.group(1) == "éé"
    assert match.span(2) == (-1, -1)
    assert match.group(2) is None
    assert regexp.group_names == ["", "word", ""]
    assert regexp.groups == 2


def test_search_from_an_offset_keeps_the_text_before_as_context() -> None:
    # As Go's ReplaceAll searches: ^ does not match at the offset, \b sees the character before it.
    assert compile_go_regexp("^b").search("ab", 1) is None
    assert compile_go_regexp(r"\bb").search("ab", 1) is None
    match = compile_go_regexp(r"\bb").search("a b", 1)
    assert match is not None
    assert match.span() == (2, 3)


def test_undecodable_bytes_match_as_replacement_characters() -> None:
    # routing_path keeps an undecodable %FF as a lone surrogate; Go reads that byte as U+FFFD.
    regexp = compile_go_regexp("^/a/([^/]+)/\\x{FFFD}$")
    match = regexp.search("/a/\udcff\udcfe/\udc80")
    assert match is not None
    assert match.group(1) == "\udcff\udcfe"
