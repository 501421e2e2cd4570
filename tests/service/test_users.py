"""The pure user rules of accord.service.users: id classification and the last Administrator."""

from __future__ import annotations

import datetime
import json
import time
from pathlib import Path

import pytest

from accord.errors import ConfigurationError, Conflict, InvalidRequest
from accord.identity import fingerprint, make_user_identity
from accord.service.users import (
    RELOAD_INTERVAL,
    User,
    UserStore,
    check_an_administrator_remains,
    expired_certificate_warning,
    parse_user_id,
)
from tests.service.conftest import Service, stop_service

FP = ":".join(["AB"] * 32)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (FP, ("cert", FP)),
        (FP.replace(":", "").lower(), ("cert", FP)),
        ("sha256 Fingerprint=" + FP, ("cert", FP)),
        ("0b5c2a9e-7d41-4c8a-9f3e-2a6b1c0d9e87", ("token", "0b5c2a9e-7d41-4c8a-9f3e-2a6b1c0d9e87")),
        ("ab" * 16, ("token", "ab" * 16)),  # a GUID without hyphens
        ("alice@example.com", ("token", "alice@example.com")),
        ("local", ("token", "local")),
    ],
)
def test_parse_user_id_accepts(text: str, expected: tuple[str, str]) -> None:
    assert parse_user_id(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        FP[:-1],
        FP.replace(":", "")[:-1],
        "ZZ" + FP[2:],
        "ab" * 20,
        "ab" * 33,
        "a:b",
        "",
        "a" * 129,
        "tab\there",
        "<sha256 fingerprint of a user's cert>",
        "é",
        5,
        None,
    ],
)
def test_parse_user_id_refuses(text: object) -> None:
    with pytest.raises(InvalidRequest, match="64 hex digits"):
        parse_user_id(text)


def _users(*roles: str) -> dict[str, User]:
    return {f"u{i}": User(f"u{i}", role, "token") for i, role in enumerate(roles)}


def test_the_last_administrator_must_remain() -> None:
    users = _users("Administrator", "Reader")
    for replacement in (None, User("u0", "Reader", "token"), User("u0", "Contributor", "token")):
        with pytest.raises(Conflict, match="last Administrator"):
            check_an_administrator_remains(users, "u0", replacement)
    check_an_administrator_remains(users, "u0", User("u0", "Administrator", "token"))
    check_an_administrator_remains(users, "u1", None)
    check_an_administrator_remains(_users("Administrator", "Administrator"), "u0", None)
    # Adding a user to a store without administrators (being recovered by hand) is not refused.
    check_an_administrator_remains(_users("Reader"), "u1", User("u1", "Reader", "token"))


def test_the_store_enforces_the_rule_and_writes_nothing(tmp_path: Path) -> None:
    store = UserStore(tmp_path / "users.json")
    store.put(User("a", "Administrator", "token"))
    before = (tmp_path / "users.json").read_bytes()
    with pytest.raises(Conflict):
        store.put(User("a", "Reader", "token"))
    with pytest.raises(Conflict):
        store.delete("a")
    assert (tmp_path / "users.json").read_bytes() == before
    store.put(User("b", "Administrator", "token"))
    store.delete("a")  # "b" remains


def test_expired_certificate_warning() -> None:
    now = datetime.datetime.now(datetime.UTC)
    valid = make_user_identity("valid").cert_pem().decode()
    assert expired_certificate_warning(valid, now) is None
    assert expired_certificate_warning(None, now) is None
    old = make_user_identity("old", days=1, now=now - datetime.timedelta(days=5))
    assert "expired" in (expired_certificate_warning(old.cert_pem().decode(), now) or "")
    future = make_user_identity("future", days=10, now=now + datetime.timedelta(days=5))
    assert "not valid before" in (
        expired_certificate_warning(future.cert_pem().decode(), now) or ""
    )


def test_a_write_never_undoes_an_edit_by_another_process(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    service_store = UserStore(path)
    service_store.put(User("admin", "Administrator", "token"))
    identity = make_user_identity("added by hand")
    # Another process (an operator's tool) adds a certificate user within RELOAD_INTERVAL.
    added = UserStore(path).add_certificate(identity.cert_pem().decode(), "Reader")
    service_store.assign_role("someone", "token", "Reader")
    reread = {u.user_id: u for u in UserStore(path).all()}
    assert reread[added.user_id].cert_pem == identity.cert_pem().decode()
    # Changing the role keeps the certificate, and a new user needs a role.
    assert service_store.assign_role(added.user_id, "cert", "Contributor").cert_pem
    with pytest.raises(InvalidRequest, match="assignedRole is required for a new user"):
        service_store.assign_role("nobody", "token", None)


def test_hand_edited_users_file_is_canonicalized(tmp_path: Path) -> None:
    # An operator edits users.json by hand: another spelling of a fingerprint is the same user, so
    # it cannot count as a second Administrator that nobody can authenticate as.
    admin = make_user_identity("admin")
    fp = fingerprint(admin.cert)
    path = tmp_path / "users.json"
    path.write_text(json.dumps({"users": {fp.replace(":", "").lower(): {"role": "Administrator"}}}))
    store = UserStore(path)
    assert [u.user_id for u in store.all()] == [fp]
    assert store.find(fp) is not None and store.find(fp).kind == "cert"  # type: ignore[union-attr]
    with pytest.raises(Conflict):
        store.assign_role(fp, "cert", "Reader")


def test_users_file_listing_one_user_twice_is_refused(tmp_path: Path) -> None:
    fp = fingerprint(make_user_identity("admin").cert)
    path = tmp_path / "users.json"
    both = {fp: {"role": "Administrator"}, fp.replace(":", ""): {"role": "Reader"}}
    path.write_text(json.dumps({"users": both}))
    with pytest.raises(ConfigurationError, match="listed twice"):
        UserStore(path)


@pytest.mark.parametrize("text", [".", "..", "-", "@|."])
def test_token_ids_need_a_letter_or_digit(text: str) -> None:
    with pytest.raises(InvalidRequest, match="at least one a letter or digit"):
        parse_user_id(text)


def test_a_broken_users_file_is_503_and_one_log_line(service: Service) -> None:
    (service.data / "users.json").write_text('{"users": {"not a fingerprint": {"role": "x"}}}')
    time.sleep(RELOAD_INTERVAL + 0.2)
    status, body = service.raw("GET", "/app/users")
    assert status == 503 and json.loads(body)["error"]["code"] == "ServiceMisconfigured"
    err = stop_service(service.proc)
    assert "Traceback" not in err and err.count("configuration error on GET /app/users") == 1, err
    assert "users.json" in err
