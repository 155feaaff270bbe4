"""The Docker provider (``providers.docker``): containers' ``traefik.*`` labels → dynamic configuration.

:mod:`.client` talks to the engine, :mod:`.labels` decodes labels, :mod:`.constraints` filters containers,
:mod:`.build` makes the configuration as Traefik does, :mod:`.provider` follows the engine's events.
"""

from __future__ import annotations

from hanzo_edge.config.errors import ConfigError
from hanzo_edge.config.gotemplate import TemplateError, parse_template
from hanzo_edge.config.static import StaticConfig
from hanzo_edge.providers.base import ProviderHooks
from hanzo_edge.providers.docker.build import BuildOptions
from hanzo_edge.providers.docker.client import DockerClient
from hanzo_edge.providers.docker.constraints import compile_constraints
from hanzo_edge.providers.docker.provider import DockerProvider, make_ssl_context

__all__ = ["DockerProvider", "from_static"]


def from_static(static: StaticConfig, hooks: ProviderHooks) -> DockerProvider | None:
    """Return the provider ``providers.docker`` asks for, or None when it is not set.

    Raises:
        ConfigError: a bad ``endpoint``, ``defaultRule``, ``constraints`` or ``tls`` file, naming the option.
    """
    config = static.providers.docker
    if config is None:
        return None
    try:
        default_rule = parse_template(config.default_rule, "defaultRule")
    except TemplateError as exc:
        raise ConfigError("providers.docker.defaultRule", str(exc)) from None
    try:
        constraints = compile_constraints(config.constraints, hooks.compile_regexp)
    except ValueError as exc:
        raise ConfigError("providers.docker.constraints", str(exc)) from None
    ssl_context = None
    if config.tls is not None:
        tls = config.tls
        try:
            ssl_context = make_ssl_context(tls.ca, tls.cert, tls.key, tls.insecure_skip_verify)
        except (OSError, ValueError) as exc:
            raise ConfigError("providers.docker.tls", f"cannot load the TLS files: {exc}") from None
    try:
        client = DockerClient(
            config.endpoint,
            ssl_context=ssl_context,
            timeout=config.http_client_timeout,
            username=config.username,
            password=config.password,
        )
    except ValueError as exc:
        raise ConfigError("providers.docker.endpoint", str(exc)) from None
    options = BuildOptions(
        default_rule=default_rule,
        exposed_by_default=config.exposed_by_default,
        network=config.network,
        use_bind_port_ip=config.use_bind_port_ip,
        allow_empty_services=config.allow_empty_services,
        constraints=constraints,
    )
    return DockerProvider(client, options, watch=config.watch, on_failure=hooks.on_failure)
