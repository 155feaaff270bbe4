"""The worker's side of the supervisor lifeline: end-of-file on the pipe means the supervisor is gone."""

from __future__ import annotations

import asyncio
import os
import socket
import sys

import pytest

from hanzo_edge.server.port_guard import PortTaken, claim_port
from hanzo_edge.server.supervisor import GUARDS_ENV, LIFELINE_ENV, inherited_guards, watch_lifeline


async def _lost_within(read_fd: int, close_write: int | None, timeout: float = 5.0) -> bool:
    loop = asyncio.get_running_loop()
    lost = loop.create_future()
    assert watch_lifeline(loop, lambda: lost.set_result(True), {LIFELINE_ENV: str(read_fd)})
    if close_write is not None:
        os.close(close_write)
    return bool(await asyncio.wait_for(lost, timeout))


def test_the_worker_is_told_when_the_write_end_closes() -> None:
    read_fd, write_fd = os.pipe()

    assert asyncio.run(_lost_within(read_fd, write_fd))
    with pytest.raises(OSError):
        os.fstat(read_fd)  # the worker closed its end once told


def test_a_supervisor_that_died_before_the_worker_looked_is_noticed_too() -> None:
    read_fd, write_fd = os.pipe()
    os.close(write_fd)  # gone before the worker's loop ran: end-of-file stays readable, no race

    assert asyncio.run(_lost_within(read_fd, None))


def test_bytes_on_the_pipe_are_not_end_of_file() -> None:
    read_fd, write_fd = os.pipe()
    os.write(write_fd, b"x")

    async def scenario() -> list[str]:
        loop = asyncio.get_running_loop()
        events: list[str] = []
        done = loop.create_future()
        watch_lifeline(loop, lambda: done.set_result(None), {LIFELINE_ENV: str(read_fd)})
        await asyncio.sleep(0)  # let the reader run on the byte
        events.append("still alive" if not done.done() else "lost")
        os.close(write_fd)
        await asyncio.wait_for(done, 5)
        events.append("lost")
        return events

    assert asyncio.run(scenario()) == ["still alive", "lost"]


def test_without_a_lifeline_nothing_is_watched() -> None:
    async def scenario() -> bool:
        return watch_lifeline(asyncio.get_running_loop(), lambda: None, {})

    assert asyncio.run(scenario()) is False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="abstract Unix sockets are Linux's")
def test_inherited_guards_are_read_from_the_environment() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    supervisor = claim_port(port)
    assert supervisor is not None
    inherited_fd = os.dup(supervisor.fileno())
    supervisor.release()

    guards = inherited_guards({GUARDS_ENV: f"{port}={inherited_fd},bogus,9100=x"})

    assert list(guards) == [port]
    assert guards[port].fileno() == inherited_fd
    with pytest.raises(PortTaken):
        claim_port(port)  # the worker's copy still holds the claim
    guards[port].release()
