"""Providers: sources of whole dynamic-configuration snapshots (`Provider.watch()`)."""

from __future__ import annotations

from hanzo_edge.providers.base import Provider
from hanzo_edge.providers.file import FileProvider, load_file_snapshot

__all__ = ["FileProvider", "Provider", "load_file_snapshot"]
