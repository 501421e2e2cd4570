"""A real consortium for tests: each organization its own `accord serve` and NATS server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from accord.consortium.demo import LocalConsortium

from .helpers import ORGS, client, running_consortium

__all__ = ["ORGS", "client"]


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalConsortium]:
    with running_consortium(tmp_path_factory.mktemp("consortium") / "c") as consortium:
        yield consortium


@pytest.fixture
def fresh_network(tmp_path: Path) -> Iterator[LocalConsortium]:
    """A consortium of its own, for tests that crash or pause organizations."""
    with running_consortium(tmp_path / "c") as consortium:
        yield consortium
