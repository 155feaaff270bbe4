"""The gRPC health messages encoded by hand in ``services/grpc_health.py``, checked against the generated classes."""

from __future__ import annotations

import pytest
from grpc_health.v1 import health_pb2
from hypothesis import given
from hypothesis import strategies as st

from hanzo_edge.services.grpc_health import decode_health_response, encode_health_request


@given(st.text(max_size=300))
def test_the_request_is_what_protobuf_encodes(service: str) -> None:
    framed = encode_health_request(service)
    message = health_pb2.HealthCheckRequest(service=service).SerializeToString()
    assert framed == b"\x00" + len(message).to_bytes(4, "big") + message


@given(st.sampled_from([0, 1, 2, 3]), st.binary(max_size=40))
def test_the_response_status_is_read_past_unknown_fields(status: int, extra: bytes) -> None:
    message = health_pb2.HealthCheckResponse(status=status).SerializeToString()
    unknown = b"\x12" + bytes([len(extra)]) + extra  # field 2, length-delimited: skipped
    assert decode_health_response(unknown + message) == status


@pytest.mark.parametrize("data", [b"\x08", b"\x12\x05ab", b"\x0f", b"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"])
def test_truncated_or_malformed_messages_are_refused(data: bytes) -> None:
    with pytest.raises(ValueError):
        decode_health_response(data)
