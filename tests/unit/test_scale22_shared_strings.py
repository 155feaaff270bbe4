"""Per-router strings that are the same text are one object (issue 22: 10,000 routers kept copies of each).

These are memory properties, so the tests check identity: a copy would be equal and cost its bytes per router.
"""

from __future__ import annotations

from typing import Any

from hanzo_edge.config.dynamic import decode_dynamic
from hanzo_edge.config.runtime import merge
from hanzo_edge.rules.compile import SYNTAXES, compile_rule
from hanzo_edge.rules.matchers import canonical_rule_host


def test_a_canonical_host_is_the_rules_own_string_when_already_canonical() -> None:
    host = "".join(["svc-1.", "example.com"])  # built at run time: not a shared constant
    assert canonical_rule_host(host) is host
    assert canonical_rule_host("SVC-1.example.com.") == "svc-1.example.com"  # still canonicalised


def test_compiled_rules_keep_the_syntax_tables_own_key() -> None:
    keys = {key: key for key in SYNTAXES}
    for written in ("V3", "".join(["v", "3"]), "", "default"):
        assert compile_rule(f"Host(`{written or 'x'}.example.com`)", written).syntax is keys["v3"]
    assert compile_rule("Host(`y.example.com`)", "".join(["V", "2"])).syntax is keys["v2"]


def test_routers_naming_one_service_share_its_qualified_name() -> None:
    lb: dict[str, Any] = {"loadBalancer": {"servers": [{"url": "http://127.0.0.1:9"}]}}
    routers = {f"r{i}": {"rule": f"Host(`svc-{i}.example.com`)", "service": "backend"} for i in range(50)}
    config, warnings = decode_dynamic({"http": {"routers": routers, "services": {"backend": lb}}})
    assert warnings == []
    runtime = merge({"file": config})
    names = [runtime.routers[f"r{i}@file"].service for i in range(50)]
    assert names[0] == "backend@file"
    assert all(name is names[0] for name in names)
    assert runtime.services["backend@file"].used_by == [f"r{i}@file" for i in range(50)]
