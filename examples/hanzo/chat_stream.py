"""Stream a chat completion through the Hanzo gateway with the OpenAI Python SDK.

    python chat_stream.py [--gateway http://127.0.0.1:8080] [--host api.hanzo.ai]

The host table sends api.hanzo.ai's ``/v1/chat`` to cloud-api (rewritten to ``/api/chat``); the ``sk-`` key passes
the gateway unvalidated and reaches cloud-api unchanged. Each chunk is printed with the time it arrived.
"""

from __future__ import annotations

import argparse
import time

import openai


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gateway", default="http://127.0.0.1:8080")
    parser.add_argument("--host", default="api.hanzo.ai")
    parser.add_argument("--api-key", default="sk-demo-key")
    args = parser.parse_args()
    client = openai.OpenAI(
        api_key=args.api_key, base_url=f"{args.gateway}/v1", default_headers={"Host": args.host}, max_retries=0
    )
    started = time.perf_counter()
    stream = client.chat.completions.create(
        model="zen-1", messages=[{"role": "user", "content": "Say hello"}], stream=True
    )
    with stream:
        for chunk in stream:
            text = chunk.choices[0].delta.content or ""
            print(f"{time.perf_counter() - started:6.3f}s {text!r}", flush=True)
    print("models:", [m.id for m in client.models.list().data])


if __name__ == "__main__":
    main()
