"""The ``headers`` middleware's response hook for its usual configurations, as one native call (issue 22).

Most ``headers`` middlewares only add response headers: ``customResponseHeaders`` and, of the security headers,
``Strict-Transport-Security`` alone (the issue-22 "full product" has exactly that). For them the fused response hook
(``middlewares.base.HeadHooks``) is a :class:`ResponseHeaderEdits`: its fields are encoded once per configuration
generation by ``HeadersMiddleware`` and a response costs one call that only walks them. This module is compiled with
the hot path (``scripts/build_compiled.py``), so that call is native from the compiled request pipeline, with no
interpreted frame; ``headers.py`` itself (configuration parsing, CORS, the rest of the security layer) stays
interpreted.
"""

from __future__ import annotations

from typing import Final

from hanzo_edge.http.messages import Request, Response

__all__ = ["ResponseEdit", "ResponseHeaderEdits"]

ResponseEdit = tuple[str, bytes, "tuple[bytes, bytes] | None"]
"""``(canonical name, lower-case key, encoded field)``: set the field, or delete every ``name`` field when None."""

_STS_KEY: Final = b"strict-transport-security"
_MAX_KEY: Final = 62  # key lengths the one-scan check covers: its bit set stays a native (short) int


class ResponseHeaderEdits:
    """What a response through the layer gets: STS (on HTTPS, or always when forced), then the custom headers.

    The same edits, in the same order, as ``HeadersMiddleware._on_response_head`` makes for a configuration with no
    CORS options, no ``sslProxyHeaders`` and no security response header but STS; an interim (1xx) response gets
    none.
    """

    def __init__(self, sts_field: tuple[bytes, bytes] | None, force_sts: bool, edits: tuple[ResponseEdit, ...]) -> None:
        self.sts_field = sts_field
        self.force_sts = force_sts
        self.edits = edits
        # The usual response has none of the fields the edits name: each set is then an append and each delete a
        # no-op, so one scan of the response's field names (by length: a bit per length the edits name) replaces a
        # set_field search per edit. Only when no key repeats: a second set of one key replaces the first.
        keys = [key for _, key, _ in edits]
        if sts_field is not None:
            keys.append(_STS_KEY)
        sizes = {len(key) for key in keys}
        self.lengths = sum(1 << size for size in sizes if size < _MAX_KEY)
        self.appends: tuple[tuple[bytes, bytes], ...] | None = None
        if len(set(keys)) == len(keys) and all(size < _MAX_KEY for size in sizes):
            self.appends = tuple(field for _, _, field in edits if field is not None)

    def __call__(self, req: Request, response: Response) -> None:
        status = response.status
        if 100 <= status < 200:
            return
        headers = response.headers
        sts_field = self.sts_field
        # HTTPS as the security layer decides it without sslProxyHeaders (HeadersMiddleware._is_ssl).
        with_sts = sts_field is not None and (self.force_sts or req.tls or req.scheme == "https")
        appends = self.appends
        if appends is not None and not self._names_a_field(headers.raw):
            raw = headers.raw
            if with_sts and sts_field is not None:
                raw.append(sts_field)
            for pair in appends:
                raw.append(pair)
            return
        if with_sts and sts_field is not None:
            headers.set_field(_STS_KEY, sts_field)
        for name, key, field in self.edits:
            if field is None:
                headers.remove(name)
            else:
                headers.set_field(key, field)

    def _names_a_field(self, raw: list[tuple[bytes, bytes]]) -> bool:
        """True when some field of ``raw`` may be one an edit names (its name has the length of an edit's key)."""
        lengths = self.lengths
        for name, _ in raw:
            size = len(name)
            if size < _MAX_KEY and (lengths >> size) & 1:
                return True
        return False
