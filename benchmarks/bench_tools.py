"""Install the shared bench's tools (nginx, HAProxy, Caddy, wrk, h2load) only when one is missing.

``../shared/bench/setup.sh`` checks packages with ``dpkg-query | grep -q`` under ``pipefail``; grep exiting early
makes dpkg-query die of SIGPIPE now and then, so the script exits 141 even when everything is installed. Running it
only when a tool is really missing keeps ``make bench`` from failing for that.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

TOOLS = ("nginx", "haproxy", "caddy", "wrk", "h2load")


def ensure_bench_tools(bench: Path) -> None:
    """Run ``bench/setup.sh`` (as root) when one of the bench's tools is not on PATH."""
    if os.geteuid() != 0 or all(shutil.which(tool) for tool in TOOLS):
        return
    subprocess.run(["bash", str(bench / "setup.sh")], check=True)
