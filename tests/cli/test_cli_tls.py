"""A service whose certificate is not pinned is a configuration mistake (exit 2), not an outage."""

from __future__ import annotations

import pytest

from accord.cli.main import EXIT_USAGE, main
from tests.service.conftest import Service


def test_forgetting_cacert_says_how_to_pin_the_service_certificate(
    service: Service, capsys: pytest.CaptureFixture[str]
) -> None:
    d = service.data
    code = main(["get", "1.1", "--url", service.url, "--cert", str(d / "admin.crt"),
                 "--key", str(d / "admin.key")])  # fmt: skip
    _, err = capsys.readouterr()
    assert code == EXIT_USAGE, err
    assert "pin the service certificate with --cacert" in err and err.count("\n") == 1
