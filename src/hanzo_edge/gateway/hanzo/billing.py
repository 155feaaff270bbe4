"""The Commerce balance check (hanzoai/gateway March 2026: fail-open, no cache).

Per authenticated request: ``GET <AUTH_BILLING_URL>/api/v1/billing/balance?user=<owner>/<sub>&currency=usd`` with
``Authorization: Bearer <COMMERCE_SERVICE_TOKEN>``. ``available <= 0`` refuses the request (402). Anything else that
goes wrong — connection refused, a timeout (bounded: ``BILLING_TIMEOUT``, 5 s), a non-200 status, a body that is
not the JSON we expect or larger than 64 KiB — lets the request through and counts a failure by reason (the
``hanzo_gateway_billing_failures_total`` counter), as Hanzo chose availability over enforcement.

The call goes through our own upstream client and connection pool (:func:`~hanzo_edge.http.proxy.server_target`),
so Commerce connections are kept alive across requests like any backend's.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from urllib.parse import quote

import orjson

from hanzo_edge.http.body import BodyError, StreamBody
from hanzo_edge.http.errors import ClientClosed, UpstreamError
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Handler, Request
from hanzo_edge.http.pool import PoolRegistry, TransportOptions
from hanzo_edge.http.proxy import server_target, split_server_url

__all__ = ["BalanceChecker", "billing_user"]

log = logging.getLogger("hanzo_edge.gateway.hanzo")

MAX_BODY = 64 * 1024


def billing_user(owner: str, user_id: str) -> str:
    """``<owner>/<user>``, or the user alone when there is no owner or the user id already holds a ``/``."""
    if not owner or "/" in user_id:
        return user_id
    return f"{owner}/{user_id}"


class BalanceChecker:
    """See the module docstring. ``failures`` counts fail-open decisions by reason."""

    __slots__ = ("_base_path", "_host", "_target", "failures", "timeout", "token")

    def __init__(
        self,
        base_url: str,
        token: str,
        pools: PoolRegistry,
        *,
        timeout: float = 5.0,
        transport: TransportOptions | None = None,
    ) -> None:
        _, _, _, netloc, path = split_server_url(base_url)
        origin = base_url[: base_url.index(netloc) + len(netloc)]
        options = transport or TransportOptions()
        self._target: Handler = server_target(origin, pools, options, pass_host_header=False)
        self._host = netloc
        self._base_path = path.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.failures: Counter[str] = Counter()

    async def allowed(self, user: str) -> bool:
        """True unless Commerce says the balance available to ``user`` is ≤ 0 (every failure allows)."""
        try:
            available = await asyncio.wait_for(self._available(user), self.timeout)
        except (TimeoutError, ClientClosed):
            # The proxy turns the cancellation of a timed-out call into ClientClosed: both mean "too slow".
            return self._failed("timeout", user)
        except UpstreamError as exc:
            return self._failed("unreachable", user, str(exc))
        except _BadAnswer as exc:
            return self._failed(exc.reason, user, exc.detail)
        except BodyError as exc:
            return self._failed("unreachable", user, str(exc))
        except Exception as exc:  # a billing check must never take a request down with it
            log.exception("billing check for %s raised", user)
            return self._failed("error", user, f"{type(exc).__name__}: {exc}")
        return available > 0

    def _failed(self, reason: str, user: str, detail: str = "") -> bool:
        self.failures[reason] += 1
        log.warning(
            "billing check for %s failed (%s%s): allowed (fail-open)", user, reason, f": {detail}" * bool(detail)
        )
        return True

    async def _available(self, user: str) -> float:
        path = f"{self._base_path}/api/v1/billing/balance"
        # The user goes escaped (later hanzoai/gateway does; Commerce accepts both).
        query = f"user={quote(user, safe='')}&currency=usd"
        headers = Headers([(b"Accept", b"application/json")])
        if self.token:
            headers.raw.append((b"Authorization", b"Bearer " + self.token.encode("latin-1", "replace")))
        req = Request("GET", f"{path}?{query}", headers, path=path, query=query, host=self._host)
        response = await self._target(req)
        body = await _read(response.body)
        if response.status != 200:
            raise _BadAnswer("status", f"status {response.status}")
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise _BadAnswer("garbage", "the answer is not JSON") from None
        available = document.get("available") if isinstance(document, dict) else None
        if isinstance(available, bool) or not isinstance(available, int | float):
            raise _BadAnswer("garbage", 'the answer has no numeric "available"')
        return float(available)


class _BadAnswer(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail


async def _read(body: bytes | StreamBody) -> bytes:
    if isinstance(body, bytes):
        if len(body) > MAX_BODY:
            raise _BadAnswer("garbage", f"the answer is larger than {MAX_BODY} bytes")
        return body
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await body.read_chunk()
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > MAX_BODY:
            body.discard()
            raise _BadAnswer("garbage", f"the answer is larger than {MAX_BODY} bytes")
        chunks.append(chunk)
