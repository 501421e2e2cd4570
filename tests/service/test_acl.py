"""Users over HTTP against a real `accord serve`: the last Administrator cannot go (409), user ids
are checked (certificate fingerprint or token subject), expired certificates are warned about."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest
from cryptography import x509

from accord.identity import fingerprint, make_user_identity
from accord.service.users import UserStore
from tests.service.conftest import Service, raw_exchange

MERGE_PATCH = "application/merge-patch+json"


def _admin_id(service: Service) -> str:
    cert = x509.load_pem_x509_certificate((service.data / "admin.crt").read_bytes())
    return fingerprint(cert)


def _patch(service: Service, user_id: str, body: object) -> tuple[int, dict]:
    status, payload = service.raw(
        "PATCH", f"/app/users/{user_id}", body=json.dumps(body).encode(), content_type=MERGE_PATCH
    )
    return status, json.loads(payload) if payload else {}


def _users_file(service: Service) -> bytes:
    return (service.data / "users.json").read_bytes()


def test_the_last_administrator_cannot_demote_or_delete_themself(service: Service) -> None:
    admin = _admin_id(service)
    before = _users_file(service)
    for role in ("Reader", "Contributor"):
        status, body = _patch(service, admin, {"assignedRole": role})
        assert status == 409, body
        assert body["error"]["code"] == "Conflict"
        assert "last Administrator" in body["error"]["message"]
    status, payload = service.raw("DELETE", f"/app/users/{admin}")
    assert status == 409, payload
    assert "last Administrator" in json.loads(payload)["error"]["message"]
    assert _users_file(service) == before
    # Still an administrator: can manage users.
    assert service.raw("GET", "/app/users")[0] == 200


def test_an_administrator_may_step_down_while_another_remains(service: Service) -> None:
    admin = _admin_id(service)
    status, body = _patch(
        service, "0b5c2a9e-7d41-4c8a-9f3e-2a6b1c0d9e87", {"assignedRole": "Administrator"}
    )
    assert status == 200, body
    status, body = _patch(service, admin, {"assignedRole": "Contributor"})
    assert status == 200, body
    assert body == {"userId": admin, "assignedRole": "Contributor"}
    # No longer an administrator.
    assert service.raw("GET", "/app/users")[0] == 403


@pytest.mark.parametrize(
    "bad_id",
    [
        "AB:" * 31 + "C",  # a fingerprint with a digit missing
        "ab" * 31 + "c",  # the same without colons
        "ZZ:" + "21:" * 30 + "21",  # not hex
        "<sha256 fingerprint of a user's cert>",
        "a" * 129,
        "has space",
        "12:34",
        "ab" * 20,  # 40 hex digits: a SHA-1 fingerprint
    ],
)
def test_malformed_user_ids_are_refused_naming_the_rule(service: Service, bad_id: str) -> None:
    import urllib.parse

    before = _users_file(service)
    quoted = urllib.parse.quote(bad_id, safe="")
    status, body = _patch(service, quoted, {"assignedRole": "Reader"})
    assert status == 400, body
    message = body["error"]["message"]
    assert "SHA-256 fingerprint" in message and "64 hex digits" in message, message
    assert _users_file(service) == before
    for method in ("GET", "DELETE"):
        status, payload = service.raw(method, f"/app/users/{quoted}")
        assert status == 400, (method, payload)


def test_user_ids_are_classified_explicitly(service: Service) -> None:
    identity = make_user_identity("someone")
    fp = fingerprint(x509.load_pem_x509_certificate(identity.cert_pem()))
    plain = fp.replace(":", "").lower()
    status, body = _patch(service, plain, {"assignedRole": "Reader"})
    assert status == 200, body
    assert body["userId"] == fp  # canonical form
    guid = "0b5c2a9e-7d41-4c8a-9f3e-2a6b1c0d9e87"
    assert _patch(service, guid, {"assignedRole": "Reader"})[0] == 200
    assert _patch(service, "auth0|5f7c8ec7c33c6c004bbafe82", {"assignedRole": "Reader"})[0] == 200
    stored = json.loads(_users_file(service))["users"]
    assert stored[fp]["kind"] == "cert"
    assert stored[guid]["kind"] == "token"


def test_a_new_user_needs_assigned_role(service: Service) -> None:
    status, body = _patch(service, "new-user", {})
    assert status == 400
    assert body["error"]["message"] == (
        "assignedRole is required for a new user; one of Administrator, Contributor, Reader"
    )
    status, body = _patch(service, "new-user", {"userId": "new-user"})
    assert status == 400 and "assignedRole is required" in body["error"]["message"]


def test_an_expired_certificate_user_is_accepted_with_a_warning(
    service: Service, tmp_path: Path
) -> None:
    long_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=30)
    expired = make_user_identity("expired user", days=10, now=long_ago)
    user = UserStore(service.data / "users.json").add_certificate(
        expired.cert_pem().decode(), "Reader"
    )
    status, headers, body = raw_exchange(
        service,
        b"PATCH /app/users/" + user.user_id.encode() + b" HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\nContent-Length: 30\r\nConnection: close\r\n\r\n"
        + b'{"assignedRole":"Contributor"}',
    )
    assert status == 200, body
    reply = json.loads(body)
    assert reply["assignedRole"] == "Contributor"
    assert "expired" in reply["warning"]
    assert headers["x-accord-warning"] == reply["warning"]
    # A valid certificate gets no warning.
    status, reply = _patch(service, _reader_id(service), {"assignedRole": "Reader"})
    assert status == 200 and "warning" not in reply


def _reader_id(service: Service) -> str:
    return fingerprint(x509.load_pem_x509_certificate(service.reader_cert.read_bytes()))
