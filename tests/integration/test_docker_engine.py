"""The Docker provider against a real engine (its own dockerd, see docker_engine.py): labels, defaultRule,
exposedByDefault, constraints, health checks and lifecycle events, through the real ``ingress`` CLI."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from docker_engine import DockerEngine, docker_engine
from edge_harness import Ingress, eventually, free_port, http_request

__all__ = ["docker_engine"]  # the module-scoped engine fixture, imported for pytest

IngressFactory = Callable[..., Ingress]
BOUND = 15.0  # seconds any change may take to show (events, health checks); polls return as soon as it shows


def _body(port: int, host: str) -> tuple[int, str]:
    response = http_request(port, headers={"Host": host}, timeout=5)
    return response.status, response.body.decode(errors="replace").strip()


def _routed(proc: Ingress, host: str, body: str) -> None:
    eventually(lambda: _body(proc.port, host) == (200, body), timeout=BOUND, message=proc.describe)


def _not_routed(proc: Ingress, host: str) -> None:
    eventually(lambda: _body(proc.port, host)[0] == 404, timeout=BOUND, message=proc.describe)


@pytest.fixture
def containers(docker_engine: DockerEngine) -> Iterator[list[str]]:
    """Names of the containers a test starts; removed after it."""
    names: list[str] = []
    yield names
    if names:
        docker_engine.docker("rm", "-f", *names, check=False)


def _start_ingress(ingress: IngressFactory, engine: DockerEngine, *flags: str) -> Ingress:
    port = free_port()
    args = [
        f"--entrypoints.web.address=127.0.0.1:{port}",
        f"--providers.docker.endpoint={engine.endpoint}",
        "--providers.providersThrottleDuration=0.05s",
        "--log.level=INFO",
        *flags,
    ]
    return ingress(args=args, port=port)


def test_labels_and_default_rule_route_and_events_follow_stop_pause_and_start(
    docker_engine: DockerEngine, containers: list[str], ingress: IngressFactory
) -> None:
    port_a, port_b = free_port(), free_port()
    containers += ["alpha", "beta"]
    docker_engine.run_httpd(
        "alpha",
        port_a,
        "-l",
        "traefik.http.routers.alpha.rule=Host(`alpha.test`)",
        "-l",
        f"traefik.http.services.alpha.loadbalancer.server.port={port_a}",
    )
    docker_engine.run_httpd("beta", port_b, "-l", f"traefik.http.services.beta.loadbalancer.server.port={port_b}")
    proc = _start_ingress(ingress, docker_engine)

    _routed(proc, "alpha.test", "alpha")  # the router's rule label
    _routed(proc, "beta", "beta")  # defaultRule: Host(`{{ normalize .Name }}`)

    docker_engine.docker("stop", "-t", "1", "alpha")
    _not_routed(proc, "alpha.test")
    assert _body(proc.port, "beta") == (200, "beta")

    docker_engine.docker("pause", "beta")
    _not_routed(proc, "beta")
    docker_engine.docker("unpause", "beta")
    _routed(proc, "beta", "beta")

    docker_engine.docker("start", "alpha")
    _routed(proc, "alpha.test", "alpha")


def test_exposed_by_default_false_constraints_and_a_default_rule_template(
    docker_engine: DockerEngine, containers: list[str], ingress: IngressFactory
) -> None:
    ports = {name: free_port() for name in ("kept", "not-enabled", "other-team")}
    containers += list(ports)
    labels = {
        "kept": ["traefik.enable=true", "team=edge"],
        "not-enabled": ["team=edge"],
        "other-team": ["traefik.enable=true", "team=web"],
    }
    for name, port in ports.items():
        flags: list[str] = []
        for label in [*labels[name], f"traefik.http.services.{name}.loadbalancer.server.port={port}"]:
            flags += ["-l", label]
        docker_engine.run_httpd(name, port, *flags)
    proc = _start_ingress(
        ingress,
        docker_engine,
        "--providers.docker.exposedByDefault=false",
        "--providers.docker.constraints=LabelRegex(`team`, `^ed`) && !Label(`team`, `edgy`)",
        '--providers.docker.defaultRule=Host(`{{ .ContainerName }}.{{ index .Labels "team" }}.test`)',
    )

    _routed(proc, "kept.edge.test", "kept")
    assert _body(proc.port, "not-enabled.edge.test")[0] == 404  # exposedByDefault=false, no traefik.enable
    assert _body(proc.port, "other-team.web.test")[0] == 404  # pruned by the constraint


def test_health_checks_gate_traffic(
    docker_engine: DockerEngine, containers: list[str], ingress: IngressFactory
) -> None:
    good, bad = free_port(), free_port()
    containers += ["healthy", "sick"]
    health = ["--health-interval", "1s", "--health-retries", "1", "--health-timeout", "1s"]
    docker_engine.run_httpd(
        "healthy",
        good,
        "--health-cmd",
        "true",
        *health,
        "-l",
        f"traefik.http.services.healthy.loadbalancer.server.port={good}",
    )
    docker_engine.run_httpd(
        "sick",
        bad,
        "--health-cmd",
        "false",
        *health,
        "-l",
        f"traefik.http.services.sick.loadbalancer.server.port={bad}",
    )
    proc = _start_ingress(ingress, docker_engine)

    _routed(proc, "healthy", "healthy")  # routed once its health check passed (health_status event)
    eventually(
        lambda: docker_engine.inspect("sick")["State"]["Health"]["Status"] == "unhealthy",
        timeout=BOUND,
    )
    assert _body(proc.port, "sick")[0] == 404  # the server answers, but an unhealthy container gets no traffic
    assert http_request(bad, timeout=5).status == 200
