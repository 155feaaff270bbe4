"""Port claims (``server.port_guard``): one hanzo-edge instance per port, no file needed, gone with its holders."""

from __future__ import annotations

import errno
import os
import socket
import sys
from collections.abc import Iterator

import pytest

from hanzo_edge.server.port_guard import PortGuard, PortTaken, claim_port, ensure_bindable

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="abstract Unix sockets are Linux's")


@pytest.fixture
def port() -> int:
    """A port nobody else claims (claims are per network namespace, so pick one that is free right now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def claimed(port: int) -> Iterator[PortGuard]:
    guard = claim_port(port)
    assert guard is not None
    yield guard
    guard.release()


def test_a_second_claim_fails_naming_the_owners_pid(port: int, claimed: PortGuard) -> None:
    with pytest.raises(PortTaken) as caught:
        claim_port(port)

    assert caught.value.owner_pid == os.getpid()
    assert str(caught.value) == f"already served by another hanzo-edge instance (pid {os.getpid()})"


def test_the_owner_keeps_answering_probes_after_many(port: int, claimed: PortGuard) -> None:
    # Each refused instance leaves a connection in the claim's backlog; accepting them keeps the pid learnable.
    for _ in range(40):
        with pytest.raises(PortTaken) as caught:
            claim_port(port)
        claimed.accept_probes()
    assert caught.value.owner_pid == os.getpid()


def test_a_released_claim_frees_the_port_at_once(port: int) -> None:
    first = claim_port(port)
    assert first is not None
    first.release()

    again = claim_port(port)

    assert again is not None
    again.release()
    assert again.fileno() == -1


def test_an_inherited_copy_keeps_the_claim_until_every_holder_released_it(port: int) -> None:
    supervisor = claim_port(port)
    assert supervisor is not None
    worker = PortGuard.adopt(port, os.dup(supervisor.fileno()))  # what a worker gets across exec

    supervisor.release()  # e.g. the supervisor was killed
    with pytest.raises(PortTaken):
        claim_port(port)

    worker.release()  # the worker stopped accepting
    fresh = claim_port(port)
    assert fresh is not None
    fresh.release()


def test_port_0_is_never_claimed() -> None:
    assert claim_port(0) is None


def test_ensure_bindable_refuses_a_port_another_process_shares_with_so_reuseport(port: int) -> None:
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        other.bind(("127.0.0.1", port))
        other.listen(1)

        with pytest.raises(OSError) as caught:
            ensure_bindable("127.0.0.1", port)

    assert caught.value.errno == errno.EADDRINUSE
    ensure_bindable("127.0.0.1", port)  # free again once the listener is gone
