"""The private copies of certificates and keys that OpenSSL loads from files do not outlive the process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
from pathlib import Path
from hanzo_edge.tls.certificates import default_generated_certificate
loaded = default_generated_certificate()
print(Path(loaded.cert_path).parent)
"""


def test_key_material_copies_are_removed_when_the_process_exits() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=True)

    directory = Path(done.stdout.strip())
    assert directory.name.startswith("hanzo-edge-tls-")
    assert not directory.exists()
