"""``accord users`` end to end against a real ``accord serve`` (tests/cli/conftest.py)."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from cryptography import x509

from accord.cli.main import EXIT_REFUSED, main
from accord.identity import fingerprint, make_user_identity, write_public
from tests.cli.test_cli_batch_service import tls
from tests.service.conftest import Service


def test_adding_an_expired_certificate_warns(
    service: Service, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    long_ago = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
    expired = make_user_identity("expired user", days=30, now=long_ago)
    path = tmp_path / "expired.crt"
    write_public(path, expired.cert_pem())
    code = main(["users", "add", "--cert-file", str(path), "--role", "Reader", *tls(service)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.startswith(fingerprint(expired.cert))
    assert "accord: warning: the certificate of this user expired on 2020-01-31" in err

    fresh = make_user_identity("fresh user")
    write_public(path, fresh.cert_pem())
    code = main(["users", "add", "--cert-file", str(path), "--role", "Reader", *tls(service)])
    out, err = capsys.readouterr()
    assert code == 0 and "warning" not in err


def test_the_last_administrator_cannot_step_down(
    service: Service, capsys: pytest.CaptureFixture[str]
) -> None:
    admin_cert = x509.load_pem_x509_certificate((service.data / "admin.crt").read_bytes())
    admin = fingerprint(admin_cert)
    code = main(["users", "add", admin, "--role", "Reader", *tls(service)])
    _, err = capsys.readouterr()
    assert code == EXIT_REFUSED and "Administrator" in err, err
    code = main(["users", "list", *tls(service)])
    out, _ = capsys.readouterr()
    assert code == 0 and f"{admin}\tAdministrator" in out
