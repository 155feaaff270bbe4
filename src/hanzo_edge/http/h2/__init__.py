"""HTTP/2 downstream: the server protocol (``server.py``), its limits (``limits.py``) and the h2 ↔ request translation.

``h2`` (python-hyper's sans-IO state machine) is imported only by ``server.py``, which is itself imported only when
a connection turns out to speak HTTP/2 (ALPN ``h2``, or the prior-knowledge preface on a plain entrypoint): a
process that never sees HTTP/2 never loads it.
"""

from __future__ import annotations

__all__ = ["PREFACE"]

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
"""The client connection preface (RFC 9113 §3.4) that starts every HTTP/2 connection."""
