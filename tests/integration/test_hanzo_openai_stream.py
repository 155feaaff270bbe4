"""OpenAI-compatible routes through ``gateway run`` with the real ``openai`` SDK as the client.

The host table sends api.test's ``/v1/chat`` and ``/v1/models`` to a fake cloud-api (rewritten ``/v1/`` → ``/api/``)
that streams SSE chunks only when the test releases them, so each chunk must reach the SDK while the backend is still
holding the next one: no buffering anywhere on the way.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest
from gateway_fixtures import Gateway, start_gateway
from hanzo_fixtures import ISSUER, CloudApi, IamKeys

API_KEY = "sk-hanzo-test-0123456789"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Gateway, CloudApi]]:
    cloud = CloudApi()
    keys = IamKeys()
    tmp = tmp_path_factory.mktemp("openai")
    routes = tmp / "routes.yaml"
    routes.write_text(
        "routes:\n  api.test:\n"
        f'    - {{prefix: /v1/chat, backend: "{cloud.url}", rewrite: /api/chat}}\n'
        f'    - {{prefix: /v1/models, backend: "{cloud.url}", rewrite: /api/models}}\n'
    )
    config: dict[str, Any] = {"version": 3, "listen_ip": "127.0.0.1", "endpoints": []}
    env = {
        "AUTH_ENABLED": "true",
        "AUTH_REQUIRE": "true",
        "AUTH_JWKS_URL": keys.url,
        "AUTH_ISSUER": ISSUER,
        "GATEWAY_ROUTES_FILE": str(routes),
    }
    gateway = start_gateway(tmp, config, env)
    try:
        yield gateway, cloud
    finally:
        gateway.stop()
        cloud.stop()
        keys.stop()


def _client(gateway: Gateway) -> openai.OpenAI:
    return openai.OpenAI(
        api_key=API_KEY,
        base_url=f"http://127.0.0.1:{gateway.port}/v1",
        default_headers={"Host": "api.test"},
        max_retries=0,
        timeout=20,
    )


def test_streamed_chunks_arrive_as_sent(stack: tuple[Gateway, CloudApi]) -> None:
    gateway, cloud = stack
    cloud.reset()
    client = _client(gateway)
    stream = client.chat.completions.create(model="zen-1", messages=[{"role": "user", "content": "hi"}], stream=True)
    received: list[str] = []
    with stream:
        for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
            # The backend has sent exactly this many chunks: the next is held until we release it.
            assert cloud.sent == len(received)
            if len(received) < len(CloudApi.WORDS):
                cloud.gates[len(received)].set()
    assert received == list(CloudApi.WORDS)
    path, headers = cloud.seen[-1]
    assert path == "/api/chat/completions"
    assert headers["authorization"] == f"Bearer {API_KEY}"  # the API key reaches cloud-api unchanged


def test_non_streaming_and_models(stack: tuple[Gateway, CloudApi]) -> None:
    gateway, cloud = stack
    client = _client(gateway)
    completion = client.chat.completions.create(model="zen-1", messages=[{"role": "user", "content": "hi"}])
    assert completion.choices[0].message.content == "".join(CloudApi.WORDS)
    models = client.models.list()
    assert [m.id for m in models.data] == ["zen-1"]
    assert cloud.seen[-1][0] == "/api/models"
    assert cloud.seen[-1][1]["authorization"] == f"Bearer {API_KEY}"


def test_a_key_that_is_no_api_key_is_validated_as_a_jwt(stack: tuple[Gateway, CloudApi]) -> None:
    gateway, cloud = stack
    seen = len(cloud.seen)
    client = openai.OpenAI(
        api_key="not-a-hanzo-key",
        base_url=f"http://127.0.0.1:{gateway.port}/v1",
        default_headers={"Host": "api.test"},
        max_retries=0,
    )
    with pytest.raises(openai.AuthenticationError) as refused:
        client.models.list()
    assert refused.value.status_code == 401
    assert len(cloud.seen) == seen  # refused before the host table
