"""The provider factory: the static configuration alone decides which providers run."""

from __future__ import annotations

from hanzo_edge.config.loader import load_static
from hanzo_edge.config.static import StaticConfig
from hanzo_edge.providers.base import ProviderHooks
from hanzo_edge.providers.factory import PROVIDER_FACTORIES, create_providers
from hanzo_edge.providers.file import FileProvider


def _static(*flags: str) -> StaticConfig:
    return load_static(["--entrypoints.web.address=127.0.0.1:0", *flags], {}, search=False)


def test_the_file_provider_is_made_from_providers_file() -> None:
    def failed() -> None:
        pass

    static = _static("--providers.file.directory=/etc/dyn", "--providers.file.watch=false")
    [provider] = create_providers(static, ProviderHooks(on_failure=failed))
    assert isinstance(provider, FileProvider)
    assert (provider.name, provider.filename, provider.directory, provider.watch_changes) == (
        "file",
        "",
        "/etc/dyn",
        False,
    )
    assert provider.poll_interval == 0.2
    assert provider._on_failure is failed, "load failures reach the application's reload-failure hook"


def test_no_provider_without_a_file_or_directory() -> None:
    static = _static()
    assert create_providers(static, ProviderHooks()) == []


def test_a_parsed_provider_without_a_factory_starts_nothing() -> None:
    # providers.rest is parsed and reported as unsupported (config/support.py); no factory makes it.
    static = _static("--providers.rest=true")
    assert static.providers.rest is not None
    assert create_providers(static, ProviderHooks()) == []


def test_factories_run_in_registry_order_and_a_new_one_plugs_in_without_editing_the_others() -> None:
    static = _static("--providers.file.filename=dyn.yml")
    made: list[str] = []

    class Extra:
        name = "extra"

        def watch(self) -> object:
            raise NotImplementedError

    def extra(static: StaticConfig, hooks: ProviderHooks) -> Extra:
        made.append("extra")
        return Extra()

    providers = create_providers(static, ProviderHooks(), {**PROVIDER_FACTORIES, "extra": extra})  # type: ignore[dict-item]
    assert [provider.name for provider in providers] == ["file", "extra"]
    assert made == ["extra"]
