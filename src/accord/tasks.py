"""Stopping asyncio tasks for sure.

``task.cancel()`` asks once. A task can absorb that one request: on Python 3.11,
``asyncio.wait_for`` returns its inner result instead of raising when the cancellation arrives
just as the inner await completes, and a retry loop around it then runs on as if nothing had
been asked (a node retrying an unreachable ordering service never stopped). :func:`cancel_all`
asks again until every task has ended, and gives up after a bound instead of hanging a shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

log = logging.getLogger("accord")

RECANCEL_INTERVAL = 0.5


async def cancel_all(tasks: Iterable[asyncio.Task[object]], *, timeout: float = 15.0) -> bool:
    """Cancel ``tasks`` and wait until each has ended, cancelling again every
    :data:`RECANCEL_INTERVAL` seconds; ``False`` (and a warning naming them) if some were still
    running after ``timeout`` seconds. Their exceptions are retrieved, not raised."""
    tasks = list(tasks)
    pending = {t for t in tasks if not t.done()}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while pending:
        for task in pending:
            task.cancel()
        remaining = deadline - loop.time()
        if remaining <= 0:
            names = ", ".join(sorted(t.get_name() for t in pending))
            log.warning("tasks still running after %.0f s of cancelling: %s", timeout, names)
            return False
        _, pending = await asyncio.wait(pending, timeout=min(RECANCEL_INTERVAL, remaining))
    for task in tasks:
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: no "exception was never retrieved" at exit
    return True
