"""``ingress explain`` on a 10,000-router table: counts by reason and the nearest routers instead of 9,999 lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hanzo_edge.commands import Outcome
from hanzo_edge.commands.explain import FULL_LIST_LIMIT, NEAREST, run_explain

SITES, PATHS, POSTS = 9_950, 37, 12


def _write_big_config(path: Path) -> Path:
    """9,950 routers for other hosts, 37 for other paths and 12 for POST /x, all before ``app`` (priority 1).

    Equal priorities sort by name, so the ``admin-post-*`` routers come first in the table.
    """
    routers: dict[str, dict[str, object]] = {}
    for i in range(SITES):
        routers[f"site-{i:04d}"] = {"rule": f"Host(`site{i}.test`)", "service": "app", "priority": 100}
    for i in range(PATHS):
        routers[f"api-v{i:02d}"] = {
            "rule": f"Host(`app.test`) && PathPrefix(`/v{i}`)",
            "service": "app",
            "priority": 100,
        }
    for i in range(POSTS):
        routers[f"admin-post-{i:02d}"] = {
            "rule": "Host(`app.test`) && Method(`POST`) && PathPrefix(`/x`)",
            "service": "app",
            "priority": 100,
        }
    routers["app"] = {"rule": "Host(`app.test`)", "service": "app", "priority": 1}
    service = {"loadBalancer": {"servers": [{"url": "http://127.0.0.1:9"}]}}
    path.write_text(json.dumps({"http": {"routers": routers, "services": {"app": service}}}))  # JSON is YAML
    return path


@pytest.fixture(scope="module")
def big_flags(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    dynamic = _write_big_config(tmp_path_factory.mktemp("big") / "dynamic.yml")
    return ["--entrypoints.web.address=:1", f"--providers.file.filename={dynamic}"]


def test_routers_checked_first_are_counted_by_reason_with_the_nearest_in_full(big_flags: list[str]) -> None:
    result = run_explain([*big_flags, "GET", "http://app.test/x"], {})

    assert result.outcome is Outcome.MATCHED
    assert result.stdout == [
        "entrypoint: web",
        'request: GET /x (host "app.test", path "/x", client 127.0.0.1)',
        "summary: 9,999 routers not matched: host differs (9,950), path differs (37), method differs (12); "
        f"the {NEAREST} nearest follow (--all lists every one)",
        *(
            f'not matched: admin-post-{i:02d}@file (priority 100): Method(`POST`) false: method is "GET"'
            for i in range(NEAREST)
        ),
        "matched: app@file (priority 1): Host(`app.test`)",
        "middlewares: none",
        "service: app@file (loadBalancer, strategy wrr)",
        "server: http://127.0.0.1:9 (weight 1)",
    ]


def test_the_nearest_are_the_routers_failing_on_the_fewest_matchers(big_flags: list[str]) -> None:
    # PUT /y: the admin-post-* routers (first in the table) fail on the method and the path, api-v* on the path only.
    result = run_explain([*big_flags, "PUT", "http://app.test/y"], {})

    nearest = [line.split(" (")[0] for line in result.stdout if line.startswith("not matched: ")]
    assert nearest == [f"not matched: api-v{i:02d}@file" for i in range(NEAREST)]
    assert result.stdout[2].startswith("summary: 9,999 routers not matched: host differs (9,950), path differs (37), ")


def test_all_lists_every_router(big_flags: list[str]) -> None:
    result = run_explain([*big_flags, "--all", "GET", "http://app.test/x"], {})

    not_matched = [line for line in result.stdout if line.startswith("not matched: ")]
    assert len(not_matched) == SITES + PATHS + POSTS
    assert not any(line.startswith("summary: ") for line in result.stdout)


def test_a_short_list_is_printed_in_full(tmp_path: Path) -> None:
    routers = {f"r{i:02d}": {"rule": f"Host(`r{i}.test`)", "service": "s"} for i in range(FULL_LIST_LIMIT)}
    path = tmp_path / "dynamic.yml"
    service = {"loadBalancer": {"servers": [{"url": "http://127.0.0.1:9"}]}}
    path.write_text(json.dumps({"http": {"routers": routers, "services": {"s": service}}}))

    result = run_explain(["--entrypoints.web.address=:1", f"--providers.file.filename={path}", "GET", "http://x/"], {})

    assert result.outcome is Outcome.UNMATCHED
    assert sum(line.startswith("not matched: ") for line in result.stdout) == FULL_LIST_LIMIT
