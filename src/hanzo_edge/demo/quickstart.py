"""``make run``: the bundled whoami backend plus ``ingress`` on ``examples/quickstart``.

Starts ``python -m hanzo_edge.demo.whoami`` on 127.0.0.1:8081, then runs ``ingress --configFile=...`` in the
foreground. Ctrl-C (or SIGTERM) stops the ingress gracefully, then the backend.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

__all__ = ["main"]

BANNER = """
  Hanzo Edge quick start
  ----------------------
  web entrypoint   http://127.0.0.1:8080   (router `whoami`: Host(`whoami.localhost`))
  ping             http://127.0.0.1:9100/ping

  Try:   curl http://whoami.localhost:8080/
         curl -H 'Host: whoami.localhost' http://127.0.0.1:8080/hello
  Edit   {dynamic} and the change applies live.
"""


def main() -> int:
    """Run the quick start until interrupted. Returns the ingress exit code."""
    root = Path.cwd()
    config = root / "examples" / "quickstart" / "ingress.yml"
    if not config.exists():
        print(f"quickstart: {config} not found; run `make run` from the repository root", file=sys.stderr)
        return 1
    backend = subprocess.Popen(
        [sys.executable, "-m", "hanzo_edge.demo.whoami", "--port", "8081", "--name", "whoami-1"],
        start_new_session=True,
    )
    print(BANNER.format(dynamic=root / "examples" / "quickstart" / "dynamic" / "whoami.yml"), flush=True)
    ingress = subprocess.Popen([sys.executable, "-m", "hanzo_edge", f"--configFile={config}"])

    def forward(signum: int, _frame: object) -> None:
        if ingress.poll() is None:
            ingress.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    try:
        code = ingress.wait()
    finally:
        if backend.poll() is None:
            os.killpg(backend.pid, signal.SIGTERM)
            backend.wait(5)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
