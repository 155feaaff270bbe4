"""``make run``: the bundled whoami backend plus ``ingress`` on ``examples/quickstart``.

Starts ``python -m hanzo_edge.demo.whoami`` on 127.0.0.1:8081, then runs ``ingress --configFile=...`` in the
foreground. Ctrl-C (SIGINT to the whole process group) or SIGTERM stops the ingress gracefully (it drains, exits 0),
then the backend; the launcher exits with the ingress's code.

The ports are the example's (web ``:8080``, metrics and ping ``:9100``, backend ``8081``). When they are taken, set
``HANZO_QUICKSTART_WEB`` / ``HANZO_QUICKSTART_METRICS`` (Traefik addresses, e.g. ``127.0.0.1:18080``) and
``HANZO_QUICKSTART_BACKEND_PORT``: the launcher then serves a copy of the example with only those addresses changed,
written to a temporary directory (edit that copy to see a live reload).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

__all__ = ["Ports", "derived_example", "main"]

WEB_ENV = "HANZO_QUICKSTART_WEB"
METRICS_ENV = "HANZO_QUICKSTART_METRICS"
BACKEND_ENV = "HANZO_QUICKSTART_BACKEND_PORT"

BANNER = """
  Hanzo Edge quick start
  ----------------------
  web entrypoint   http://{web}   (router `whoami`: Host(`whoami.localhost`))
  metrics + ping   http://{metrics}/metrics   http://{metrics}/ping

  Try:   curl -H 'Host: whoami.localhost' http://{web}/hello
         curl http://{metrics}/metrics
  Edit   {dynamic} and the change applies live.
"""


@dataclass(frozen=True)
class Ports:
    """Where the quick start listens: entrypoint addresses as Traefik writes them, and the backend's port."""

    web: str = ":8080"
    metrics: str = ":9100"
    backend: int = 8081

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Ports:
        default = cls()
        backend = env.get(BACKEND_ENV, "")
        return cls(
            web=env.get(WEB_ENV) or default.web,
            metrics=env.get(METRICS_ENV) or default.metrics,
            backend=int(backend) if backend.isdigit() else default.backend,
        )


def _browsable(address: str) -> str:
    """``:8080`` → ``127.0.0.1:8080`` (what to type in a browser or curl)."""
    return "127.0.0.1" + address if address.startswith(":") else address


def derived_example(example: Path, ports: Ports, workdir: Path) -> Path:
    """Write the example with ``ports`` instead of its own into ``workdir``; return the static file's path.

    Only the two entrypoint addresses, the dynamic directory and the backend's port in the dynamic files change.
    """
    static = yaml.safe_load((example / "ingress.yml").read_text())
    static["entryPoints"]["web"]["address"] = ports.web
    static["entryPoints"]["metrics"]["address"] = ports.metrics
    dynamic = workdir / "dynamic"
    dynamic.mkdir()
    static["providers"]["file"]["directory"] = str(dynamic)
    default_backend = f"127.0.0.1:{Ports().backend}"
    for source in sorted((example / "dynamic").iterdir()):
        if source.is_file():
            text = source.read_text().replace(default_backend, f"127.0.0.1:{ports.backend}")
            (dynamic / source.name).write_text(text)
    config = workdir / "ingress.yml"
    config.write_text(yaml.safe_dump(static, sort_keys=False))
    return config


def main() -> int:
    """Run the quick start until interrupted. Returns the ingress exit code."""
    signals: list[int] = []  # the stop signals received (set from the handler, so not a plain bool for mypy)
    ingress: subprocess.Popen[bytes] | None = None

    def stop(signum: int, _frame: object) -> None:
        # The ingress gets SIGINT itself from a Ctrl-C (same process group); SIGTERM covers `kill <launcher>`.
        signals.append(signum)
        if ingress is not None and ingress.poll() is None:
            ingress.send_signal(signal.SIGTERM)

    # First of all, so that a Ctrl-C at any moment of the start stops it cleanly instead of raising.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    example = Path.cwd() / "examples" / "quickstart"
    config = example / "ingress.yml"
    if not config.exists():
        print(f"quickstart: {config} not found; run `make run` from the repository root", file=sys.stderr)
        return 1
    ports = Ports.from_env(os.environ)
    workdir: Path | None = None
    if ports != Ports():
        workdir = Path(tempfile.mkdtemp(prefix="hanzo-quickstart-"))
        config = derived_example(example, ports, workdir)
    dynamic = (workdir or example) / "dynamic" / "whoami.yml"
    backend = subprocess.Popen(
        [sys.executable, "-m", "hanzo_edge.demo.whoami", "--port", str(ports.backend), "--name", "whoami-1"],
        start_new_session=True,  # the backend is stopped by us, after the ingress has drained
    )
    try:
        print(BANNER.format(web=_browsable(ports.web), metrics=_browsable(ports.metrics), dynamic=dynamic), flush=True)
        if signals:
            return 0
        ingress = subprocess.Popen([sys.executable, "-m", "hanzo_edge", f"--configFile={config}"])
        if signals:  # the signal came between the check and the start: pass it on
            ingress.send_signal(signal.SIGTERM)
        code = ingress.wait()
        if signals and code in (-signal.SIGINT, -signal.SIGTERM):
            # Interrupted before its interpreter could install a handler: it had not served anything yet.
            code = 0
        return code
    finally:
        if backend.poll() is None:
            os.killpg(backend.pid, signal.SIGTERM)
            backend.wait(5)
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
