"""TLS as a sans-IO state machine: pyOpenSSL over a pair of memory BIOs, with no socket and no thread.

The stdlib ``ssl`` module links the system OpenSSL (3.0 here, no ML-KEM), so the ZAP listener drives the OpenSSL
bundled with the ``cryptography`` wheel (4.x, whose TLS 1.3 default groups put the hybrid ``X25519MLKEM768``
first) through pyOpenSSL. Memory BIOs keep it inside the event loop: bytes from the peer go in with :meth:`feed`,
plaintext to send goes in with :meth:`send`, and every call leaves the TLS records to write in :meth:`outgoing`.

One :class:`TlsEngine` serves either side (the listener's server side; the tests' and benchmark's clients), so the
client that proves the group negotiated is the same code the listener runs.
"""

from __future__ import annotations

from OpenSSL import SSL

__all__ = ["READ_SIZE", "TlsEngine", "TlsFailure"]

READ_SIZE = 65536
"""Largest plaintext read per ``SSL_read`` call (a record holds at most 16 KiB; more only saves calls)."""

_WRITE_CHUNK = 262144
"""Plaintext encrypted per ``SSL_write``; the records are taken out of the BIO after each chunk."""


class TlsFailure(Exception):
    """The handshake or a record failed (bad version, no shared group, bad MAC, unexpected message...)."""


class TlsEngine:
    """One TLS connection over memory BIOs (see the module docstring).

    ``handshake_done`` turns true once the handshake finished; ``peer_closed`` once the peer's ``close_notify``
    arrived (TLS 1.3 keeps the other direction open: :meth:`send` still works until :meth:`close`).
    """

    __slots__ = ("_conn", "_out", "closed", "handshake_done", "peer_closed")

    def __init__(self, conn: SSL.Connection) -> None:
        self._conn = conn
        self._out: list[bytes] = []
        self.handshake_done = False
        self.peer_closed = False
        self.closed = False

    @classmethod
    def server(cls, context: SSL.Context) -> TlsEngine:
        """The server side of a new connection."""
        conn = SSL.Connection(context, None)
        conn.set_accept_state()
        return cls(conn)

    @classmethod
    def client(cls, context: SSL.Context, server_name: str = "") -> TlsEngine:
        """The client side of a new connection; its ClientHello is in :meth:`outgoing` at once."""
        conn = SSL.Connection(context, None)
        conn.set_connect_state()
        if server_name:
            conn.set_tlsext_host_name(server_name.encode("idna"))
        engine = cls(conn)
        engine._advance_handshake()
        return engine

    # -- state ----------------------------------------------------------------------------------------------------
    @property
    def group(self) -> str | None:
        """The negotiated key-exchange group (``X25519MLKEM768``, ``X25519``...), None before the handshake."""
        return self._conn.get_group_name() if self.handshake_done else None

    @property
    def version(self) -> str:
        """The negotiated protocol version (``TLSv1.3``)."""
        return self._conn.get_protocol_version_name()

    @property
    def cipher(self) -> str | None:
        return self._conn.get_cipher_name()

    # -- bytes in -------------------------------------------------------------------------------------------------
    def feed(self, data: bytes) -> list[bytes]:
        """Take bytes the peer sent; return the plaintext they completed (possibly none). Raises TlsFailure.

        Records to send back (handshake messages, tickets, alerts, key updates) wait in :meth:`outgoing`; after a
        failure the alert explaining it is there too, so the caller can still write it before closing.
        """
        conn = self._conn
        conn.bio_write(data)
        if not self.handshake_done and not self._advance_handshake():
            return []
        chunks: list[bytes] = []
        recv = conn.recv
        while True:
            try:
                chunks.append(recv(READ_SIZE))
            except SSL.WantReadError:
                break
            except SSL.ZeroReturnError:
                self.peer_closed = True
                break
            except SSL.Error as exc:
                self._collect()
                raise TlsFailure(_describe(exc)) from None
        self._collect()
        return chunks

    def _advance_handshake(self) -> bool:
        try:
            self._conn.do_handshake()
        except SSL.WantReadError:
            self._collect()
            return False
        except SSL.Error as exc:
            self._collect()
            raise TlsFailure(_describe(exc)) from None
        self.handshake_done = True
        return True

    # -- bytes out ------------------------------------------------------------------------------------------------
    def send(self, data: bytes | memoryview) -> None:
        """Encrypt ``data`` (after the handshake); the records are in :meth:`outgoing`. Raises TlsFailure."""
        view = memoryview(data)
        write = self._conn.send
        try:
            while view:
                chunk = view[:_WRITE_CHUNK]
                sent = write(chunk)
                view = view[sent:]
                self._collect()
        except SSL.Error as exc:
            self._collect()
            raise TlsFailure(_describe(exc)) from None

    def close(self) -> None:
        """Send ``close_notify`` (once): the peer reads an orderly end of our direction."""
        if self.closed:
            return
        self.closed = True
        try:
            self._conn.shutdown()
        except SSL.Error:
            pass  # the connection already failed: there is nothing orderly left to say
        self._collect()

    def outgoing(self) -> bytes:
        """The TLS records produced since the last call (``b""`` when none)."""
        out = self._out
        if not out:
            return b""
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        return data

    def _collect(self) -> None:
        bio_read = self._conn.bio_read
        while True:
            try:
                chunk = bio_read(_WRITE_CHUNK)
            except SSL.WantReadError:
                return
            if not chunk:
                return
            self._out.append(chunk)


def _describe(exc: SSL.Error) -> str:
    """OpenSSL's error queue as one line (``unsupported protocol``, ``no shared group``...)."""
    parts = []
    for entry in exc.args[0] if exc.args and isinstance(exc.args[0], list) else ():
        if isinstance(entry, tuple) and entry:
            parts.append(str(entry[-1]))
    return "; ".join(parts) or str(exc) or type(exc).__name__
