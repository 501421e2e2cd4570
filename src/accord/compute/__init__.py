"""Joint computations over private inputs: a catalogue of MPC programs and the party runner.

Each organization's node runs one party of a job as a subprocess (``python -m
accord.compute.party CONFIG.json``, see :mod:`accord.compute.party`); the parties talk to each
other over mutually authenticated, certificate-pinned TLS and print only the agreed result.

- :mod:`accord.compute.catalogue` — the programs (pure: ids, versions, digests, input checks and
  each program's computation in the clear, the reference the MPC version must equal).
- :mod:`accord.compute.psi` — two-party private set intersection (openmined-psi).
- :mod:`accord.compute.party` — the subprocess: TLS, pinning, MPyC, timeouts.
- :mod:`accord.compute.local` — run every party of a job on this machine (tests, benchmarks).

This package does not record anything on a ledger; jobs and their records live elsewhere.
Importing it does not import MPyC (MPyC reads ``sys.argv`` when imported; only the party
subprocess imports it).
"""

from __future__ import annotations

from accord.errors import AccordError


class ComputeError(AccordError):
    """A joint computation failed: a party refused the job, dropped out, or timed out.

    No result exists when this is raised; the message says why (one line, safe to show).
    """
