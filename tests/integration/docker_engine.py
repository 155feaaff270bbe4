"""A private Docker engine for the Docker provider's integration tests.

Each test module starts its own ``dockerd`` (the issue's flags: no iptables, no bridge, data and exec roots,
pidfile and unix socket in a temporary directory), imports ``local/busybox:test`` from Debian's busybox-static
(nothing is pulled), and stops the daemon by the pid it started, then unmounts and removes its directories.
Containers use host networking only, serving ``busybox httpd`` on 127.0.0.1.

Where dockerd cannot start, the tests are skipped with the reason; with ``CI=true`` that is a failure instead.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

__all__ = ["IMAGE", "DockerEngine", "docker_engine", "engine_or_skip"]

IMAGE = "local/busybox:test"
BUSYBOX = "/bin/busybox"


def _docker_cli() -> str | None:
    for candidate in ("/usr/bin/docker", shutil.which("docker")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


class DockerEngine:
    """One dockerd on a unix socket in ``root`` (see the module docstring)."""

    def __init__(self, root: Path, *extra_flags: str) -> None:
        self.root = root
        self.extra_flags = extra_flags
        self.socket = root / "docker.sock"
        self.endpoint = f"unix://{self.socket}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.cli = _docker_cli() or "docker"
        self.log = root / "dockerd.log"

    def start(self, timeout: float = 30.0) -> None:
        """Start dockerd and wait (bounded) until it answers ``/_ping``.

        Raises:
            RuntimeError: dockerd exited or did not answer in time (the message has its log's tail).
        """
        dockerd = shutil.which("dockerd")
        if dockerd is None:
            raise RuntimeError("dockerd is not installed (scripts/sysdeps.sh installs docker.io)")
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    dockerd,
                    "--iptables=false",
                    "--bridge=none",
                    "--data-root",
                    str(self.root / "data"),
                    "--exec-root",
                    str(self.root / "exec"),
                    "--pidfile",
                    str(self.root / "dockerd.pid"),
                    "-H",
                    self.endpoint,
                    *self.extra_flags,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dockerd exited with {self.proc.returncode}: {self.log_tail()}")
            if self.socket.exists() and self.ping():
                return
            time.sleep(0.05)
        raise RuntimeError(f"dockerd did not answer within {timeout}s: {self.log_tail()}")

    def ping(self) -> bool:
        result = self.api("/_ping", raw=True)
        return result == "OK"

    def api(self, path: str, *, raw: bool = False) -> Any:
        """GET ``path`` from the engine with curl (None when it does not answer)."""
        try:
            done = subprocess.run(
                ["curl", "-sf", "--max-time", "5", "--unix-socket", str(self.socket), f"http://docker{path}"],
                capture_output=True,
                timeout=10,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return None
        if done.returncode != 0:
            return None
        text = done.stdout.decode()
        return text if raw else json.loads(text)

    def log_tail(self, lines: int = 15) -> str:
        try:
            return " | ".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def docker(self, *args: str, check: bool = True, timeout: float = 60.0) -> str:
        """Run the docker CLI against this engine and return its stdout."""
        done = subprocess.run(
            [self.cli, "-H", self.endpoint, *args], capture_output=True, timeout=timeout, check=False, text=True
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout.strip()

    def build_image(self) -> None:
        """``docker import`` a directory holding /bin/busybox and its sh, httpd and mkdir links."""
        image = self.root / "image"
        (image / "bin").mkdir(parents=True, exist_ok=True)
        shutil.copy2(BUSYBOX, image / "bin" / "busybox")
        for link in ("sh", "httpd", "mkdir", "true", "false"):
            target = image / "bin" / link
            if not target.exists():
                target.symlink_to("busybox")
        tar = subprocess.Popen(["tar", "-C", str(image), "-c", "."], stdout=subprocess.PIPE)
        done = subprocess.run(
            [self.cli, "-H", self.endpoint, "import", "-", IMAGE], stdin=tar.stdout, capture_output=True, timeout=60
        )
        if tar.stdout is not None:
            tar.stdout.close()
        tar.wait(timeout=30)
        if done.returncode != 0:
            raise RuntimeError(f"docker import failed: {done.stderr.decode(errors='replace')}")

    def run_httpd(self, name: str, port: int, *options: str, body: str = "") -> str:
        """Start container ``name`` on the host network serving ``body`` (default: its name) on 127.0.0.1:port."""
        text = body or name
        script = f"mkdir -p /w && echo {text} > /w/index.html && exec httpd -f -p 127.0.0.1:{port} -h /w"
        return self.docker(
            "run", "-d", "--init", "--name", name, "--network", "host", *options, IMAGE, "sh", "-c", script
        )

    def inspect(self, name: str) -> dict[str, Any]:
        answer = self.api(f"/containers/{urllib.parse.quote(name)}/json")
        return answer if isinstance(answer, dict) else {}

    def stop(self, timeout: float = 30.0) -> None:
        """Stop dockerd by the pid this object started (SIGTERM, then SIGKILL after ``timeout``)."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def stop_containerd(self) -> None:
        """Stop the containerd our dockerd started, if it outlived it (``--live-restore`` keeps it running)."""
        pidfile = self.root / "exec" / "containerd" / "containerd.pid"
        try:
            pid = int(pidfile.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return
        if str(self.root).encode() not in cmdline:  # not ours (a recycled pid)
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            time.sleep(0.05)

    def cleanup(self) -> None:
        """Unmount what dockerd left mounted under the root (its netns, overlays) and remove the directories."""
        self.stop_containerd()
        mounts: list[str] = []
        try:
            with open("/proc/mounts") as handle:
                for line in handle:
                    point = line.split()[1].encode().decode("unicode_escape")
                    if point.startswith(str(self.root) + "/"):
                        mounts.append(point)
        except OSError:
            pass
        for point in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True, timeout=10, check=False)
        shutil.rmtree(self.root, ignore_errors=True)


def engine_or_skip(*extra_flags: str) -> Iterator[DockerEngine]:
    """Start an engine with the test image, yield it, stop and clean it; skip (or fail with CI=true) if it can't."""
    root = Path(tempfile.mkdtemp(prefix="hanzo-dockerd-", dir="/tmp"))  # short: unix socket paths are limited
    engine = DockerEngine(root, *extra_flags)
    try:
        try:
            engine.start()
            engine.build_image()
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            reason = f"the Docker engine cannot run here: {exc}"
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(f"{reason} (CI=true: engine tests must run)")
            pytest.skip(reason)
        yield engine
    finally:
        if engine.proc is not None and engine.proc.poll() is None:
            ids = engine.docker("ps", "-aq", check=False).split()
            if ids:
                engine.docker("rm", "-f", *ids, check=False)
        engine.stop()
        engine.cleanup()


docker_engine = pytest.fixture(scope="module", name="docker_engine")(engine_or_skip)
