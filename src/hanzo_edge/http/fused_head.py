"""A run of head-only middlewares as plain calls around a handler (issue 22).

The chain builder (``routing/middleware_builder.py``) composes the hooks of consecutive head-only layers
(``middlewares.base.HeadHooks``) into the two callables of one :class:`FusedHead`; the request pipeline
(``http/pipeline.py``) recognises the route's outermost one and calls its hooks in its own frame. It lives in
``http`` because the pipeline, which may import only ``http``, needs the class.
"""

from __future__ import annotations

from collections.abc import Callable

from hanzo_edge.http.messages import Handler, Request, Response

__all__ = ["FusedHead", "RequestHook", "ResponseHook"]

RequestHook = Callable[[Request], "Response | None"]
"""``on_request(req)``: change the request head, or return the layer's early answer (None: go on inward)."""
ResponseHook = Callable[[Request, Response], None]
"""``on_response(req, response)``: change the response head in place."""


class FusedHead:
    """``next`` behind the fused request and response hooks of a run of head-only layers: a one-frame handler.

    ``on_request`` returns an early answer already passed out through the run's outer layers, or None;
    ``on_response`` runs the response hooks innermost first. An exception skips every response hook, as it skips
    the code after ``await next(req)``.
    """

    __slots__ = ("next", "on_request", "on_response")

    def __init__(self, next: Handler, on_request: RequestHook | None, on_response: ResponseHook | None) -> None:
        self.next = next
        self.on_request = on_request
        self.on_response = on_response

    async def __call__(self, req: Request) -> Response:
        on_request = self.on_request
        if on_request is not None:
            early = on_request(req)
            if early is not None:
                return early
        response = await self.next(req)
        on_response = self.on_response
        if on_response is not None:
            on_response(req, response)
        return response
