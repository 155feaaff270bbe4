"""IngressApp.start runs whatever providers the factory registry makes, and follows them through the watcher."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from hanzo_edge.app import IngressApp
from hanzo_edge.config.dynamic import Configuration, decode_dynamic
from hanzo_edge.config.loader import load_static
from hanzo_edge.config.static import StaticConfig
from hanzo_edge.providers.base import ProviderHooks


def _config(host: str) -> Configuration:
    config, _ = decode_dynamic(
        {
            "http": {
                "routers": {"r": {"rule": f"Host(`{host}`)", "service": "s"}},
                "services": {"s": {"loadBalancer": {"servers": [{"url": "http://127.0.0.1:9"}]}}},
            }
        }
    )
    return config


class PushedProvider:
    """A provider whose snapshots the test pushes (a stand-in for Kubernetes or Docker)."""

    name = "pushed"

    def __init__(self, hooks: ProviderHooks) -> None:
        self.hooks = hooks
        self.queue: asyncio.Queue[Configuration] = asyncio.Queue()
        self.queue.put_nowait(_config("first.test"))

    async def watch(self) -> AsyncIterator[Configuration]:
        while True:
            yield await self.queue.get()


def test_start_runs_the_registered_providers_without_knowing_them() -> None:
    static = load_static(
        ["--entrypoints.web.address=127.0.0.1:0", "--providers.providersThrottleDuration=0s"], {}, search=False
    )
    made: list[PushedProvider] = []

    def pushed(config: StaticConfig, hooks: ProviderHooks) -> PushedProvider:
        made.append(PushedProvider(hooks))
        return made[-1]

    async def scenario() -> None:
        app = IngressApp(static, provider_factories={"pushed": pushed})
        await app.start()
        try:
            routes = [route.name for route in app.switches["web"].current.routes]
            assert "r@pushed" in routes, "the provider's first snapshot is built before serving"
            assert made[0].hooks.on_failure == app._reload_failed
            generation = app.generation
            made[0].queue.put_nowait(_config("second.test"))
            for _ in range(200):
                if app.generation > generation:
                    break
                await asyncio.sleep(0)
            assert app.generation == generation + 1
            assert app.snapshots["pushed"] == _config("second.test")
            made[0].queue.put_nowait(_config("second.test"))
            for _ in range(50):
                await asyncio.sleep(0)
            assert app.generation == generation + 1, "an unchanged snapshot is dropped"
        finally:
            await app.shutdown()

    asyncio.run(scenario())
