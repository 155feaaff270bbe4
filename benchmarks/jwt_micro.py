"""Per-request cost of the gateway's ``auth/validator`` (``krakendJwtValidator``), without sockets.

For each algorithm it times the validator on a request carrying (a) a **fresh** token every time (header parse, key
lookup, PyJWT signature check on ``cryptography``, claims, roles, propagation) and (b) the **same** token again (the
verified-token cache: a dict probe, an expiry check and the propagated-header rewrite). The next handler is a
trivial coroutine, so the figure is the validator's own cost. Keys come from a local JWK file (no HTTP).

Run: ``python benchmarks/jwt_micro.py [--fresh N] [--repeated N] [--algs RS256,ES256,PS256,HS256]``
(``--smoke`` runs a few hundred of each, for CI). Target: repeated token <= 15 µs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import uvloop

from gateway_jwt_tokens import SigningKey, ec_key, hmac_key, jwks, mint, rsa_key
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.middlewares.base import BuildContext
from hanzo_edge.middlewares.krakend_jwt import KrakendJwtConfig, KrakendJwtValidator

ISSUER = "https://issuer.bench"
PROPAGATE = (("sub", "X-User-Id"), ("owner", "X-Org-Id"), ("roles", "X-Roles"))


async def _ok(req: Request) -> Response:
    return Response(200)


def _key(alg: str) -> SigningKey:
    if alg.startswith("ES"):
        return ec_key("bench")
    if alg.startswith("HS"):
        return hmac_key("bench")
    return rsa_key("bench")


def _request(token: str) -> Request:
    raw = [
        (b"Host", b"api.bench"),
        (b"User-Agent", b"bench/1.0"),
        (b"Accept", b"application/json"),
        (b"Authorization", b"Bearer " + token.encode()),
        (b"X-User-Id", b"forged"),
    ]
    return Request("GET", "/v1/things", Headers(raw), host="api.bench")


async def _time(validator: KrakendJwtValidator, requests: list[Request]) -> float:
    start = time.perf_counter()
    for req in requests:
        response = await validator(req)
        if response.status != 200:
            raise RuntimeError(f"validator answered {response.status}")
    return (time.perf_counter() - start) / len(requests) * 1e6


def bench(alg: str, fresh: int, repeated: int, workdir: Path) -> dict[str, float]:
    key = _key(alg)
    path = workdir / f"{alg}.json"
    path.write_bytes(jwks(key))
    config = KrakendJwtConfig(alg=alg, jwk_local_path=str(path), issuer=ISSUER, propagate_claims=PROPAGATE)
    validator = KrakendJwtValidator(_ok, config, name="/bench", ctx=BuildContext())
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": "user", "owner": "org", "roles": ["a", "b"], "iat": now, "exp": now + 3600}
    fresh_requests = [_request(mint(key, {**claims, "jti": str(i)}, alg)) for i in range(fresh)]
    token = mint(key, claims, alg)
    repeated_requests = [_request(token) for _ in range(repeated)]

    async def run() -> dict[str, float]:
        await validator(_request(token))  # warm: the first verification fills the cache
        return {
            "fresh_us": await _time(validator, fresh_requests),
            "repeated_us": await _time(validator, repeated_requests),
        }

    return uvloop.run(run())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fresh", type=int, default=2000)
    parser.add_argument("--repeated", type=int, default=200_000)
    parser.add_argument("--algs", default="RS256,ES256,PS256,HS256")
    parser.add_argument("--smoke", action="store_true", help="a few hundred requests of each kind")
    args = parser.parse_args()
    if args.smoke:
        args.fresh, args.repeated = 200, 5000
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for alg in args.algs.split(","):
            results[alg] = bench(alg, args.fresh, args.repeated, Path(tmp))
            fresh_us, repeated_us = results[alg]["fresh_us"], results[alg]["repeated_us"]
            print(f"{alg}: fresh {fresh_us:.1f} µs/request, repeated {repeated_us:.2f} µs/request")
    meta = {"python": sys.version.split()[0], "pid": os.getpid(), "fresh": args.fresh, "repeated": args.repeated}
    print(json.dumps({"meta": meta, "results": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
