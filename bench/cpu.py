"""CPU time of processes, read from ``/proc`` (Linux): where a machine's cores went during a run."""

from __future__ import annotations

import os
from collections.abc import Iterable

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds ``pid`` (all its threads) has used so far; 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return 0.0
    # The command name is parenthesised and may hold spaces: the fields follow its last ')'.
    fields = stat[stat.rindex(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def total(pids: Iterable[int | None]) -> float:
    return sum(cpu_seconds(p) for p in pids if p is not None)
