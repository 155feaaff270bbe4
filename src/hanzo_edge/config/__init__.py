"""Configuration: the static model and its loaders (flags, env, file), the dynamic model and its decoder.

Public entry points: `load_static` (→ `StaticConfig`), `render_help`, `decode_dynamic` (→ `Configuration`),
`parse_duration`, and the `ConfigError` / `ConfigWarning` types.
"""

from __future__ import annotations

from hanzo_edge.config.durations import parse_duration
from hanzo_edge.config.dynamic import Configuration, decode_dynamic
from hanzo_edge.config.errors import ConfigError, ConfigWarning
from hanzo_edge.config.loader import load_static, load_static_file, render_help
from hanzo_edge.config.static import StaticConfig
from hanzo_edge.config.types import FrozenDict

__all__ = [
    "ConfigError",
    "ConfigWarning",
    "Configuration",
    "FrozenDict",
    "StaticConfig",
    "decode_dynamic",
    "load_static",
    "load_static_file",
    "parse_duration",
    "render_help",
]
