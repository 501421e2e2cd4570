"""A real consortium for tests: each organization its own `accord serve` and NATS server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from accord.client.client import AccordClient
from accord.consortium.demo import LocalConsortium, OrgProcess

ORGS = ("supplier", "manufacturer", "retailer")


def client(org: OrgProcess) -> AccordClient:
    return AccordClient(
        org.url,
        service_cert=str(org.service_crt),
        cert=str(org.admin_cert),
        key=str(org.admin_key),
    )


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalConsortium]:
    consortium = LocalConsortium.create(tmp_path_factory.mktemp("consortium") / "c", ORGS)
    try:
        consortium.start_all()
        consortium.wait_ready()
        yield consortium
    finally:
        consortium.stop_all()


@pytest.fixture
def fresh_network(tmp_path: Path) -> Iterator[LocalConsortium]:
    """A consortium of its own, for tests that crash or pause organizations."""
    consortium = LocalConsortium.create(tmp_path / "c", ORGS)
    try:
        consortium.start_all()
        consortium.wait_ready()
        yield consortium
    finally:
        consortium.stop_all()
