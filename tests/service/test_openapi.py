"""The OpenAPI document: it names exactly the routes of the router, is a valid OpenAPI 3.0
document, and a real `accord serve` conforms to it under schemathesis fuzzing (no 5xx, every
status code, content type, header and body as documented)."""

from __future__ import annotations

import json
import re
import ssl
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.definitions import OPENAPI_30

from accord.datadir import init_data_dir, load_governance
from accord.identity import make_user_identity, write_private
from accord.log.ledger import Ledger
from accord.service.app import ServiceState, build_app
from accord.service.openapi import OPENAPI
from accord.service.users import UserStore
from tests.service.conftest import Service, checkpoint_size, start_service, stop_service

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def _template(path: str) -> str:
    """A path with every parameter name erased: '/a/{txid}' and '/a/{transactionId}' agree."""
    return re.sub(r"\{[^}]+\}", "{}", path)


def _documented() -> set[tuple[str, str]]:
    return {
        (method.upper(), _template(path))
        for path, item in OPENAPI["paths"].items()
        for method in item
        if method in METHODS
    }


def test_document_names_exactly_the_routes_of_the_router(tmp_path: Path) -> None:
    data = init_data_dir(tmp_path / "data", name="openapi.test/ledger")
    ledger = Ledger.create_or_open(data.storage_location(), data.signer())
    try:
        state = ServiceState(ledger, UserStore(data / "users.json"), False, load_governance(data))
        app = build_app(state)
        routed = {
            (route.method, _template(route.resource.canonical))
            for route in app.router.routes()
            # aiohttp answers HEAD on every GET route; the document says so once, in its info.
            if route.method != "HEAD" and route.resource is not None
        }
    finally:
        ledger.close()
    documented = _documented()
    assert routed - documented == set(), "routes missing from the OpenAPI document"
    assert documented - routed == set(), "documented operations that are not routed"


def test_document_is_valid_openapi_3_0() -> None:
    errors = [
        f"{'/'.join(map(str, e.instance_path))}: {e.message}"
        for e in jsonschema_rs.Draft4Validator(OPENAPI_30).iter_errors(OPENAPI)
    ]
    assert errors == []
    # The meta-schema does not follow references; every one must name a component.
    refs = re.findall(r'"\$ref": "#/components/(\w+)/(\w+)"', json.dumps(OPENAPI))
    assert refs
    for kind, name in refs:
        assert name in OPENAPI["components"][kind], (kind, name)
    operation_ids = [
        op["operationId"]
        for item in OPENAPI["paths"].values()
        for method, op in item.items()
        if method in METHODS
    ]
    assert len(operation_ids) == len(set(operation_ids))


# --- fuzzing a real server ----------------------------------------------------------------------
# Bounded for a 2-core machine: the coverage phase sends each operation its boundary and invalid
# values (deterministic); fuzzing adds this many random cases per operation.
FUZZ_EXAMPLES = 15
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

# schemathesis.pytest.from_fixture would fetch the served document, but its lazy runner writes
# `Node._nodeid`, which pytest 9.2 no longer has; so the module's document is fuzzed, and
# test_served_document_is_the_module_document shows the server serves exactly that.
api = schemathesis.openapi.from_dict(
    OPENAPI,
    config=schemathesis.Config.from_dict(
        {
            "seed": 20240126,
            "generation": {
                "max-examples": FUZZ_EXAMPLES,
                # Random bearer tokens would make almost every request a 401; authenticate by
                # client certificate instead (401s are covered by test_service.py).
                "with-security-parameters": False,
            },
            "phases": {"stateful": {"enabled": False}},
        }
    ),
)


@pytest.fixture(scope="module")
def fuzzed_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """One `accord serve` for every fuzzed operation (as conftest's `service`, module-scoped)."""
    tmp = tmp_path_factory.mktemp("openapi")
    data = init_data_dir(tmp / "data", name="service.test/ledger", max_contents=4096)
    reader = make_user_identity("a reader")
    reader_cert, reader_key = tmp / "reader.crt", tmp / "reader.key"
    reader_cert.write_bytes(reader.cert_pem())
    write_private(reader_key, reader.key_pem())
    UserStore(data / "users.json").add_certificate(reader.cert_pem().decode(), "Reader")
    proc, url = start_service(data)
    service = Service(data, url, proc, reader_cert, reader_key)
    # A few entries, so that reads of existing transactions and proofs over a non-empty tree
    # happen, not only 404s.
    client = service.client()
    for i in range(3):
        client.append(f"seed entry {i}", "orders")
    checkpoint_size(client, data, 3)  # tiles and proofs read what a checkpoint covers
    yield service
    if proc.poll() is None:
        stop_service(proc)


@pytest.fixture(scope="module")
def tls_session(fuzzed_service: Service) -> Iterator[requests.Session]:
    """One keep-alive session for all cases."""
    session = requests.Session()
    yield session
    session.close()


def test_served_document_is_the_module_document(service: Service) -> None:
    # No client certificate: the document is public.
    ctx = ssl.create_default_context(cafile=str(service.data / "service.crt"))
    with urllib.request.urlopen(service.url + "/app/openapi.json", context=ctx) as resp:
        assert resp.status == 200
        assert json.loads(resp.read()) == OPENAPI


def _call(service: Service, session: requests.Session, case: schemathesis.Case[Any]) -> int:
    """Send one case as the admin, check it against the document, return its status."""
    data = service.data
    response = case.call_and_validate(
        base_url=service.url,
        session=session,
        checks=CHECKS,
        # The service certificate pinned; the admin's client certificate.
        verify=str(data / "service.crt"),
        cert=(str(data / "admin.crt"), str(data / "admin.key")),
        timeout=30,
    )
    return response.status_code


# Successful reads that random inputs rarely hit (they need ids and sizes of the seeded ledger).
KNOWN_GOOD = [
    ("/tile/{path}", {"path_parameters": {"path": "0/000.p/3"}}),
    ("/tile/{path}", {"path_parameters": {"path": "entries/000.p/3"}}),
    ("/proofs/inclusion", {"query": {"index": 1, "size": 3}}),
    ("/proofs/consistency", {"query": {"from": 1, "to": 3}}),
    ("/receipts/{transactionId}", {"path_parameters": {"transactionId": "1.1"}}),
    ("/app/transactions/{transactionId}", {"path_parameters": {"transactionId": "1.2"}}),
    ("/app/transactions/{transactionId}/status", {"path_parameters": {"transactionId": "1.2"}}),
    ("/app/transactions/{transactionId}/receipt", {"path_parameters": {"transactionId": "1.3"}}),
    ("/app/transactions/current", {"query": {"collectionId": "orders"}}),
]


@pytest.mark.parametrize(("path", "case_data"), KNOWN_GOOD, ids=[p for p, _ in KNOWN_GOOD])
def test_successful_reads_conform(
    path: str,
    case_data: dict[str, Any],
    fuzzed_service: Service,
    tls_session: requests.Session,
) -> None:
    case = api[path]["GET"].Case(**case_data)
    assert _call(fuzzed_service, tls_session, case) == 200


def test_batch_append_conforms(fuzzed_service: Service, tls_session: requests.Session) -> None:
    body = {"entries": [{"contents": "a"}, {"contents": "b", "collectionId": "c", "tags": ["t"]}]}
    case = api["/app/transactions/batch"]["POST"].Case(body=body)
    assert _call(fuzzed_service, tls_session, case) == 200


MALFORMED = [
    pytest.param(
        "GET",
        "/proofs/inclusion",
        {"query": {"index": "\u00b2", "size": "1"}},
        id="inclusion-superscript-digit",
    ),
    pytest.param(
        "GET",
        "/proofs/consistency",
        {"query": {"from": "1", "to": "\u00b2"}},
        id="consistency-superscript-digit",
    ),
    pytest.param(
        "GET",
        "/proofs/inclusion",
        {"query": {"index": "-1", "size": "1"}},
        id="inclusion-negative-index",
    ),
    pytest.param(
        "GET", "/tile/{path}", {"path_parameters": {"path": "0/7"}}, id="tile-non-canonical"
    ),
    pytest.param(
        "GET",
        "/app/transactions/{transactionId}",
        {"path_parameters": {"transactionId": "1.1\n"}},
        id="transaction-id-trailing-newline",
    ),
    pytest.param(
        "POST",
        "/app/transactions",
        {"query": {"collectionId": "abc\n"}, "body": {"contents": "x"}},
        id="collection-id-trailing-newline",
    ),
    pytest.param(
        "POST",
        "/app/transactions",
        {"query": {"tags": "t\n"}, "body": {"contents": "x"}},
        id="tag-trailing-newline",
    ),
    pytest.param(
        "POST", "/app/transactions", {"body": {"contents": "\ud800"}}, id="lone-surrogate"
    ),
    pytest.param(
        "PATCH",
        "/app/users/{userId}",
        {"path_parameters": {"userId": "new-user"}, "body": {}},
        id="new-user-without-role",
    ),
    pytest.param(
        "PATCH",
        "/app/users/{userId}",
        {"path_parameters": {"userId": "AB:" * 31 + "C"}, "body": {"assignedRole": "Reader"}},
        id="fingerprint-missing-a-digit",
    ),
    pytest.param(
        "POST",
        "/app/transactions/batch",
        {"body": {"entries": [{"contents": "x"}, {"contents": "y", "tags": ["t\n"]}]}},
        id="batch-tag-trailing-newline",
    ),
    pytest.param(
        "PATCH",
        "/app/users/{userId}",
        {"path_parameters": {"userId": "bad\nid"}, "body": {"assignedRole": "Reader"}},
        id="user-id-with-control-character",
    ),
]


@pytest.mark.parametrize(("method", "path", "case_data"), MALFORMED)
def test_malformed_inputs_get_400(
    method: str,
    path: str,
    case_data: dict[str, Any],
    fuzzed_service: Service,
    tls_session: requests.Session,
) -> None:
    """Inputs the document rules out, which the fuzzer is unlikely to build, get a 400."""
    case = api[path][method].Case(**case_data)
    assert _call(fuzzed_service, tls_session, case) == 400


@api.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_service_conforms_to_its_openapi_document(
    case: schemathesis.Case[Any], fuzzed_service: Service, tls_session: requests.Session
) -> None:
    status = _call(fuzzed_service, tls_session, case)
    assert status < 500
