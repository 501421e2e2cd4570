"""What the multi-organization tests share: a running consortium, and each organization's
Administrator as a typed client, an HTTPS client, a member key and command-line options."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx

from accord.client.client import AccordClient
from accord.consortium.demo import LocalConsortium, OrgProcess
from accord.core.note import Signer

ORGS = ("supplier", "manufacturer", "retailer")


@contextlib.contextmanager
def running_consortium(directory: Path, orgs: Sequence[str] = ORGS) -> Iterator[LocalConsortium]:
    """A consortium of ``orgs`` in ``directory``, each its own node and NATS server, started and
    ready; every process stopped afterwards."""
    consortium = LocalConsortium.create(directory, orgs)
    try:
        consortium.start_all()
        consortium.wait_ready()
        yield consortium
    finally:
        consortium.stop_all()


def client(org: OrgProcess) -> AccordClient:
    return AccordClient(
        org.url,
        service_cert=str(org.service_crt),
        cert=str(org.admin_cert),
        key=str(org.admin_key),
    )


def http(org: OrgProcess, timeout: float = 30.0) -> httpx.Client:
    return httpx.Client(base_url=org.url, verify=org.ssl_context(), timeout=timeout)


def member_key(org: OrgProcess) -> Signer:
    return Signer.from_skey((org.data / "member.key").read_text().strip())


def admin_options(org: OrgProcess) -> list[str]:
    """The accord command-line options that reach ``org``'s node as its Administrator."""
    return [
        "--url",
        org.url,
        "--cacert",
        str(org.service_crt),
        "--cert",
        str(org.admin_cert),
        "--key",
        str(org.admin_key),
    ]
