"""``examples/hanzo/zap/`` as its README runs it: the node (with its certificate), ``gateway run`` with the ZAP
variables, and the probe, on free ports."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from edge_harness import GATEWAY, clean_env, eventually, free_port, http_request

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hanzo" / "zap"


def test_the_zap_example_runs(tmp_path: Path) -> None:
    for name in ("gateway.json", "zap_node.py", "zap_probe.py"):
        shutil.copy(EXAMPLE / name, tmp_path / name)
    node_port, zap_port, http_port = free_port(), free_port(), free_port()
    env = {k: v for k, v in clean_env().items() if not k.startswith(("AUTH_", "BILLING_", "ZAP_", "KRAKEND_"))}
    node = subprocess.Popen(
        [sys.executable, "zap_node.py", "--port", str(node_port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    gateway: subprocess.Popen[bytes] | None = None
    log = tmp_path / "gateway.log"
    try:
        assert node.stdout is not None
        assert "echo node on" in node.stdout.readline()  # the certificate is written before the node listens
        zap_env = {
            **env,
            "AUTH_ENABLED": "false",
            "ZAP_LISTENER_ENABLED": "true",
            "ZAP_LISTENER_PORT": str(zap_port),
            "ZAP_TLS_CERT": "tls.crt",
            "ZAP_TLS_KEY": "tls.key",
            "ZAP_INTERNAL_ADDR": f"127.0.0.1:{node_port}",
        }
        with log.open("wb") as out:
            gateway = subprocess.Popen(
                [GATEWAY, "run", "-c", "gateway.json", "-p", str(http_port)],
                cwd=tmp_path,
                env=zap_env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        eventually(lambda: http_request(http_port, "GET", "/__health").status == 200, message=log.read_text)
        eventually(lambda: "ZAP listener on 127.0.0.1:" in log.read_text(), message=log.read_text)
        probe = subprocess.run(
            [sys.executable, "zap_probe.py", "--port", str(zap_port), "over the example"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=30,
            env=env,
        )
        assert probe.returncode == 0, probe.stderr
        first, second = probe.stdout.splitlines()[:2]
        assert first.split()[:2] == ["TLSv1.3", "X25519MLKEM768"]
        assert second == "over the example"
    finally:
        if gateway is not None:
            gateway.terminate()
            gateway.wait(20)
        node.terminate()
        node.wait(10)
        if node.stdout is not None:
            node.stdout.close()
