"""cancel_all: tasks that absorb one cancellation still end; one that never ends is reported."""

from __future__ import annotations

import asyncio

from accord.tasks import cancel_all


async def _retrying(absorb: int, log: list[str], release: asyncio.Event | None = None) -> None:
    """A retry loop that takes the first ``absorb`` cancellations for a failed attempt (and
    ends by itself once ``release`` is set)."""
    while release is None or not release.is_set():
        try:
            await asyncio.sleep(0.05 if release is not None else 10)
        except asyncio.CancelledError:
            if absorb == 0:
                log.append("ended")
                raise
            absorb -= 1
            log.append("absorbed")


def test_a_task_that_absorbs_a_cancellation_is_cancelled_again() -> None:
    async def main() -> tuple[bool, list[str], bool]:
        log: list[str] = []
        task = asyncio.create_task(_retrying(2, log))
        await asyncio.sleep(0)
        done = await cancel_all([task], timeout=5)
        return done, log, task.cancelled()

    done, log, cancelled = asyncio.run(main())
    assert done and cancelled
    assert log == ["absorbed", "absorbed", "ended"]


def test_a_task_that_never_ends_is_given_up_on(caplog) -> None:  # type: ignore[no-untyped-def]
    async def main() -> tuple[bool, bool]:
        release = asyncio.Event()
        task = asyncio.create_task(_retrying(10**9, [], release), name="stubborn")
        await asyncio.sleep(0)
        done = await cancel_all([task], timeout=1.2)
        still_running = not task.done()
        release.set()
        await task
        return done, still_running

    done, still_running = asyncio.run(main())
    assert not done and still_running
    assert "stubborn" in caplog.text


def test_failed_and_finished_tasks_are_fine() -> None:
    async def boom() -> None:
        raise RuntimeError("boom")

    async def main() -> bool:
        failed = asyncio.create_task(boom())
        finished = asyncio.create_task(asyncio.sleep(0))
        await asyncio.sleep(0.01)
        return await cancel_all([failed, finished], timeout=1)

    assert asyncio.run(main())
