"""TaskScope: the background tasks of one configuration generation, cancelled together."""

from __future__ import annotations

import asyncio
import logging

import pytest

from hanzo_edge.services.generation import TaskScope


async def _forever(started: list[str], name: str) -> None:
    started.append(name)
    try:
        await asyncio.Event().wait()
    finally:
        started.append(f"{name} cancelled")


def test_aclose_cancels_and_awaits_every_task() -> None:
    async def scenario() -> tuple[list[str], int, bool]:
        started: list[str] = []
        scope = TaskScope("g1")
        tasks = [scope.spawn(_forever(started, n)) for n in ("a", "b")]
        await asyncio.sleep(0)
        assert len(scope) == 2
        await scope.aclose()
        return started, len(scope), all(t is not None and t.cancelled() for t in tasks)

    started, remaining, cancelled = asyncio.run(scenario())
    assert sorted(started) == ["a", "a cancelled", "b", "b cancelled"]
    assert (remaining, cancelled) == (0, True)


def test_finished_tasks_leave_the_scope() -> None:
    async def quick() -> int:
        return 7

    async def scenario() -> tuple[int, int]:
        scope = TaskScope()
        task = scope.spawn(quick())
        assert task is not None
        value = await task
        await asyncio.sleep(0)
        return value, len(scope)

    assert asyncio.run(scenario()) == (7, 0)


def test_spawn_after_close_refuses_and_closes_the_coroutine() -> None:
    async def never() -> None:
        raise AssertionError("must not run")

    async def scenario() -> object:
        scope = TaskScope()
        scope.cancel()
        assert scope.closed
        return scope.spawn(never())

    assert asyncio.run(scenario()) is None  # filterwarnings=error would flag an unawaited coroutine


def test_failed_task_is_logged_not_left_unretrieved(caplog: pytest.LogCaptureFixture) -> None:
    async def boom() -> None:
        raise RuntimeError("kaput")

    async def scenario() -> None:
        scope = TaskScope("g7")
        scope.spawn(boom())
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        await scope.aclose()

    with caplog.at_level(logging.ERROR, logger="hanzo_edge.services"):
        asyncio.run(scenario())
    assert "generation g7" in caplog.text
    assert "kaput" in caplog.text


def test_aclose_from_inside_one_of_its_tasks() -> None:
    async def scenario() -> bool:
        scope = TaskScope()
        started: list[str] = []
        scope.spawn(_forever(started, "other"))

        async def closer() -> None:
            await scope.aclose()

        task = scope.spawn(closer())
        assert task is not None
        await task
        return "other cancelled" in started

    assert asyncio.run(scenario())
