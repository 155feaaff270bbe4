"""The Kubernetes client: where it connects (in cluster, KUBECONFIG, flags, as Traefik) and its API calls against
the fake API server (TLS with a token, status writes, errors, watch ERROR events, pooled connections)."""

from __future__ import annotations

import asyncio
import base64
import functools
import os
import socket
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
import yaml

from fakes import FakeClock
from hanzo_edge.providers.kubernetes.client import KubeApiError, KubeClient, KubeTransportError
from hanzo_edge.providers.kubernetes.kubeconfig import (
    KubeConfigError,
    KubeConnection,
    TokenSource,
    from_flags,
    from_kubeconfig,
    resolve_connection,
)
from hanzo_edge.providers.kubernetes.resources import INGRESSES, SERVICES
from kube_apiserver import FakeApiServer

TOKEN = "client-token"


def run_async(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    @functools.wraps(test)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        async def bounded() -> None:
            await asyncio.wait_for(test(*args, **kwargs), 30)

        asyncio.run(bounded())

    return wrapper


# -- connection resolution -----------------------------------------------------------------------------------


def test_flags_make_an_out_of_cluster_client() -> None:
    connection = resolve_connection("http://127.0.0.1:6443", "hanzo-conformance-token", env={})
    assert connection.server == "http://127.0.0.1:6443"
    assert not connection.is_tls
    assert connection.token.token() == "hanzo-conformance-token"
    assert connection.source == "flags"
    assert "hanzo-conformance-token" not in repr(connection)


def test_no_endpoint_and_no_environment_is_traefiks_error() -> None:
    with pytest.raises(KubeConfigError, match="endpoint missing for external cluster client"):
        resolve_connection(env={})


def test_cert_auth_file_path_is_read(tmp_path: Path) -> None:
    ca = trustme.CA()
    path = tmp_path / "ca.crt"
    path.write_bytes(ca.cert_pem.bytes())
    assert from_flags("https://k8s:6443", "t", str(path)).ca_pem == ca.cert_pem.bytes()
    with pytest.raises(KubeConfigError, match="certAuthFilePath"):
        from_flags("https://k8s:6443", "t", str(tmp_path / "missing.crt"))


def write_service_account(directory: Path, token: str = "sa-token") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "token").write_text(token + "\n")
    (directory / "ca.crt").write_bytes(trustme.CA().cert_pem.bytes())
    (directory / "namespace").write_text("hanzo")
    return directory


def test_in_cluster_wins_and_an_endpoint_flag_replaces_only_the_host(tmp_path: Path) -> None:
    sa = write_service_account(tmp_path / "sa")
    env = {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443", "KUBECONFIG": "/nonexistent"}
    connection = resolve_connection(token="ignored", env=env, in_cluster_dir=str(sa))
    assert connection.server == "https://10.0.0.1:443"
    assert connection.token.token() == "sa-token"
    assert connection.namespace == "hanzo"
    assert connection.ca_pem is not None
    assert connection.source == "in-cluster"
    overridden = resolve_connection("https://api.example:6443", env=env, in_cluster_dir=str(sa))
    assert overridden.server == "https://api.example:6443"
    assert overridden.token.token() == "sa-token"


def test_in_cluster_ipv6_service_host(tmp_path: Path) -> None:
    sa = write_service_account(tmp_path / "sa")
    env = {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"}
    assert resolve_connection(env=env, in_cluster_dir=str(sa)).server == "https://[fd00::1]:443"


def test_in_cluster_without_a_token_names_the_file(tmp_path: Path) -> None:
    env = {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    with pytest.raises(KubeConfigError, match="token"):
        resolve_connection(env=env, in_cluster_dir=str(tmp_path / "none"))


def test_a_rotated_service_account_token_is_read_again(tmp_path: Path) -> None:
    sa = write_service_account(tmp_path / "sa", token="first")
    clock = FakeClock(0.0)
    tokens = TokenSource(path=str(sa / "token"), clock=clock)
    assert tokens.token() == "first"
    (sa / "token").write_text("second")
    clock.advance(30)
    assert tokens.token() == "first", "cached for a minute, as client-go"
    clock.advance(30)
    assert tokens.token() == "second"
    (sa / "token").write_text("third")
    tokens.invalidate()  # a 401 reads it at once
    assert tokens.token() == "third"
    os.unlink(sa / "token")
    tokens.invalidate()
    assert tokens.token() == "third", "a transiently missing file keeps the last token"


def kubeconfig_document(
    server: str, user: dict[str, Any], cluster_extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server, **(cluster_extra or {})}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u", "namespace": "edge"}}],
        "current-context": "ctx",
    }


def test_kubeconfig_current_context_with_inline_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ca = trustme.CA()
    client_cert = ca.issue_cert("edge-client")
    document = kubeconfig_document(
        "https://127.0.0.1:6443",
        {
            "client-certificate-data": base64.b64encode(client_cert.cert_chain_pems[0].bytes()).decode(),
            "client-key-data": base64.b64encode(client_cert.private_key_pem.bytes()).decode(),
        },
        {"certificate-authority-data": base64.b64encode(ca.cert_pem.bytes()).decode(), "tls-server-name": "k8s"},
    )
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(document))
    monkeypatch.setenv("KUBECONFIG", str(path))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    connection = resolve_connection("http://ignored:1", "ignored-token")
    assert connection.server == "https://127.0.0.1:6443"
    assert connection.ca_pem == ca.cert_pem.bytes()
    assert connection.client_cert_pem == client_cert.cert_chain_pems[0].bytes()
    assert connection.tls_server_name == "k8s"
    assert connection.namespace == "edge"
    assert connection.token.token() == ""
    assert connection.source == f"kubeconfig {path} context ctx"


def test_kubeconfig_relative_files_and_merged_lists(tmp_path: Path) -> None:
    ca = trustme.CA()
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "ca.crt").write_bytes(ca.cert_pem.bytes())
    (tmp_path / "token").write_text("from-file\n")
    first = kubeconfig_document("https://first:6443", {"tokenFile": "token"}, {"certificate-authority": "certs/ca.crt"})
    second = kubeconfig_document("https://second:6443", {"token": "second"})
    second["current-context"] = "other"
    second["contexts"].append({"name": "other", "context": {"cluster": "c", "user": "u"}})
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(first))
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(second))
    merged = f"{tmp_path / 'missing.yaml'}:{tmp_path / 'a.yaml'}:{tmp_path / 'b.yaml'}"
    connection = from_kubeconfig(merged)
    assert connection.server == "https://first:6443", "the first file that defines a name wins"
    assert connection.token.token() == "from-file"
    assert connection.ca_pem == ca.cert_pem.bytes()
    assert from_kubeconfig(merged, context="other").namespace == ""


@pytest.mark.parametrize(
    ("user", "cluster", "message"),
    [
        ({"exec": {"command": "aws"}}, {}, "exec credential plugins are not supported"),
        ({"auth-provider": {"name": "gcp"}}, {}, "auth-provider credential plugins are not supported"),
        ({}, {"proxy-url": "http://proxy:3128"}, "proxy-url is not supported"),
        ({"client-certificate-data": "Zm9v"}, {}, "client-certificate and client-key go together"),
        ({"client-key-data": "%%%"}, {}, "client-key-data is not valid base64"),
    ],
)
def test_kubeconfig_what_we_cannot_do_is_named(
    tmp_path: Path, user: dict[str, Any], cluster: dict[str, Any], message: str
) -> None:
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(kubeconfig_document("https://k8s:6443", user, cluster)))
    with pytest.raises(KubeConfigError, match=message):
        from_kubeconfig(str(path))


def test_kubeconfig_unreadable_token_file_is_named_at_startup(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(kubeconfig_document("https://k8s:6443", {"tokenFile": "missing-token"})))
    with pytest.raises(KubeConfigError, match="missing-token"):
        from_kubeconfig(str(path))


def test_kubeconfig_insecure_with_a_ca_is_refused_as_client_go_does(tmp_path: Path) -> None:
    path = tmp_path / "config"
    cluster = {"insecure-skip-tls-verify": True, "certificate-authority-data": "Zm9v"}
    path.write_text(yaml.safe_dump(kubeconfig_document("https://k8s:6443", {}, cluster)))
    with pytest.raises(KubeConfigError, match="with the insecure flag is not allowed"):
        from_kubeconfig(str(path))


def test_a_proxy_in_the_environment_is_named_not_silently_ignored(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    for name in ("NO_PROXY", "no_proxy", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    KubeClient(from_flags("https://10.0.0.1:443"))
    assert "HTTPS_PROXY is set, but connections to the API server https://10.0.0.1:443" in caplog.text
    caplog.clear()
    monkeypatch.setenv("NO_PROXY", "10.0.0.1")
    KubeClient(from_flags("https://10.0.0.1:443"))
    assert caplog.text == ""


def test_kubeconfig_missing_context_or_cluster(tmp_path: Path) -> None:
    document = kubeconfig_document("https://k8s:6443", {})
    document["current-context"] = "nope"
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(KubeConfigError, match="context 'nope' not found"):
        from_kubeconfig(str(path))
    document["current-context"] = ""
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(KubeConfigError, match="no current-context"):
        from_kubeconfig(str(path))


# -- API calls against the fake API server -------------------------------------------------------------------


@pytest.fixture
def tls_api() -> Iterator[FakeApiServer]:
    with FakeApiServer(tls=True, token=TOKEN) as server:
        yield server


def ingress(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "namespace": "hanzo", "labels": labels or {}},
        "spec": {"rules": [{"host": f"{name}.test"}]},
    }


def tls_client(api: FakeApiServer, token: str = TOKEN) -> KubeClient:
    return KubeClient(KubeConnection(server=api.url, source="test", token=TokenSource(token), ca_pem=api.ca_pem))


@run_async
async def test_list_get_and_selectors_over_tls(tls_api: FakeApiServer) -> None:
    tls_api.create(ingress("a", {"tier": "edge"}))
    tls_api.create(ingress("b", {"tier": "core"}))
    client = tls_client(tls_api)
    try:
        items, version = await client.list(INGRESSES)
        assert [i["metadata"]["name"] for i in items] == ["a", "b"]
        assert items[0]["kind"] == "Ingress"
        assert items[0]["apiVersion"] == "networking.k8s.io/v1"
        assert version == str(tls_api.resource_version)
        edge, _ = await client.list(INGRESSES, "hanzo", label_selector="tier in (edge),tier!=core")
        assert [i["metadata"]["name"] for i in edge] == ["a"]
        named, _ = await client.list(INGRESSES, field_selector="metadata.name=b")
        assert [i["metadata"]["name"] for i in named] == ["b"]
        assert (await client.get(INGRESSES, "hanzo", "a"))["spec"]["rules"][0]["host"] == "a.test"
        with pytest.raises(KubeApiError) as missing:
            await client.get(INGRESSES, "hanzo", "zzz")
        assert missing.value.not_found
        assert 'ingresses.networking.k8s.io "zzz" not found' in str(missing.value)
        lists = sum(1 for method, _ in tls_api.requests if method == "GET")
        assert lists == 5
    finally:
        await client.close()


@run_async
async def test_a_wrong_token_is_401_and_an_unknown_ca_fails_the_handshake(tls_api: FakeApiServer) -> None:
    client = tls_client(tls_api, token="wrong")
    with pytest.raises(KubeApiError) as denied:
        await client.list(SERVICES)
    assert denied.value.code == 401
    await client.close()
    untrusted = KubeClient(KubeConnection(server=tls_api.url, source="test", token=TokenSource(TOKEN)))
    with pytest.raises(KubeTransportError, match="CERTIFICATE_VERIFY_FAILED"):
        await untrusted.list(SERVICES)
    await untrusted.close()
    insecure = KubeClient(
        KubeConnection(server=tls_api.url, source="test", token=TokenSource(TOKEN), insecure_skip_tls_verify=True)
    )
    assert (await insecure.list(SERVICES))[0] == []
    await insecure.close()


@run_async
async def test_replace_status_changes_only_the_status(tls_api: FakeApiServer) -> None:
    tls_api.create(ingress("web"))
    client = tls_client(tls_api)
    try:
        current = await client.get(INGRESSES, "hanzo", "web")
        current["spec"] = {"rules": [{"host": "hijacked.test"}]}
        current["status"] = {"loadBalancer": {"ingress": [{"ip": "10.20.30.40"}]}}
        written = await client.replace_status(INGRESSES, "hanzo", "web", current)
        assert written["status"] == {"loadBalancer": {"ingress": [{"ip": "10.20.30.40"}]}}
        stored = tls_api.get(INGRESSES, "hanzo", "web")
        assert stored is not None
        assert stored["spec"]["rules"][0]["host"] == "web.test"
        assert stored["status"]["loadBalancer"]["ingress"] == [{"ip": "10.20.30.40"}]
        assert ("PUT", "/apis/networking.k8s.io/v1/namespaces/hanzo/ingresses/web/status") in tls_api.requests
        stale = dict(current, metadata=dict(current["metadata"], resourceVersion="1"))
        with pytest.raises(KubeApiError) as conflict:
            await client.replace_status(INGRESSES, "hanzo", "web", stale)
        assert conflict.value.code == 409
    finally:
        await client.close()


@run_async
async def test_watch_streams_events_and_raises_410_for_an_old_version(tls_api: FakeApiServer) -> None:
    tls_api.create(ingress("a"))
    client = tls_client(tls_api)
    try:
        _, version = await client.list(INGRESSES)
        tls_api.create(ingress("b"))
        tls_api.delete(INGRESSES, "hanzo", "a")
        seen = []
        async for event in client.watch(INGRESSES, version, timeout_seconds=1):
            seen.append((event.type, event.object["metadata"]["name"]))
        assert seen == [("ADDED", "b"), ("DELETED", "a")], "replayed from history, then a clean end at the timeout"
        tls_api.compact()
        with pytest.raises(KubeApiError) as expired:
            async for _ in client.watch(INGRESSES, version, timeout_seconds=1):
                pass
        assert expired.value.expired
        assert expired.value.reason == "Expired"
    finally:
        await client.close()


@run_async
async def test_events_split_across_chunks_are_joined() -> None:
    with FakeApiServer(watch_chunk_size=7) as api:
        big = ingress("big")
        big["metadata"]["annotations"] = {"note": "x" * 300_000}
        client = KubeClient(from_flags(api.url))
        try:
            _, version = await client.list(INGRESSES)
            api.create(big)
            api.create(ingress("small"))
            seen = []
            async for event in client.watch(INGRESSES, version, timeout_seconds=1):
                seen.append((event.object["metadata"]["name"], len(event.object["metadata"].get("annotations") or {})))
            assert seen == [("big", 1), ("small", 0)]
        finally:
            await client.close()


def test_unusable_tls_material_is_a_startup_error(tmp_path: Path) -> None:
    (tmp_path / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    with pytest.raises(KubeConfigError, match="flags: unusable TLS material"):
        resolve_connection("https://k8s:6443", "t", str(tmp_path / "ca.crt"), env={})
    # Plain HTTP never reads it.
    assert resolve_connection("http://k8s:8080", "t", env={}).ca_pem is None


@run_async
async def test_a_cut_watch_raises_and_half_an_event_is_never_delivered(tls_api: FakeApiServer) -> None:
    client = tls_client(tls_api)
    try:
        _, version = await client.list(INGRESSES)
        seen: list[str] = []

        async def follow() -> None:
            async for event in client.watch(INGRESSES, version, timeout_seconds=30):
                seen.append(event.type)

        task = asyncio.create_task(follow())
        for _ in range(500):
            if tls_api.watch_count() == 1:
                break
            await asyncio.sleep(0.01)
        assert tls_api.cut_watches() == 1
        with pytest.raises(KubeTransportError):
            await task
        assert seen == []
    finally:
        await client.close()


@run_async
async def test_a_pooled_connection_closed_by_the_server_is_redialled(tls_api: FakeApiServer) -> None:
    client = tls_client(tls_api)
    try:
        await client.list(SERVICES)
        tls_api.restart()  # drops the idle keep-alive connection
        for _ in range(500):
            if not tls_api.refusing:
                break
            await asyncio.sleep(0.01)
        assert (await client.list(SERVICES))[0] == []
    finally:
        await client.close()


@run_async
async def test_api_server_connections_use_tcp_keepalive(tls_api: FakeApiServer) -> None:
    client = tls_client(tls_api)
    try:
        await client.list(SERVICES)
        sock = client._idle[0].writer.get_extra_info("socket")
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 30
    finally:
        await client.close()


@run_async
async def test_a_refused_connection_is_a_transport_error() -> None:
    with FakeApiServer() as api:
        api.refuse(None)
        client = KubeClient(from_flags(api.url), connect_timeout=2)
        with pytest.raises(KubeTransportError, match="connect to"):
            await client.list(SERVICES)
        await client.close()
