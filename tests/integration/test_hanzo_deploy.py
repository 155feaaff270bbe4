"""``deploy/kubernetes/gateway``: rendered with ``kubectl kustomize`` (offline) and checked for the seed's shape (2
replicas, ports 8080 and 9651, probes on /__health, config from a ConfigMap, auth env from a Secret); the config it
ships passes ``gateway check`` and its routes.yaml loads."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from edge_harness import GATEWAY, clean_env

from hanzo_edge.gateway.hanzo.host_table import load_host_table

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes" / "gateway"


def _documents(text: str) -> dict[str, dict[str, Any]]:
    return {doc["kind"]: doc for doc in yaml.safe_load_all(text) if doc}


def _check_shape(docs: dict[str, dict[str, Any]]) -> None:
    deployment = docs["Deployment"]
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert {p["containerPort"] for p in container["ports"]} == {8080, 9651}
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == "/__health"
        assert container[probe]["httpGet"]["port"] in (8080, "http")
    assert [source["secretRef"]["name"] for source in container["envFrom"]] == ["gateway-auth"]
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert env["GATEWAY_ROUTES_FILE"] == "/etc/gateway/routes.yaml"
    assert container["args"][-1] == "/etc/gateway/gateway.json"
    (mount,) = container["volumeMounts"]
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert mount["mountPath"] == "/etc/gateway"
    assert volume["configMap"]["name"].startswith("gateway-config")
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    service = docs["Service"]
    assert service["spec"]["selector"] == selector
    assert {p["port"] for p in service["spec"]["ports"]} == {8080, 9651}


def test_manifests_have_the_seed_shape_and_a_valid_config(tmp_path: Path) -> None:
    docs = {**_documents((DEPLOY / "deployment.yaml").read_text()), **_documents((DEPLOY / "service.yaml").read_text())}
    _check_shape(docs)
    secret = _documents((DEPLOY / "secret.example.yaml").read_text())["Secret"]
    assert {"AUTH_JWKS_URL", "AUTH_ISSUER", "AUTH_BILLING_URL", "COMMERCE_SERVICE_TOKEN"} <= set(secret["stringData"])
    checked = subprocess.run(
        [GATEWAY, "check", "-c", str(DEPLOY / "gateway.json")],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(),
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert load_host_table(str(DEPLOY / "routes.yaml")).match("api.hanzo.ai", "/v1/chat/completions") is not None


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed (scripts/sysdeps.sh)")
def test_kustomize_renders_the_configmap_the_deployment_mounts(tmp_path: Path) -> None:
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(DEPLOY)], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    docs = _documents(rendered)
    _check_shape(docs)
    configmap = docs["ConfigMap"]
    assert configmap["metadata"]["namespace"] == "hanzo"
    volumes = docs["Deployment"]["spec"]["template"]["spec"]["volumes"]
    assert volumes[0]["configMap"]["name"] == configmap["metadata"]["name"]  # the generated (hashed) name
    (tmp_path / "gateway.json").write_text(configmap["data"]["gateway.json"])
    (tmp_path / "routes.yaml").write_text(configmap["data"]["routes.yaml"])
    checked = subprocess.run(
        [GATEWAY, "check", "-c", str(tmp_path / "gateway.json")], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert load_host_table(str(tmp_path / "routes.yaml")).redirects["app.hanzo.ai"] == "https://hanzo.app"
