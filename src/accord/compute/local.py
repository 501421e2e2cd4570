"""Run every party of a job on this machine, over real TLS: for tests, benchmarks and demos.

It makes a throwaway service CA and one node certificate per party (with
:mod:`accord.identity`, as a consortium would), picks free ports on 127.0.0.1, writes each party's
CONFIG and runs the party subprocesses concurrently. Not used by a node, which runs only its own
party (:func:`accord.compute.party.run_party_subprocess`).
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from accord.compute.catalogue import get_program
from accord.compute.party import run_party_subprocess
from accord.errors import InvalidRequest
from accord.identity import make_node_identity, make_service_identity, write_private, write_public

LOCALHOST = "127.0.0.1"


@dataclass(frozen=True)
class LocalParty:
    index: int
    cert: Path
    key: Path
    cert_sha256: str


@dataclass(frozen=True)
class LocalConsortium:
    ca: Path
    parties: tuple[LocalParty, ...]


def free_ports(count: int) -> list[int]:
    """Ports the kernel just handed out on 127.0.0.1 (free now; a race is possible, not likely)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((LOCALHOST, 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def make_local_consortium(directory: Path, count: int) -> LocalConsortium:
    """A CA and ``count`` party certificates for 127.0.0.1 under ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    service = make_service_identity("compute-local")
    ca = directory / "service.pem"
    write_public(ca, service.cert_pem())
    parties = []
    for index in range(count):
        node = make_node_identity(service, [LOCALHOST, "localhost"])
        cert = directory / f"party{index}.pem"
        key = directory / f"party{index}.key"
        write_public(cert, node.cert_pem())
        key.unlink(missing_ok=True)
        write_private(key, node.key_pem())
        der = node.cert.public_bytes(serialization.Encoding.DER)
        parties.append(LocalParty(index, cert, key, hashlib.sha256(der).hexdigest()))
    return LocalConsortium(ca, tuple(parties))


def party_configs(
    consortium: LocalConsortium,
    program_id: str,
    inputs: Sequence[Any],
    params: Mapping[str, Any] | None = None,
    *,
    timeout: float = 60.0,
) -> list[dict[str, Any]]:
    """Each party's CONFIG for one job (party *i* gets ``inputs[i]``), on fresh free ports."""
    program = get_program(program_id)
    if len(inputs) > len(consortium.parties):
        raise InvalidRequest(f"{len(inputs)} inputs for {len(consortium.parties)} parties")
    peers = [
        {"host": LOCALHOST, "port": port, "tlsCertSha256": p.cert_sha256}
        for p, port in zip(consortium.parties, free_ports(len(inputs)), strict=False)
    ]
    return [
        {
            "program": program.id,
            "programSha256": program.sha256,
            "params": dict(params or {}),
            "index": party.index,
            "parties": [dict(peer) for peer in peers],
            "cert": str(party.cert),
            "key": str(party.key),
            "ca": str(consortium.ca),
            "input": list(party_input),
            "timeoutSeconds": timeout,
            "listenHost": LOCALHOST,
        }
        for party, party_input in zip(consortium.parties, inputs, strict=False)
    ]


async def run_configs(
    configs: Sequence[Mapping[str, Any]], *, timeout: float = 60.0
) -> list[dict[str, Any] | BaseException]:
    """Run one party subprocess per CONFIG concurrently; each one's answer or its exception."""
    return await asyncio.gather(
        *(run_party_subprocess(config, timeout=timeout) for config in configs),
        return_exceptions=True,
    )
