"""The Hanzo gateway's environment (gateway-interface.md items 2, 4, 5), read once at startup into typed settings.

Names and defaults are hanzoai/gateway's (``DefaultAuthConfig``, ``DefaultWidgetSecurityConfig``): the booleans are
Go's string tests (``AUTH_ENABLED`` and ``BILLING_ENABLED`` are on unless exactly ``"false"``, ``AUTH_REQUIRE`` only
``"true"`` enables). A value we cannot use (a negative limit, a bad duration) is a :class:`SettingsError` naming the
variable: the gateway refuses to start rather than run with a guess.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from hanzo_edge.config.durations import parse_duration

__all__ = ["DEFAULT_PUBLIC_PATHS", "DEFAULT_WIDGET_ORIGINS", "HanzoSettings", "SettingsError", "unsupported_variables"]

# Variables of other hanzoai/gateway versions that we do not honour: named at startup, never silently ignored.
_UNSUPPORTED = {
    "ADMIN_EMAILS": "admin flags from e-mail addresses are not minted",
    "ADMIN_DOMAINS": "admin flags from e-mail domains are not minted",
    "GATEWAY_ALLOWED_AUDIENCES": "use AUTH_AUDIENCE (one audience)",
    "JWT_AUDIENCE": "use AUTH_AUDIENCE",
    "BILLING_PATHS": "billing applies to every authenticated request (March behaviour)",
}

DEFAULT_PUBLIC_PATHS = ("/__health", "/__stats", "/.well-known/", "/favicon")
DEFAULT_PUBLIC_HOSTS = ("hanzo.id", "lux.id", "pars.id", "id.bootno.de", "id.zoo.network", "iam.hanzo.ai")
DEFAULT_WIDGET_ORIGINS = (
    "hanzo.ai",
    "hanzo.app",
    "hanzo.chat",
    "hanzo.bot",
    "hanzo.id",
    "lux.network",
    "lux.financial",
    "lux.finance",
    "lux.market",
    "lux.industries",
    "lux.exchange",
    "lux.blog",
    "lux.chat",
    "lux.id",
    "zoo.ngo",
    "zoo.network",
    "zoo.id",
    "pars.network",
    "pars.id",
    "karma.style",
    "localhost",
)


class SettingsError(ValueError):
    """An environment variable has a value the gateway cannot use; the message names it."""


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r}: want an integer") from None
    if value < 0:
        raise SettingsError(f"{name}={raw!r}: want 0 or more")
    return value


@dataclass(frozen=True, slots=True)
class HanzoSettings:
    """See the module docstring; field names follow the variables."""

    auth_enabled: bool = True
    jwks_url: str = "https://hanzo.id/.well-known/jwks"
    issuer: str = "https://hanzo.id"
    audience: str = ""
    public_paths: tuple[str, ...] = DEFAULT_PUBLIC_PATHS
    public_hosts: tuple[str, ...] = DEFAULT_PUBLIC_HOSTS
    require_auth: bool = False
    billing_url: str = "http://commerce.hanzo.svc.cluster.local:8001"
    commerce_token: str = ""
    billing_enabled: bool = True
    billing_timeout: float = 5.0  # hanzoai/gateway's http.Client timeout: a slow Commerce cannot hold a request longer
    widget_origins: tuple[str, ...] = DEFAULT_WIDGET_ORIGINS
    widget_per_ip: int = 10
    widget_global: int = 600
    widget_window: float = 60.0
    widget_redis: str = ""
    routes_file: str = ""  # "" = no host table

    @classmethod
    def from_env(cls, env: Mapping[str, str], cwd: str | None = None) -> HanzoSettings:
        """Read the settings from ``env``; ``cwd`` is where ``./routes.yaml`` is looked for. Raises SettingsError."""
        window_raw = env.get("WIDGET_RATE_LIMIT_WINDOW", "").strip() or "1m"
        try:
            window = parse_duration(window_raw)
        except ValueError:
            raise SettingsError(f"WIDGET_RATE_LIMIT_WINDOW={window_raw!r}: want a Go duration such as 1m") from None
        if window <= 0:
            raise SettingsError(f"WIDGET_RATE_LIMIT_WINDOW={window_raw!r}: want a positive duration")
        timeout_raw = env.get("BILLING_TIMEOUT", "").strip() or "5s"
        try:
            timeout = parse_duration(timeout_raw)
        except ValueError:
            raise SettingsError(f"BILLING_TIMEOUT={timeout_raw!r}: want a Go duration such as 5s") from None
        if timeout <= 0:
            raise SettingsError(f"BILLING_TIMEOUT={timeout_raw!r}: want a positive duration")
        redis_url = env.get("WIDGET_RATE_LIMIT_REDIS", "").strip()
        if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise SettingsError(f"WIDGET_RATE_LIMIT_REDIS={redis_url!r}: want a redis:// URL")
        routes_file = env.get("GATEWAY_ROUTES_FILE", "").strip()
        if not routes_file:
            candidate = os.path.join(cwd if cwd is not None else os.getcwd(), "routes.yaml")
            routes_file = candidate if os.path.isfile(candidate) else ""
        paths = env.get("AUTH_PUBLIC_PATHS")
        hosts = env.get("AUTH_PUBLIC_HOSTS")
        origins = env.get("WIDGET_ALLOWED_ORIGINS", "").strip()
        defaults = cls()
        return cls(
            auth_enabled=env.get("AUTH_ENABLED") != "false",
            jwks_url=env.get("AUTH_JWKS_URL") or defaults.jwks_url,
            issuer=env.get("AUTH_ISSUER") or defaults.issuer,
            audience=env.get("AUTH_AUDIENCE", ""),
            public_paths=_csv(paths) if paths is not None and paths.strip() else DEFAULT_PUBLIC_PATHS,
            public_hosts=tuple(h.lower() for h in _csv(hosts)) if hosts is not None else DEFAULT_PUBLIC_HOSTS,
            require_auth=env.get("AUTH_REQUIRE") == "true",
            billing_url=(env.get("AUTH_BILLING_URL") or defaults.billing_url).rstrip("/"),
            commerce_token=env.get("COMMERCE_SERVICE_TOKEN", ""),
            billing_enabled=env.get("BILLING_ENABLED") != "false",
            billing_timeout=timeout,
            widget_origins=tuple(o.lower() for o in _csv(origins)) if origins else DEFAULT_WIDGET_ORIGINS,
            widget_per_ip=_positive_int(env, "WIDGET_RATE_LIMIT_PER_IP", 10),
            widget_global=_positive_int(env, "WIDGET_RATE_LIMIT_GLOBAL", 600),
            widget_window=window,
            widget_redis=redis_url,
            routes_file=routes_file,
        )


def unsupported_variables(env: Mapping[str, str]) -> list[str]:
    """One line per Hanzo variable set in ``env`` that this gateway does not honour (for the startup log)."""
    lines = [f"{name} is not supported and is ignored: {why}" for name, why in _UNSUPPORTED.items() if env.get(name)]
    return lines
