"""Keys, JWK sets and tokens minted in the tests (``cryptography`` keys, PyJWT signing), and a real JWKS HTTP server.

Shared by the ``auth/validator`` unit and integration tests (``from gateway_jwt_tokens import ...``; the suite's
conftest puts this directory on ``sys.path``).
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

__all__ = ["JwksServer", "SigningKey", "ec_key", "hmac_key", "jwks", "mint", "rsa_key"]


@dataclass
class SigningKey:
    """A private key (or HMAC secret) with its ``kid`` and the public JWK a JWKS serves for it."""

    kid: str
    private: Any
    public_jwk: dict[str, Any]


_RSA_CACHE: list[rsa.RSAPrivateKey] = []


def rsa_key(kid: str, *, fresh: bool = False) -> SigningKey:
    """An RSA-2048 key (the first one is reused across tests: generating one costs ~50 ms)."""
    if fresh or not _RSA_CACHE:
        _RSA_CACHE.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    private = _RSA_CACHE[-1]
    jwk = json.loads(RSAAlgorithm.to_jwk(private.public_key()))
    jwk.update({"kid": kid, "use": "sig"})
    return SigningKey(kid, private, jwk)


def ec_key(kid: str, curve: ec.EllipticCurve | None = None) -> SigningKey:
    private = ec.generate_private_key(curve or ec.SECP256R1())
    jwk = json.loads(ECAlgorithm.to_jwk(private.public_key()))
    jwk["kid"] = kid
    return SigningKey(kid, private, jwk)


def hmac_key(kid: str, secret: bytes = b"a-shared-secret-of-at-least-32-bytes!") -> SigningKey:
    k = base64.urlsafe_b64encode(secret).rstrip(b"=").decode()
    return SigningKey(kid, secret, {"kty": "oct", "kid": kid, "k": k})


def jwks(*keys: SigningKey) -> bytes:
    return json.dumps({"keys": [key.public_jwk for key in keys]}).encode()


def mint(key: SigningKey, claims: dict[str, Any], alg: str = "RS256", headers: dict[str, Any] | None = None) -> str:
    """A compact JWS of ``claims`` signed with ``key`` (``kid`` set unless ``headers`` says otherwise)."""
    return jwt.encode(claims, key.private, algorithm=alg, headers={"kid": key.kid, **(headers or {})})


@dataclass
class JwksServer:
    """A JWKS endpoint on 127.0.0.1 (its own thread): serves :attr:`body`; :attr:`status` other than 200 fails it;
    :attr:`hits` counts downloads. :meth:`stop` closes it (later fetches are refused connections)."""

    body: bytes = b'{"keys": []}'
    status: int = 200
    hits: int = 0
    tls: ssl.SSLContext | None = None  # a server context: the JWKS is then served over HTTPS
    _server: ThreadingHTTPServer | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        assert self._server is not None
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}/.well-known/jwks.json"

    def start(self) -> JwksServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.hits += 1
                self.send_response(owner.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(owner.body)))
                self.end_headers()
                self.wfile.write(owner.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if self.tls is not None:
            self._server.socket = self.tls.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


async def settle() -> None:
    """Let callbacks scheduled by a finished fetch run."""
    await asyncio.sleep(0)
