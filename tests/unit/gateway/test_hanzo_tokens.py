"""The Hanzo JWT verifier on the shared JWKS cache: algorithms, kid-first then RSA fallback, issuer, audience,
leeway, the verified-token cache, and stale keys when the JWKS server fails."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from fakes import FakeClock
from hanzo_edge.gateway.hanzo.tokens import InvalidToken, JwtVerifier
from hanzo_edge.middlewares._jwks import JwksError, KeySource, SourceSettings

ISSUER = "https://iam.test"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _jwks() -> bytes:
    rsa_jwk = {**json.loads(RSAAlgorithm.to_jwk(RSA_KEY.public_key())), "kid": "r1"}
    ec_jwk = {**json.loads(ECAlgorithm.to_jwk(EC_KEY.public_key())), "kid": "e1"}
    return json.dumps({"keys": [rsa_jwk, ec_jwk]}).encode()


class Jwks:
    def __init__(self) -> None:
        self.calls = 0
        self.down = False
        self.without_rsa = False

    def __call__(self, settings: SourceSettings) -> bytes:
        self.calls += 1
        if self.down:
            raise JwksError("connection refused")
        if self.without_rsa:
            document = json.loads(_jwks())
            document["keys"] = [k for k in document["keys"] if k["kty"] != "RSA"]
            return json.dumps(document).encode()
        return _jwks()


def _verifier(**kw: Any) -> tuple[JwtVerifier, Jwks, FakeClock, FakeClock]:
    fetch = Jwks()
    mono = FakeClock(0.0)
    wall = FakeClock(time.time())
    source = KeySource(SourceSettings(url="http://jwks", insecure=True, max_age=300.0), clock=mono, fetch=fetch)
    return JwtVerifier("http://jwks", ISSUER, source=source, wall_clock=wall, **kw), fetch, mono, wall


def _token(wall: FakeClock, *, key: Any = RSA_KEY, alg: str = "RS256", kid: str | None = "r1", **claims: Any) -> str:
    body = {"iss": ISSUER, "sub": "alice", "iat": int(wall.now), "exp": int(wall.now) + 600, **claims}
    body = {k: v for k, v in body.items() if v is not None}
    return jwt.encode(body, key, algorithm=alg, headers={"kid": kid} if kid else {})


def _claims(verifier: JwtVerifier, token: str) -> dict[str, Any]:
    async def verify() -> dict[str, Any]:
        try:
            return await verifier.claims(token)
        finally:
            refreshing = verifier._refreshing
            if refreshing is not None:
                await refreshing  # a refresh started behind the request lands before this loop ends

    return asyncio.run(verify())


def test_rs_es_ps_verify_and_kid_falls_back_to_rsa_keys() -> None:
    verifier, _, _, wall = _verifier()
    assert _claims(verifier, _token(wall))["sub"] == "alice"
    assert _claims(verifier, _token(wall, key=EC_KEY, alg="ES256", kid="e1"))["sub"] == "alice"
    assert _claims(verifier, _token(wall, alg="PS384", sub="ps"))["sub"] == "ps"
    assert _claims(verifier, _token(wall, kid=None, sub="nokid"))["sub"] == "nokid"  # any RSA key
    assert _claims(verifier, _token(wall, kid="unknown", sub="rotated"))["sub"] == "rotated"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"key": OTHER_KEY}, "no key verifies"),
        ({"key": EC_KEY, "alg": "ES256", "kid": "unknown"}, "no key"),  # the fallback is RSA keys only
        ({"key": "s" * 32, "alg": "HS256"}, "unexpected signature algorithm"),
        ({"iss": "https://evil"}, "issuer"),
        ({"iss": None}, "missing issuer"),
    ],
)
def test_refused_tokens(change: dict[str, Any], reason: str) -> None:
    verifier, _, _, wall = _verifier()
    with pytest.raises(InvalidToken, match=reason):
        _claims(verifier, _token(wall, **change))


def test_malformed_and_alg_none() -> None:
    verifier, _, _, _ = _verifier()
    for token in ("abc", "a.b", "!!!.e30.", "eyJhbGciOiJub25lIn0.eyJpc3MiOiJodHRwczovL2lhbS50ZXN0In0."):
        with pytest.raises(InvalidToken):
            _claims(verifier, token)


def test_two_minutes_of_leeway() -> None:
    verifier, _, _, wall = _verifier()
    now = int(wall.now)
    assert _claims(verifier, _token(wall, exp=now - 100, iat=now - 1000))
    with pytest.raises(InvalidToken, match="expired"):
        _claims(verifier, _token(wall, exp=now - 130, iat=now - 1000))
    with pytest.raises(InvalidToken, match="not valid yet"):
        _claims(verifier, _token(wall, nbf=now + 130))


def test_audience_only_when_configured() -> None:
    verifier, _, _, wall = _verifier()
    assert _claims(verifier, _token(wall, aud="anything"))
    strict, _, _, wall = _verifier(audience="hanzo-app")
    assert _claims(strict, _token(wall, aud=["x", "hanzo-app"]))
    with pytest.raises(InvalidToken, match="audience"):
        _claims(strict, _token(wall, aud="evil"))


def test_cached_tokens_expire_and_stale_keys_survive_a_dead_jwks() -> None:
    verifier, fetch, mono, wall = _verifier()
    token = _token(wall, exp=int(wall.now) + 60)
    assert _claims(verifier, token)
    assert _claims(verifier, token)
    assert fetch.calls == 1
    wall.now += 60 + 121  # past exp + leeway: the cached entry is not used, the token is refused
    with pytest.raises(InvalidToken, match="expired"):
        _claims(verifier, token)
    fetch.down = True
    mono.now += 301  # the JWK set is due: the refresh fails, the held keys keep verifying
    assert _claims(verifier, _token(wall))["sub"] == "alice"
    assert fetch.calls == 2


def test_kidless_tokens_refresh_a_stale_jwk_set() -> None:
    # Tokens without a kid never name a key to look up; the set must still be re-fetched once it is 5 minutes old,
    # or a key IAM removed (rotated out, compromised) would verify kid-less tokens for as long as the process runs.
    verifier, fetch, mono, wall = _verifier()
    assert _claims(verifier, _token(wall, kid=None))["sub"] == "alice"
    assert fetch.calls == 1
    mono.now += 301
    assert _claims(verifier, _token(wall, kid=None, sub="again"))["sub"] == "again"
    assert fetch.calls == 2
    assert _claims(verifier, _token(wall, kid=None, sub="fresh"))["sub"] == "fresh"
    assert fetch.calls == 2  # fresh again: no fetch per request


def test_a_key_removed_from_the_jwk_set_stops_verifying_kidless_tokens() -> None:
    verifier, fetch, mono, wall = _verifier()
    token = _token(wall, kid=None)
    assert _claims(verifier, token)["sub"] == "alice"
    fetch.without_rsa = True  # IAM rotated the RSA key out
    mono.now += 301
    assert _claims(verifier, token)  # verified with the keys held while the due set is fetched behind it
    assert fetch.calls == 2
    with pytest.raises(InvalidToken):
        _claims(verifier, token)


def test_a_hung_jwks_refresh_never_holds_requests_while_keys_are_held() -> None:
    # Every 5 minutes the set is due; a JWKS server that accepts and never answers held every JWT request for the
    # fetch timeout (10 s), again after each back-off. The held keys verify at once; the refresh runs behind.
    import threading

    verifier, fetch, mono, wall = _verifier()
    assert _claims(verifier, _token(wall))["sub"] == "alice"
    gate = threading.Event()
    real = fetch.__call__

    def hung(settings: SourceSettings) -> bytes:
        gate.wait(10)
        return real(settings)

    verifier.source._fetch = hung
    mono.now += 301

    async def scenario() -> tuple[str, str]:
        try:
            kid = await asyncio.wait_for(verifier.claims(_token(wall, sub="kid")), 1.0)
            kidless = await asyncio.wait_for(verifier.claims(_token(wall, kid=None, sub="kidless")), 1.0)
            return kid["sub"], kidless["sub"]
        finally:
            gate.set()

    assert asyncio.run(scenario()) == ("kid", "kidless")
