"""Fixtures of the integration suite: real backends on 127.0.0.1 and the real ``ingress`` CLI as a subprocess."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from edge_backend import Backend
from edge_harness import Ingress, clean_env, free_port, write_dynamic

BackendFactory = Callable[..., Backend]
IngressFactory = Callable[..., Ingress]


@pytest.fixture
def backend() -> Iterator[BackendFactory]:
    """``backend(name="backend")`` starts a test backend; every one is stopped after the test."""
    started: list[Backend] = []

    def start(name: str = "backend") -> Backend:
        server = Backend(name)
        started.append(server)
        return server.start()

    yield start
    for server in reversed(started):
        server.stop()


@pytest.fixture
def ingress(tmp_path: Path) -> Iterator[IngressFactory]:
    """``ingress(dynamic, *flags)`` starts ``ingress`` on a free port with ``dynamic`` as its file provider.

    ``args=[...]`` replaces the generated arguments entirely (then pass ``port=`` too); ``env`` adds variables;
    ``ready=False`` returns without waiting for the entrypoint to answer. Every process is stopped after the test.
    """
    started: list[Ingress] = []

    def start(
        dynamic: Mapping[str, Any] | None = None,
        *flags: str,
        args: Sequence[str] | None = None,
        port: int | None = None,
        env: Mapping[str, str] | None = None,
        ready: bool = True,
    ) -> Ingress:
        if port is None:
            port = free_port()
        if args is None:
            dynamic_file = write_dynamic(tmp_path / f"dynamic-{port}.yml", dynamic or {})
            args = [
                f"--entrypoints.web.address=127.0.0.1:{port}",
                f"--providers.file.filename={dynamic_file}",
                *flags,
            ]
        proc = Ingress(args, port, tmp_path, clean_env(env))
        started.append(proc)
        return proc.wait_ready() if ready else proc

    yield start
    for proc in reversed(started):
        proc.stop()
