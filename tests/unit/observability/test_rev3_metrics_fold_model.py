"""Review 3 (issue 22): metrics accumulators folded at read time against a model, under Hypothesis.

Any interleaving of requests, scrapes, reloads that remove and bring back a service, and bundle-cache resets: a
surviving series counts every request exactly once (nothing lost in an accumulator, nothing folded twice), and its
counter never goes down from one scrape to the next.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.observability import metrics as metrics_module
from hanzo_edge.observability.metrics import METRICS_DIR_ENV, Metrics
from hanzo_edge.routing.table import Route


async def _never(req: Request) -> Response:
    return Response(200)


_HANDLER: Handler = _never
SERVICES = ("a@file", "b@file")


def _request(service: str, method: str) -> Request:
    req = Request(method, "/", Headers([]), entry_point="web", body=b"xy")
    req.route = Route(name=service, priority=1, matches=lambda r: True, handler=_HANDLER, service=service)
    return req


def _counts(m: Metrics) -> dict[str, int]:
    """service -> requests_total summed over its label sets, from one scrape."""
    out: dict[str, int] = {}
    for line in m.render().decode().splitlines():
        if line.startswith("hanzo_ingress_service_requests_total{"):
            service = line.split('service="', 1)[1].split('"', 1)[0]
            out[service] = out.get(service, 0) + int(float(line.rsplit(" ", 1)[1]))
    return out


STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("request"), st.sampled_from(SERVICES), st.sampled_from(["GET", "POST", "PUT"])),
        st.tuples(st.just("scrape"), st.just(""), st.just("")),
        st.tuples(st.just("remove_b"), st.just(""), st.just("")),
        st.tuples(st.just("restore_b"), st.just(""), st.just("")),
    ),
    max_size=60,
)


@settings(max_examples=80, deadline=None)
@given(steps=STEPS)
def test_every_request_counts_once_and_counters_never_go_down(steps: list[tuple[str, str, str]]) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(METRICS_DIR_ENV, raising=False)
        patch.setattr(metrics_module, "_MAX_BUNDLES", 3)  # bundle-cache resets happen along the way
        m = Metrics()
        routers = set(SERVICES)
        m.on_configuration({"web"}, routers, {s: set() for s in SERVICES})
        expected = {s: 0 for s in SERVICES}
        last: dict[str, int] = {}
        for op, service, method in steps:
            if op == "request":
                m.observer(_request(service, method), 200, 3, 0.01, False)
                expected[service] += 1
            elif op == "remove_b":
                m.on_configuration({"web"}, {"a@file"}, {"a@file": set()})
            elif op == "restore_b":
                m.on_configuration({"web"}, routers, {s: set() for s in SERVICES})
            else:
                seen = _counts(m)
                assert seen.get("a@file", 0) == expected["a@file"]  # a never leaves: exact, every scrape
                for service, count in seen.items():
                    if service in last and service == "a@file":
                        assert count >= last[service]
                    # b's series may be dropped after a removal; while it shows, it never shows more than counted
                    assert count <= expected[service]
                # A dropped series starts again from what comes after: follow the model of what is still counted
                if "b@file" not in seen:
                    expected["b@file"] = 0
                last = seen
        final = _counts(m)
        assert final.get("a@file", 0) == expected["a@file"]
