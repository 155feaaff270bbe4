"""Connect to the ZAP listener as a post-quantum client, print what was negotiated, echo one message.

``python zap_probe.py [--port 9651] [--ca tls.crt] [message]`` prints e.g.
``TLSv1.3 X25519MLKEM768 TLS_AES_256_GCM_SHA384`` then the echoed message; exits 1 if the group is not the hybrid one.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from hanzo_edge.gateway.zap.client import open_zap
from hanzo_edge.gateway.zap.contexts import PQ_GROUP, client_context


async def probe(port: int, ca: str, message: bytes) -> int:
    client = await open_zap("127.0.0.1", port, client_context(ca), server_name="zap.localhost")
    engine = client.engine
    print(engine.version, client.group, engine.cipher, flush=True)
    await client.send(message)
    client.close_write()
    await asyncio.wait_for(client.ended, 10)
    client.close()
    print(bytes(client.received or b"").decode(errors="replace"), flush=True)
    return 0 if client.group == PQ_GROUP else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=9651)
    parser.add_argument("--ca", default=str(Path(__file__).resolve().parent / "tls.crt"))
    parser.add_argument("message", nargs="?", default="hello over post-quantum TLS")
    options = parser.parse_args()
    return asyncio.run(probe(options.port, options.ca, options.message.encode()))


if __name__ == "__main__":
    sys.exit(main())
