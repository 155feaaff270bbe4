"""The names Traefik's Kubernetes providers give the objects they build (``/api/rawdata`` keys).

Shared by the Ingress provider and the CRD provider, so both spell names exactly as Traefik v3.6 does:

* :func:`normalize` is Traefik's ``provider.Normalize``: every run of characters that are neither Unicode letters
  nor Unicode numbers becomes one ``-``, none leading or trailing (``hanzo-api.gateway/`` -> ``hanzo-api-gateway``).
* :func:`hash_suffix` is ``fmt.Sprintf("%s-%.10x", key, sha256(text))``: the key, a dash and the first 10 bytes of
  the SHA-256 of ``text`` as 20 lowercase hex digits. The Ingress provider appends it to colliding router keys
  (hashing the rule), the CRD provider to every route (hashing the match).
"""

from __future__ import annotations

import hashlib
import re

__all__ = ["hash_suffix", "make_id", "normalize", "short_hash"]


# Go's unicode.IsLetter / unicode.IsNumber are the general categories L* and N*: Python's ``\w`` without ``_``
# (``str.isalnum`` characters), matched in C.
_WORD_RUN = re.compile(r"[^\W_]+")


def normalize(name: str) -> str:
    """Return ``name`` with every run of non-letter, non-number characters replaced by one ``-`` (trimmed)."""
    return "-".join(_WORD_RUN.findall(name))


def short_hash(text: str) -> str:
    """Return the first 10 bytes of ``sha256(text)`` as 20 lowercase hex digits (Go's ``%.10x``)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:20]


def hash_suffix(key: str, text: str) -> str:
    """Return ``<key>-<short_hash(text)>``."""
    return f"{key}-{short_hash(text)}"


def make_id(namespace: str, name: str) -> str:
    """Return Traefik's ``makeID``: ``<namespace>-<name>``, or ``name`` alone when there is no namespace."""
    return f"{namespace}-{name}" if namespace else name
