"""A process without TLS never loads ``cryptography`` (about 10 MiB resident): it is imported only to read or make a
certificate."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys
import hanzo_edge.app
import hanzo_edge.middlewares.pass_tls_client_cert
from hanzo_edge.config.dynamic import decode_dynamic
from hanzo_edge.tls.catalog import build_catalog
config, _ = decode_dynamic({"http": {"routers": {"r": {"rule": "Host(`a.test`)", "service": "s"}}}})
build_catalog({"file": config})  # a build without TLS: no default certificate is generated
print(sorted(m for m in sys.modules if m.split(".")[0] == "cryptography"))
"""


def test_importing_and_building_without_tls_does_not_load_cryptography() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=True)

    assert done.stdout.strip() == "[]"
