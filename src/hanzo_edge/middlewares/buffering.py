"""``buffering``: read whole bodies before forwarding, with size limits (Traefik ``pkg/middlewares/buffering``, oxy).

Two modes, chosen once when the middleware is built:

* **Streaming limit** (a Hanzo improvement, ENGINEERING.md §5) when ``maxRequestBodyBytes`` is the only limit that
  does something (``maxResponseBodyBytes: 0`` and no ``retryExpression``): :class:`StreamingBodyLimit` answers
  ``413 Request Entity Too Large`` at once for a declared ``Content-Length`` over the limit, without reading the
  body, and otherwise lets the body stream to the backend while counting it. A chunked body that passes the limit
  fails the upstream request: the client gets the 413 if no response head was sent yet, else its connection is
  closed (the response body is cut). Nothing is buffered, so a chunked request stays chunked upstream and large
  uploads cost no memory. (Traefik reads the whole body first, spilling to disk above ``memRequestBodyBytes``.)

A router with a ``buffering`` middleware takes its ``maxRequestBodyBytes`` (``0``: none) as the request-body limit
instead of the entrypoint's ``http.maxRequestBodyBytes`` (Hanzo, HIP-68), up or down: the router's limit is computed
when the table is built (``MiddlewareBuilder.body_limit``) and applied by the protocol as soon as the request is
routed, so no middleware before this one can trip over the entrypoint's.
* **Full buffering** (oxy ``buffer``) otherwise: the request body is read to its end (413 over
  ``maxRequestBodyBytes``; a declared length over it is refused before reading) and sent with a ``Content-Length``;
  the response is read to its end before anything goes to the client (``500`` over ``maxResponseBodyBytes``).
  Bodies larger than ``memRequestBodyBytes`` / ``memResponseBodyBytes`` spill to an unnamed temporary file and are
  replayed from it. ``retryExpression`` (functions ``IsNetworkError()`` — the attempt ended in 502 or 504 —,
  ``Attempts()``, ``ResponseCode()``, ``RequestMethod()``; operators ``&&``, ``||``, ``==``, ``!=``, ``<``, ``>``,
  ``<=``, ``>=``, parentheses) replays the buffered request while it holds, at most 10 times as oxy does.
  ``0`` means unlimited for both maxima.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import IO, Any

from hanzo_edge.http.body import BodyError, BodyTooLarge, StreamBody
from hanzo_edge.http.errors import ClientClosed, NoAvailableServer, UpstreamError
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.http.status import status_text
from hanzo_edge.middlewares.base import BuildContext, register

__all__ = ["Buffering", "RetryPredicate", "StreamingBodyLimit", "parse_retry_expression"]

MAX_RETRY_ATTEMPTS = 10
"""oxy's ``DefaultMaxRetryAttempts``: the expression is not consulted after the 10th attempt."""

_CHUNK = 256 * 1024
_NO_BODY_STATUS = frozenset({204, 304})


def _status_response(status: int) -> Response:
    # oxy writes the bare status text; Traefik's entrypoint disables Content-Type sniffing.
    return Response(status, Headers(), status_text(status).encode())


async def _answer(status: int) -> Response:
    return _status_response(status)


# ---------------------------------------------------------------------------------------------- retry expression


@dataclass(frozen=True, slots=True)
class _Attempt:
    """What a retry expression can look at after one attempt."""

    method: str
    attempt: int
    response_code: int


RetryPredicate = Callable[[_Attempt], bool]
"""A compiled ``retryExpression``: True means replay the request."""

_TOKEN = re.compile(
    r"\s*(?:(?P<op>&&|\|\||==|!=|<=|>=|<|>|\(|\))|(?P<int>\d+)|(?P<str>\"(?:[^\"\\]|\\.)*\"|`[^`]*`)"
    r"|(?P<ident>[A-Za-z_][A-Za-z0-9_]*)|(?P<bad>\S))"
)
_INT_FUNCS: dict[str, Callable[[_Attempt], int]] = {
    "Attempts": lambda a: a.attempt,
    "ResponseCode": lambda a: a.response_code,
}
_STR_FUNCS: dict[str, Callable[[_Attempt], str]] = {"RequestMethod": lambda a: a.method}
_BOOL_FUNCS: dict[str, RetryPredicate] = {"IsNetworkError": lambda a: a.response_code in (502, 504)}
_INT_OPS: dict[str, Callable[[int, int], bool]] = {
    "==": lambda x, y: x == y,
    "!=": lambda x, y: x != y,
    "<": lambda x, y: x < y,
    ">": lambda x, y: x > y,
    "<=": lambda x, y: x <= y,
    ">=": lambda x, y: x >= y,
}


class _ExpressionParser:
    """Recursive descent over ``or := and ('||' and)*``, ``and := term ('&&' term)*``,
    ``term := '(' or ')' | call [op literal]``. Never evaluates Python."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str]] = []
        for match in _TOKEN.finditer(text):
            kind = match.lastgroup or "bad"
            value = match.group(kind) if match.lastgroup else match.group(0)
            if kind == "bad":
                raise self.error(f"unexpected character {value!r}")
            self.tokens.append((kind, value))
        if not self.tokens:
            raise self.error("empty expression")
        self.pos = 0

    def error(self, message: str) -> ValueError:
        return ValueError(f"invalid retryExpression {self.text!r}: {message}")

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise self.error("unexpected end of expression")
        self.pos += 1
        return token

    def expect(self, value: str) -> None:
        kind, got = self.take()
        if kind != "op" or got != value:
            raise self.error(f"expected {value!r}, got {got!r}")

    def parse(self) -> RetryPredicate:
        predicate = self.parse_or()
        if self.peek() is not None:
            raise self.error(f"unexpected {self.take()[1]!r}")
        return predicate

    def parse_or(self) -> RetryPredicate:
        terms = [self.parse_and()]
        while self.peek() == ("op", "||"):
            self.take()
            terms.append(self.parse_and())
        if len(terms) == 1:
            return terms[0]
        return lambda a: any(term(a) for term in terms)

    def parse_and(self) -> RetryPredicate:
        terms = [self.parse_term()]
        while self.peek() == ("op", "&&"):
            self.take()
            terms.append(self.parse_term())
        if len(terms) == 1:
            return terms[0]
        return lambda a: all(term(a) for term in terms)

    def parse_term(self) -> RetryPredicate:
        kind, value = self.take()
        if (kind, value) == ("op", "("):
            inner = self.parse_or()
            self.expect(")")
            return inner
        if kind != "ident":
            raise self.error(f"expected a function call, got {value!r}")
        self.expect("(")
        self.expect(")")
        nxt = self.peek()
        if nxt is not None and nxt[0] == "op" and nxt[1] in _INT_OPS:
            op = self.take()[1]
            lit_kind, literal = self.take()
            if value in _INT_FUNCS:
                if lit_kind != "int":
                    raise self.error(f"{value}() compares with an integer, got {literal!r}")
                getter, compare, number = _INT_FUNCS[value], _INT_OPS[op], int(literal)
                return lambda a: compare(getter(a), number)
            if value in _STR_FUNCS:
                if lit_kind != "str" or op not in ("==", "!="):
                    raise self.error(f"{value}() supports only == and != with a string")
                text = literal[1:-1]
                if literal.startswith('"'):
                    text = re.sub(r"\\(.)", r"\1", text)
                sgetter, negate = _STR_FUNCS[value], op == "!="
                return lambda a: (sgetter(a) == text) != negate
            raise self.error(f"{value}() cannot be compared")
        if value in _BOOL_FUNCS:
            return _BOOL_FUNCS[value]
        if value in _INT_FUNCS or value in _STR_FUNCS:
            raise self.error(f"{value}() is not a predicate; compare it with a value")
        raise self.error(f"unknown function {value}()")


def parse_retry_expression(text: str) -> RetryPredicate:
    """Compile an oxy retry expression. Raises ValueError (naming the expression) when it is invalid."""
    return _ExpressionParser(text).parse()


# ------------------------------------------------------------------------------------------------ streaming limit


def _drop(response: Response) -> None:
    """Abandon a streamed response: drain it nowhere and close its upstream connection (as the server does)."""
    body = response.body
    if isinstance(body, StreamBody) and not body.consumed:
        body.discard()


class StreamingBodyLimit:
    """A request-body limit that never buffers: ``413`` on a declared length over ``limit``, else counts the stream.

    ``await limit(req)`` returns the next handler's response, or ``413 Request Entity Too Large``. The counting is
    the body's own (:meth:`StreamBody.tighten`): the chunk that passes the limit is never delivered, the body fails
    and whatever consumes it (the upstream connection) fails too, which becomes the 413 here. Reusable by any handler
    chain (``StreamingBodyLimit(next, limit)``); ``limit`` must be positive (ValueError otherwise).
    """

    __slots__ = ("limit", "next")

    def __init__(self, next: Handler, limit: int) -> None:
        if limit <= 0:
            raise ValueError(f"the body limit must be positive, got {limit}")
        self.next = next
        self.limit = limit

    def __call__(self, req: Request) -> Awaitable[Response]:
        body = req.body
        limit = self.limit
        if isinstance(body, bytes):
            return _answer(413) if len(body) > limit else self.next(req)
        length = body.length
        if (length is not None and length > limit) or body.received > limit:
            # A declared length is exact (the parser enforces it): refuse without reading a byte.
            return _answer(413)
        body.tighten(limit)
        return self._guarded(req, body)

    async def _guarded(self, req: Request, body: StreamBody) -> Response:
        try:
            response = await self.next(req)
        except ClientClosed:
            raise
        except (UpstreamError, BodyError):
            if body.exceeded:
                return _status_response(413)
            raise
        if body.exceeded:
            # The limit was passed before this response could be relayed: it cannot be trusted as complete.
            _drop(response)
            return _status_response(413)
        return response


# ---------------------------------------------------------------------------------------------------- spooling


class _Spool:
    """A body held in memory up to ``mem`` bytes, then in an unnamed temporary file.

    The file is closed when the spool and every body replaying it are gone (``weakref.finalize``).
    """

    __slots__ = ("__weakref__", "_file", "_mem", "_parts", "size")

    def __init__(self, mem: int) -> None:
        self._mem = mem
        self._parts: list[bytes] = []
        self._file: IO[bytes] | None = None
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        file = self._file
        if file is not None:
            file.write(chunk)
            return
        self._parts.append(chunk)
        if self.size > self._mem:
            file = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the finalizer below
            weakref.finalize(self, file.close)
            file.write(b"".join(self._parts))
            self._parts = []
            self._file = file

    def replay(self) -> bytes | StreamBody:
        """Return the body: ``bytes`` when in memory, else a new stream reading the file from its start."""
        file = self._file
        if file is None:
            if len(self._parts) != 1:
                self._parts = [b"".join(self._parts)]
            return self._parts[0]
        file.flush()
        return _FileFeeder(self, file.fileno(), self.size).body


class _FileFeeder:
    """Feeds a spooled file into a :class:`StreamBody`, honouring its pause/resume (the body's source)."""

    __slots__ = ("_fd", "_loop", "_offset", "_paused", "_scheduled", "_size", "_spool", "body")

    def __init__(self, spool: _Spool, fd: int, size: int) -> None:
        self._spool: _Spool | None = spool  # keeps the file open while replaying
        self._fd = fd
        self._size = size
        self._offset = 0
        self._paused = False
        self._loop = asyncio.get_running_loop()
        self._scheduled = True
        self.body = StreamBody(self, size)
        self._loop.call_soon(self._run)

    def pause_reading(self) -> None:
        """Stop feeding until resumed."""
        self._paused = True

    def resume_reading(self) -> None:
        """Feed again."""
        self._paused = False
        if not self._scheduled and self._spool is not None:
            self._scheduled = True
            self._loop.call_soon(self._run)

    def close(self) -> None:
        """Stop for good (the consumer went away)."""
        if self._spool is not None:
            self._spool = None
            self.body.feed_error(BodyError("replay closed"))

    def _run(self) -> None:
        self._scheduled = False
        body = self.body
        while not self._paused and self._spool is not None:
            want = min(_CHUNK, self._size - self._offset)
            if want <= 0:
                self._spool = None
                body.feed_eof()
                return
            try:
                chunk = os.pread(self._fd, want, self._offset)
            except OSError as exc:
                self._spool = None
                body.feed_error(exc)
                return
            if not chunk:
                self._spool = None
                body.feed_error(BodyError("spooled body truncated"))
                return
            self._offset += len(chunk)
            body.feed(chunk)


# ----------------------------------------------------------------------------------------------- the middleware


def _non_negative(config: Any, attr: str, wire: str, default: int) -> int:
    value = getattr(config, attr, default)
    value = default if value is None else int(value)
    if value < 0:
        raise ValueError(f"{wire} should be >= 0, got {value}")
    return value


class _TooLarge(Exception):
    pass


@register("buffering")
class Buffering:
    """Buffers requests and responses with size limits (see the module docstring for the two modes).

    Raises ValueError for a negative size or an invalid ``retryExpression``.
    """

    __slots__ = ("limit", "max_request", "max_response", "mem_request", "mem_response", "name", "next", "retry")

    def __init__(self, next: Handler, config: Any, *, name: str, ctx: BuildContext) -> None:
        self.next = next
        self.name = name
        self.max_request = _non_negative(config, "max_request_body_bytes", "maxRequestBodyBytes", 0)
        self.mem_request = _non_negative(config, "mem_request_body_bytes", "memRequestBodyBytes", 1048576)
        self.max_response = _non_negative(config, "max_response_body_bytes", "maxResponseBodyBytes", 0)
        self.mem_response = _non_negative(config, "mem_response_body_bytes", "memResponseBodyBytes", 1048576)
        expression = str(getattr(config, "retry_expression", "") or "").strip()
        self.retry: RetryPredicate | None = parse_retry_expression(expression) if expression else None
        streaming = self.max_request > 0 and self.max_response == 0 and self.retry is None
        self.limit: StreamingBodyLimit | None = StreamingBodyLimit(next, self.max_request) if streaming else None

    def __call__(self, req: Request) -> Awaitable[Response]:
        limit = self.limit
        if limit is not None:
            return limit(req)
        return self._buffered(req)

    async def _buffered(self, req: Request) -> Response:
        body = req.body
        max_request = self.max_request
        spool = _Spool(self.mem_request)
        if isinstance(body, bytes):
            if max_request and len(body) > max_request:
                return _status_response(413)
            if body:
                spool.write(body)
        else:
            if max_request and body.length is not None and body.length > max_request:
                return _status_response(413)
            try:
                while chunk := await body.read_chunk():
                    spool.write(chunk)
                    if max_request and spool.size > max_request:
                        return _status_response(413)
            except BodyTooLarge:
                return _status_response(413)  # the body's own limit (another buffering layer) is smaller
            except BodyError:
                return _status_response(500)  # the client's body failed (oxy's default error handler)
        attempt = 1
        while True:
            req.body = spool.replay() if spool.size else b""
            outcome: Response | Exception
            try:
                outcome = await self.next(req)
            except ClientClosed:
                raise
            except NoAvailableServer as exc:
                outcome, code = exc, 503
            except UpstreamError as exc:
                outcome, code = exc, exc.status
            else:
                code = outcome.status
                try:
                    await self._buffer_response(req, outcome)
                except _TooLarge:
                    return _status_response(500)
                except BodyError:
                    return _status_response(502)
            retry = self.retry
            if retry is None or attempt > MAX_RETRY_ATTEMPTS or not retry(_Attempt(req.method, attempt, code)):
                if isinstance(outcome, Exception):
                    raise outcome
                return outcome
            attempt += 1

    async def _buffer_response(self, req: Request, response: Response) -> None:
        body = response.body
        if (
            response.tunnel is not None
            or req.method == "HEAD"
            or response.status < 200
            or response.status in _NO_BODY_STATUS
        ):
            return
        limit = self.max_response
        if isinstance(body, bytes):
            if limit and len(body) > limit:
                raise _TooLarge
            return
        if limit and body.length is not None and body.length > limit:
            _drop(response)
            raise _TooLarge
        spool = _Spool(self.mem_response)
        while chunk := await body.read_chunk():
            spool.write(chunk)
            if limit and spool.size > limit:
                _drop(response)
                raise _TooLarge
        response.body = spool.replay() if spool.size else b""
