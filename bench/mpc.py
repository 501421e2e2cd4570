"""Joint computations without accord around them: MPyC's own timing, over real TLS.

Every party is a ``python -m accord.compute.party`` subprocess on 127.0.0.1 with a throwaway CA
and pinned certificates, as in ``tests/compute/test_party.py``; no ledger, no node, no job
records. The wall time runs from starting the processes to the last one's answer, so it includes
each party's Python start-up, MPyC import and TLS connection set-up (about 0.3 s here); the
parties' own ``elapsedSeconds`` are in the detailed results. The baseline is the same program in
the clear (``Program.clear``) over the same inputs.

``python bench/mpc.py`` prints the table; ``mpc_section``/``report_lines`` are for bench/run.py.
"""

from __future__ import annotations

import asyncio
import random
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from accord.compute import ComputeError
from accord.compute.catalogue import check_inputs, check_params, get_program
from accord.compute.local import make_local_consortium, party_configs, run_configs


def run_local_job(
    program_id: str,
    inputs_per_party: Sequence[Any],
    params: Mapping[str, Any] | None = None,
    *,
    timeout: float = 600.0,
) -> tuple[dict[str, Any], float]:
    """Run one job with every party a local subprocess over TLS: (result, wall seconds).

    Raises :class:`ComputeError` if any party fails, or if the parties disagree.
    """
    with tempfile.TemporaryDirectory(prefix="accord-bench-mpc-") as directory:
        consortium = make_local_consortium(Path(directory), len(inputs_per_party))
        configs = party_configs(consortium, program_id, inputs_per_party, params, timeout=timeout)
        started = time.perf_counter()
        answers = asyncio.run(run_configs(configs, timeout=timeout))
        wall = time.perf_counter() - started
    results = []
    for answer in answers:
        if isinstance(answer, BaseException):
            raise answer
        results.append(answer["result"])
    if any(result != results[0] for result in results):
        raise ComputeError(f"the parties disagree: {results}")
    return results[0], wall


def clear_time(
    program_id: str, inputs: Sequence[Any], params: Mapping[str, Any] | None = None
) -> float:
    """Seconds to check the inputs and compute the same result in the clear, in one process."""
    program = get_program(program_id)
    started = time.perf_counter()
    checked = [check_inputs(program, value) for value in inputs]
    program.clear(checked, check_params(program, dict(params or {})))
    return time.perf_counter() - started


def _cases() -> list[tuple[str, str, list[Any], dict[str, Any]]]:
    rng = random.Random(2024)
    values = [[rng.randint(-(2**31) + 1, 2**31 - 1) for _ in range(10_000)] for _ in range(3)]
    common = [f"customer-{i}" for i in range(100)]
    sets = [common + [f"party{j}-{i}" for i in range(100)] for j in range(3)]
    return [
        ("sum", "3 parties × 10,000 values", values, {}),
        ("mean", "3 parties × 10,000 values", values, {}),
        ("max", "3 parties × 10,000 values", values, {}),
        ("intersection-size", "3 parties × 200 items (100 common)", sets, {}),
    ]


def mpc_section(tmp: Path | None = None) -> dict[str, Any]:
    """Each case's wall time over TLS and its clear time (``tmp`` is unused; for symmetry)."""
    rows = []
    for program_id, shape, inputs, params in _cases():
        result, wall = run_local_job(program_id, inputs, params)
        if result != get_program(program_id).clear(inputs, params):
            raise ComputeError(f"{program_id}: MPC result {result} differs from the clear one")
        rows.append(
            {
                "program": program_id,
                "inputs": shape,
                "wallSeconds": wall,
                "clearSeconds": clear_time(program_id, inputs, params),
                "result": result,
            }
        )
    return {"rows": rows}


def report_lines(section: Mapping[str, Any]) -> list[str]:
    lines = [
        "| program | inputs | MPC wall time (3 local processes, TLS) | in the clear |",
        "| --- | --- | ---: | ---: |",
    ]
    for row in section["rows"]:
        lines.append(
            f"| {row['program']} | {row['inputs']} | {row['wallSeconds']:.2f} s"
            f" | {row['clearSeconds'] * 1000:.2f} ms |"
        )
    return lines


def main() -> None:
    print("\n".join(report_lines(mpc_section())))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
