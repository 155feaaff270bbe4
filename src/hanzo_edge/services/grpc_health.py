"""``healthCheck.mode: grpc``: the gRPC Health Checking Protocol v1 over our own HTTP/2 client.

As Traefik's ``checkHealthGRPC``: each probe opens a connection to the server's host and port (``port`` overrides
it; the ``path`` only resolves against the server URL, as Go's ``URL.Parse`` does, and is otherwise unused), calls
``/grpc.health.v1.Health/Check`` with an empty ``HealthCheckRequest`` (the overall server health: Traefik sends no
service name), and the server is healthy only when it answers ``SERVING`` within ``timeout``. The connection is
cleartext HTTP/2 (h2c) unless the probe URL's scheme (the ``scheme`` override, else the server's) is ``https``;
then TLS with the service's serversTransport (roots, ``serverName``, client certificates), as the proxy dials it.

The probe answers the :data:`~hanzo_edge.services.health.Probe` contract: it returns ``200`` for ``SERVING`` (the
checker's healthy range) and raises :class:`GrpcHealthError` with Traefik's words otherwise.

The two health messages have one field each (``HealthCheckRequest.service = 1``, ``HealthCheckResponse.status = 1``);
they are encoded and decoded here in a dozen lines rather than loading the protobuf runtime into the proxy (the
tests check the bytes against ``grpcio-health-checking``'s generated classes).
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

from hanzo_edge.http.body import StreamBody
from hanzo_edge.http.h2.pool import H2Pool
from hanzo_edge.http.pool import TransportOptions

__all__ = [
    "HEALTH_CHECK_PATH",
    "GrpcHealthError",
    "GrpcHealthProbe",
    "decode_health_response",
    "encode_health_request",
    "grpc_probe",
]

HEALTH_CHECK_PATH = "/grpc.health.v1.Health/Check"
_SERVING_STATUS = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}
_CODES = {
    0: "OK",
    1: "Canceled",
    2: "Unknown",
    3: "InvalidArgument",
    4: "DeadlineExceeded",
    5: "NotFound",
    6: "AlreadyExists",
    7: "PermissionDenied",
    8: "ResourceExhausted",
    9: "FailedPrecondition",
    10: "Aborted",
    11: "OutOfRange",
    12: "Unimplemented",
    13: "Internal",
    14: "Unavailable",
    15: "DataLoss",
    16: "Unauthenticated",
}
_MAX_ANSWER = 64 * 1024


class GrpcHealthError(Exception):
    """The server is not healthy: not SERVING, a gRPC error, or no gRPC answer at all."""


def encode_health_request(service: str = "") -> bytes:
    """Return the gRPC message (length-prefixed) of ``HealthCheckRequest{service}``."""
    raw = service.encode("utf-8")
    message = b"\x0a" + _varint(len(raw)) + raw if raw else b""
    return struct.pack(">BI", 0, len(message)) + message


def decode_health_response(message: bytes) -> int:
    """Return ``HealthCheckResponse.status`` from one message (0, UNKNOWN, when absent). Raises ValueError."""
    offset = 0
    status = 0
    while offset < len(message):
        key, offset = _read_varint(message, offset)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, offset = _read_varint(message, offset)
            if field == 1:
                status = value
        elif wire == 2:
            size, offset = _read_varint(message, offset)
            offset += size
        elif wire == 1:
            offset += 8
        elif wire == 5:
            offset += 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        if offset > len(message):
            raise ValueError("truncated protobuf message")
    return status


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(data: bytes, offset: int) -> tuple[int, int]:
    value = 0
    for shift in range(0, 64, 7):
        if offset >= len(data):
            raise ValueError("truncated varint")
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, offset
    raise ValueError("varint too long")


class GrpcHealthProbe:
    """A :data:`~hanzo_edge.services.health.Probe` speaking the gRPC health protocol (see the module docstring)."""

    __slots__ = ("_transport",)

    def __init__(self, transport: TransportOptions) -> None:
        self._transport = transport

    # The Probe contract passes the timeout as an argument (ASYNC109); it is enforced with asyncio.timeout below.
    async def __call__(
        self,
        url: str,
        method: str,
        headers: Mapping[str, str],
        timeout: float,  # noqa: ASYNC109
        follow_redirects: bool = True,
    ) -> int:
        parts = urlsplit(url)
        host = parts.hostname
        if not host:
            raise GrpcHealthError(f"no host in {url!r}")
        tls = parts.scheme.lower() == "https"
        port = parts.port or (443 if tls else 80)
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        # A fresh connection per probe, closed after it (Traefik dials and closes a gRPC client per check).
        pool = H2Pool("https" if tls else "h2c", host, port, self._transport)
        try:
            async with asyncio.timeout(timeout if timeout > 0 else None):
                return await self._check(pool, "https" if tls else "http", address)
        except TimeoutError:
            raise GrpcHealthError(f"gRPC health check timeout: {address} did not answer within {timeout}s") from None
        finally:
            pool.abandon()  # a dial still in progress (the timeout fired during it) is cancelled too

    async def _check(self, pool: H2Pool, scheme: str, address: str) -> int:
        try:
            conn = await pool.acquire()
        except OSError as exc:
            raise GrpcHealthError(f"fail to connect to {address}: {exc}") from exc
        except Exception as exc:
            raise GrpcHealthError(f"fail to connect to {address}: {exc}") from exc
        if conn is None:
            raise GrpcHealthError(f"fail to connect to {address}: the server did not negotiate HTTP/2")
        request_headers = [
            (b":method", b"POST"),
            (b":scheme", scheme.encode()),
            (b":authority", unquote(address).encode("idna")),
            (b":path", HEALTH_CHECK_PATH.encode()),
            (b"content-type", b"application/grpc"),
            (b"te", b"trailers"),
            (b"user-agent", b"grpc-go/hanzo-edge"),
        ]
        stream = conn.request(request_headers, encode_health_request())
        try:
            response = await stream.future
        except Exception as exc:
            raise GrpcHealthError(f"gRPC health check failed: {exc}") from exc
        body = response.body
        data = await body.read(_MAX_ANSWER) if isinstance(body, StreamBody) else body
        fields = dict((n.lower(), v) for n, v in response.headers.raw)
        trailers = body.trailers if isinstance(body, StreamBody) else None
        if trailers:
            fields.update((n.lower(), v) for n, v in trailers)
        if response.status != 200:
            raise GrpcHealthError(f"gRPC health check failed: HTTP status {response.status}")
        code_text = fields.get(b"grpc-status")
        code = int(code_text) if code_text is not None and code_text.isdigit() else 2
        if code != 0:
            message = unquote(fields.get(b"grpc-message", b"").decode("utf-8", "replace"))
            error = f"rpc error: code = {_CODES.get(code, str(code))} desc = {message}"
            if code == 12:
                raise GrpcHealthError(f"gRPC server does not implement the health protocol: {error}")
            raise GrpcHealthError(f"gRPC health check failed: {error}")
        if len(data) < 5:
            raise GrpcHealthError("gRPC health check failed: empty answer")
        flag, size = struct.unpack(">BI", data[:5])
        if flag != 0 or len(data) < 5 + size:
            raise GrpcHealthError("gRPC health check failed: malformed or compressed answer")
        try:
            status = decode_health_response(data[5 : 5 + size])
        except ValueError as exc:
            raise GrpcHealthError(f"gRPC health check failed: {exc}") from exc
        if status != 1:
            raise GrpcHealthError(f"received gRPC status code: {_SERVING_STATUS.get(status, str(status))}")
        return 200


def grpc_probe(transport: TransportOptions) -> GrpcHealthProbe:
    """Return the gRPC health probe that dials as ``transport`` does (TLS for ``https`` probe URLs)."""
    return GrpcHealthProbe(transport)
