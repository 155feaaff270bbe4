"""One hanzo-edge instance per TCP port: an abstract Unix socket named after the port is the claim.

``SO_REUSEPORT`` (what ``--workers`` listens with) lets any process of the same user bind a port that is already
served, and the kernel then spreads connections over both. A second instance started with another configuration
would silently take a share of the first one's traffic. So before anything binds, the owning process (the supervisor,
or the single process without ``--workers``) binds a listening Unix socket in Linux's abstract namespace, named
``hanzo-edge:tcp:<port>``. Abstract names need no file at all (HIP-68 runs on a read-only root filesystem), vanish
when the last descriptor of the socket closes (a crash cannot leave a stale lock), and are scoped to the network
namespace, exactly like the port they stand for. A second instance fails to bind the name; it connects to it instead
and learns the owner's pid from ``SO_PEERCRED`` for its error message.

Workers inherit the supervisor's claim and give their copy up when their listener stops accepting: the name stays
taken exactly as long as some process of the instance may still accept on the port, even after the supervisor died.

The port alone names the claim, whatever the host part of the address: two instances on ``127.0.0.1:8080`` and
``:8080`` would overlap under ``SO_REUSEPORT`` too. An entrypoint with ``reusePort: true`` asks for sharing and is
not claimed. Off Linux there is no abstract namespace and nothing is claimed.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import struct
import sys

__all__ = ["PortGuard", "PortTaken", "claim_port", "ensure_bindable"]

log = logging.getLogger("hanzo_edge.server")

_UCRED = struct.Struct("3i")  # struct ucred {pid_t pid; uid_t uid; gid_t gid;}
SUPPORTED = sys.platform.startswith("linux")


class PortTaken(Exception):
    """Another hanzo-edge instance already claimed the port."""

    def __init__(self, port: int, owner_pid: int | None) -> None:
        self.port = port
        self.owner_pid = owner_pid
        owner = f" (pid {owner_pid})" if owner_pid else ""
        super().__init__(f"already served by another hanzo-edge instance{owner}")


def _name(port: int) -> bytes:
    return b"\0hanzo-edge:tcp:%d" % port


class PortGuard:
    """This process's share of the claim on one port (a listening abstract Unix socket)."""

    def __init__(self, port: int, sock: socket.socket) -> None:
        self.port = port
        self.sock: socket.socket | None = sock
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def adopt(cls, port: int, fd: int) -> PortGuard:
        """Take over an inherited claim (a worker's copy of its supervisor's socket)."""
        sock = socket.socket(fileno=fd)
        sock.setblocking(False)
        return cls(port, sock)

    def fileno(self) -> int:
        """The socket's descriptor (what a worker inherits); -1 once released."""
        return self.sock.fileno() if self.sock is not None else -1

    def accept_probes(self) -> None:
        """Accept and close the connections of instances that asked who owns the port.

        They learnt the owner's pid when they connected; accepting only keeps the backlog from filling, so that
        the next one learns it too.
        """
        if self.sock is None:
            return
        for _ in range(64):
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                return
            conn.close()

    def watch(self, loop: asyncio.AbstractEventLoop) -> None:
        """Answer probes from ``loop`` until :meth:`release`."""
        if self.sock is None:
            return
        self._loop = loop
        loop.add_reader(self.sock.fileno(), self.accept_probes)

    def release(self) -> None:
        """Give up this process's share of the claim; the name is free once every share is given up."""
        if self.sock is None:
            return
        if self._loop is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(self.sock.fileno())
            self._loop = None
        self.sock.close()
        self.sock = None


def _owner_pid(port: int) -> int | None:
    """The pid of the process that claimed ``port``, or None when it cannot be learnt."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.setblocking(False)
        try:
            probe.connect(_name(port))
            raw = probe.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
        except OSError:
            return None
    pid = _UCRED.unpack(raw)[0]
    return pid or None


def claim_port(port: int) -> PortGuard | None:
    """Claim ``port`` for this instance. Returns None where claims do not exist (off Linux, port 0).

    Raises:
        PortTaken: another hanzo-edge instance holds the claim.
        OSError: the claim could not be made for another reason.
    """
    if not SUPPORTED or port == 0:
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(_name(port))
        sock.listen(16)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortTaken(port, _owner_pid(port)) from None
        raise
    return PortGuard(port, sock)


def ensure_bindable(host: str, port: int) -> None:
    """Bind ``host:port`` without ``SO_REUSEPORT`` for a moment, the way a single process would.

    The supervisor does this before its workers bind with ``SO_REUSEPORT``: a port that any other process already
    listens on (hanzo-edge or not, with or without ``SO_REUSEPORT``) fails here instead of being shared.

    Raises:
        OSError: the address cannot be bound (``EADDRINUSE`` when something listens on it).
    """
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    seen: set[tuple[int, object]] = set()
    for family, kind, proto, _canon, address in infos:
        if (family, address) in seen:
            continue
        seen.add((family, address))
        try:
            probe = socket.socket(family, kind, proto)
        except OSError:
            continue  # a family this host cannot open (no IPv6): asyncio's create_server skips it too
        with probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                # As asyncio's create_server does: the IPv6 socket must not also cover IPv4 (its own probe does).
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                if family == socket.AF_INET6 and exc.errno == errno.EADDRNOTAVAIL:
                    continue  # no IPv6 on this host; asyncio skips it the same way
                raise
