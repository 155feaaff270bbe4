"""What ``gateway check`` says about the Hanzo environment: unusable variables and a ``routes.yaml`` that does not
load are errors (``run`` would refuse to start), variables of other Hanzo versions are warnings."""

from __future__ import annotations

from collections.abc import Mapping

from hanzo_edge.gateway.hanzo.host_table import HostTableError, load_host_table
from hanzo_edge.gateway.hanzo.settings import HanzoSettings, SettingsError, unsupported_variables

__all__ = ["check_environment"]


def check_environment(env: Mapping[str, str], cwd: str | None = None) -> tuple[list[str], list[str]]:
    """Return ``(errors, warnings)`` as ``check`` prints them; reads ``routes.yaml`` but calls nothing."""
    warnings = [f"WARNING environment: {line}" for line in unsupported_variables(env)]
    try:
        settings = HanzoSettings.from_env(env, cwd)
    except SettingsError as exc:
        return [f"ERROR environment: {exc}"], warnings
    if settings.routes_file:
        try:
            load_host_table(settings.routes_file)
        except HostTableError as exc:
            return [f"ERROR host table: {exc}"], warnings
    return [], warnings
