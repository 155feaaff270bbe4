"""The build's check point over the service definitions (routing/build.py): a build that yields there at every
check point builds what a build at once builds, services missing or broken included."""

from __future__ import annotations

import math
from typing import Any

from hanzo_edge.config.dynamic import decode_dynamic
from hanzo_edge.config.runtime import MERGE_CHECK_EVERY, merge
from hanzo_edge.http.pool import PoolRegistry, TransportOptions
from hanzo_edge.routing import build as build_module
from hanzo_edge.routing import slices as slices_module
from hanzo_edge.routing.build import BuildResult, build_runtime, build_runtime_steps

SERVICES = 300


def _runtime() -> Any:
    routers: dict[str, Any] = {f"r{i}": {"rule": f"Host(`h{i}.test`)", "service": f"s{i}"} for i in range(SERVICES)}
    routers["lost"] = {"rule": "Host(`lost.test`)", "service": "nowhere"}  # names no service: disabled, reported
    services = {
        f"s{i}": {"loadBalancer": {"servers": [{"url": f"http://127.0.0.1:{9000 + i}"}]}} for i in range(SERVICES)
    }
    config, warnings = decode_dynamic({"http": {"routers": routers, "services": services}})
    assert not warnings
    return merge({"file": config}, entry_point_defaults=["web"])


def _shape(result: BuildResult) -> Any:
    table = result.tables["web"]
    routers = {name: (info.status, tuple(info.errors)) for name, info in result.runtime.routers.items()}
    return [r.name for r in table.routes], sorted(result.built), routers, dict(result.errors)


def test_a_build_yielding_at_every_service_definition_check_point_builds_what_a_build_at_once_builds() -> None:
    at_once = build_runtime(_runtime(), ["web"], PoolRegistry(), TransportOptions())
    steps = build_runtime_steps(_runtime(), ["web"], PoolRegistry(), TransportOptions())
    saved = slices_module._deadline
    slices_module._deadline = -math.inf  # every check point finds its slice spent
    gathering = 0  # yields while the service definitions are still being gathered
    try:
        while True:
            try:
                next(steps)
                builder = steps.gi_yieldfrom.gi_frame.f_locals["self"]  # type: ignore[union-attr]
                gathering += len(builder.service_defs) < SERVICES
            except StopIteration as done:
                in_slices: BuildResult = done.value
                break
    finally:
        slices_module._deadline = saved
    assert _shape(in_slices) == _shape(at_once)
    assert "lost@file" in in_slices.errors
    assert gathering == SERVICES // build_module._DEFS_PER_CHECK  # one yield per check point of the gathering


def test_the_server_urls_gathered_in_slices_are_the_server_urls_gathered_at_once() -> None:
    runtime = _runtime()
    steps = runtime.server_urls_steps(lambda: True)  # every check point yields
    yields = 0
    while True:
        try:
            next(steps)
            yields += 1
        except StopIteration as done:
            in_slices = done.value
            break
    expected = {f"s{i}@file": [f"http://127.0.0.1:{9000 + i}"] for i in range(SERVICES)}
    assert in_slices == runtime.server_urls() == expected
    assert yields == SERVICES // MERGE_CHECK_EVERY
