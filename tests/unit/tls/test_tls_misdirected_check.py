"""The 421 check of TLS connections (``SecureRoutingTable``): its per-host memo answers as the catalog does."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hanzo_edge.http.messages import Headers, Request, Response
from hanzo_edge.routing.build import not_found
from hanzo_edge.routing.secure_table import SecureRoutingTable, misdirected
from hanzo_edge.routing.table import Route
from hanzo_edge.rules.compile import compile_rule
from hanzo_edge.tls.catalog import TLSCatalog
from hanzo_edge.tls.certificates import CertificateStore


async def served(req: Request) -> Response:
    return Response.text(200, "ok")


def table(calls: list[str] | None = None) -> tuple[SecureRoutingTable, TLSCatalog]:
    catalog = TLSCatalog(CertificateStore())
    catalog.hosts["websecure"] = {"strict.test": "mtls@file", "*.wild.test": "mtls@file", "open.test": "default"}

    def options_for_host(entry_point: str, host: str) -> str:
        if calls is not None:
            calls.append(host)
        return catalog.options_for_host(entry_point, host)

    rule = compile_rule("PathPrefix(`/`)")
    route = Route("any@file", 1, rule.matches, served, rule.hosts, rule.host_only)
    return SecureRoutingTable([route], not_found, entry_point="websecure", options_for_host=options_for_host), catalog


def request(host: str, connection_options: str) -> Request:
    req = Request("GET", "/", Headers([]), host=host, scheme="https")
    req.tls_options = connection_options
    return req


def test_a_host_needing_other_options_is_misdirected_and_the_answer_is_remembered() -> None:
    calls: list[str] = []
    secure, _ = table(calls)
    for _ in range(3):  # a keep-alive connection asks for the same host again and again
        assert secure.lookup(request("strict.test", "default")) is misdirected
        assert secure.lookup(request("strict.test", "mtls@file")) is served
        assert secure.lookup(request("a.wild.test", "default")) is misdirected
        assert secure.lookup(request("open.test", "default")) is served
    assert calls == ["strict.test", "a.wild.test", "open.test"]


def test_the_memo_is_bounded() -> None:
    calls: list[str] = []
    secure, _ = table(calls)
    for i in range(5000):
        assert secure.lookup(request(f"h{i}.test", "default")) is served
    assert secure.lookup(request("h0.test", "default")) is served
    assert calls.count("h0.test") == 2  # forgotten once 4096 hosts were seen, then resolved again


@given(
    hosts=st.lists(st.sampled_from(["strict.test", "x.wild.test", "wild.test", "open.test", "other.test", ""])),
    options=st.sampled_from(["default", "mtls@file"]),
)
def test_the_memo_answers_as_the_catalog(hosts: list[str], options: str) -> None:
    secure, catalog = table()
    for host in hosts:
        expected = misdirected if catalog.options_for_host("websecure", host) != options else served
        assert secure.lookup(request(host, options)) is expected
