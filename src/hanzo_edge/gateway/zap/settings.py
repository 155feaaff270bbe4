"""The ZAP listener's environment (hanzoai/gateway ``zap_listener.go``), read once at startup.

``ZAP_LISTENER_ENABLED`` (only ``"true"`` enables), ``ZAP_LISTENER_PORT`` (9651), ``ZAP_TLS_CERT`` /
``ZAP_TLS_KEY`` (``/etc/tls/tls.crt`` / ``.key``), ``ZAP_INTERNAL_ADDR`` (``127.0.0.1:9652``). Ours:
``ZAP_HANDSHAKE_TIMEOUT`` (Go duration, 10 s; Go's listener has none, so a silent client held a goroutine forever).
A value we cannot use is a :class:`ZapSettingsError` naming the variable; the gateway logs it and serves HTTP
without the listener, as hanzoai/gateway does with every ZAP failure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from hanzo_edge.config.durations import parse_duration

__all__ = ["ZapSettings", "ZapSettingsError", "split_host_port"]


class ZapSettingsError(ValueError):
    """A ``ZAP_*`` variable has a value the listener cannot use; the message names it."""


def split_host_port(value: str) -> tuple[str, int]:
    """Go's ``net.SplitHostPort`` for ``host:port`` and ``[v6]:port``. Raises ValueError."""
    if value.startswith("["):
        host, sep, rest = value[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise ValueError("missing port in address")
        port_text = rest[1:]
    else:
        host, sep, port_text = value.rpartition(":")
        if not sep:
            raise ValueError("missing port in address")
        if ":" in host:
            raise ValueError("too many colons in address")
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"invalid port {port_text!r}")
    return host, int(port_text)


@dataclass(frozen=True, slots=True)
class ZapSettings:
    """See the module docstring."""

    enabled: bool = False
    port: int = 9651
    cert_file: str = "/etc/tls/tls.crt"
    key_file: str = "/etc/tls/tls.key"
    internal_host: str = "127.0.0.1"
    internal_port: int = 9652
    handshake_timeout: float = 10.0

    @property
    def internal_addr(self) -> str:
        host = f"[{self.internal_host}]" if ":" in self.internal_host else self.internal_host
        return f"{host}:{self.internal_port}"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ZapSettings:
        """Read the ``ZAP_*`` variables. Raises ZapSettingsError (only when the listener is enabled)."""
        defaults = cls()
        if env.get("ZAP_LISTENER_ENABLED", "").strip() != "true":
            return defaults
        port_raw = env.get("ZAP_LISTENER_PORT", "").strip()
        port = defaults.port
        if port_raw:
            if not port_raw.isdigit() or not 0 <= int(port_raw) < 65536:
                raise ZapSettingsError(f"ZAP_LISTENER_PORT={port_raw!r}: want a port number")
            port = int(port_raw)
        internal_raw = env.get("ZAP_INTERNAL_ADDR", "").strip() or defaults.internal_addr
        try:
            internal_host, internal_port = split_host_port(internal_raw)
        except ValueError as exc:
            raise ZapSettingsError(f"ZAP_INTERNAL_ADDR={internal_raw!r}: {exc}") from None
        timeout_raw = env.get("ZAP_HANDSHAKE_TIMEOUT", "").strip() or "10s"
        try:
            timeout = parse_duration(timeout_raw)
        except ValueError:
            raise ZapSettingsError(f"ZAP_HANDSHAKE_TIMEOUT={timeout_raw!r}: want a Go duration such as 10s") from None
        if timeout <= 0:
            raise ZapSettingsError(f"ZAP_HANDSHAKE_TIMEOUT={timeout_raw!r}: want a positive duration")
        return cls(
            enabled=True,
            port=port,
            cert_file=env.get("ZAP_TLS_CERT", "").strip() or defaults.cert_file,
            key_file=env.get("ZAP_TLS_KEY", "").strip() or defaults.key_file,
            internal_host=internal_host or "127.0.0.1",
            internal_port=internal_port,
            handshake_timeout=timeout,
        )
