"""A process without TLS never loads ``cryptography`` (about 10 MiB resident): it is imported only to read or make a
certificate."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys
import hanzo_edge.app
import hanzo_edge.middlewares.pass_tls_client_cert
import hanzo_edge.tls.catalog
print(sorted(m for m in sys.modules if m.split(".")[0] == "cryptography"))
"""


def test_importing_the_application_does_not_load_cryptography() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=True)

    assert done.stdout.strip() == "[]"
