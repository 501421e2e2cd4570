"""Entries over HTTP against a real `accord serve`: batch appends (atomic, ordered, validated as a
whole) and request bodies bounded while they are read, chunked or not."""

from __future__ import annotations

import json
import re
import ssl
import time
from pathlib import Path

import pytest

from accord.datadir import init_data_dir
from tests.service.conftest import (
    Service,
    raw_exchange,
    start_service,
    stop_service,
    tls_socket,
)

BATCH = "/app/transactions/batch?api-version=2022-05-13"


def _post(service: Service, path: str, body: object) -> tuple[int, dict]:
    status, payload = service.raw("POST", path, body=json.dumps(body).encode())
    return status, json.loads(payload)


def _next_seqno(service: Service) -> int:
    """Append one entry and return its seqno: shows how many entries exist before it."""
    status, body = _post(service, "/app/transactions", {"contents": "probe"})
    assert status == 200, body
    return int(body["transactionId"].split(".")[1])


def test_batch_append_is_ordered_and_readable(service: Service) -> None:
    first = _next_seqno(service)
    entries = [
        {"contents": "a"},
        {"contents": "b", "collectionId": "orders"},
        {"contents": "c", "collectionId": "orders", "tags": ["x", "y"]},
        {"contents": "ünïcødé", "tags": []},
    ]
    status, body = _post(service, BATCH, {"entries": entries})
    assert status == 200, body
    ids = body["transactionIds"]
    assert ids == [f"1.{first + i}" for i in range(1, 5)]
    client = service.client()
    for txid, sent in zip(ids, entries, strict=True):
        got = client.entry(txid)["entry"]
        assert got["contents"] == sent["contents"]
        assert got["collectionId"] == sent.get("collectionId", "subledger:0")
        assert got["tags"] == ",".join(sent.get("tags", []))
    # The client library's batch call speaks the same format.
    assert client.append_batch([{"contents": "d"}, {"contents": "e", "tags": ["t"]}]) == [
        f"1.{first + 5}",
        f"1.{first + 6}",
    ]


BAD_BATCHES = [
    (
        {"entries": [{"contents": "ok"}] * 3 + [{"contents": "x", "tags": ["bad tag"]}]},
        "entries[3].tags",
    ),
    ({"entries": [{"contents": "ok"}, {"contents": 5}]}, "entries[1].contents"),
    ({"entries": [{"contents": "ok"}, {"contents": "\ud800"}]}, "lone surrogate"),
    ({"entries": [{"contents": "ok"}, {"contents": "x" * 5000}]}, "entries[1].contents"),
    ({"entries": [{"contents": "x", "collectionId": "bad id"}]}, "entries[0].collectionId"),
    ({"entries": [{"contents": "x", "collectionId": 7}]}, "entries[0].collectionId"),
    ({"entries": [{"contents": "x", "tags": "t"}]}, "entries[0].tags"),
    ({"entries": [{"contents": "x", "tags": ["t", "t"]}]}, "entries[0].tags"),
    ({"entries": [{"contents": "x", "tags": ["t"] * 33}]}, "entries[0].tags"),
    ({"entries": [{"contents": "x", "extra": 1}]}, "entries[0]: unknown fields: extra"),
    ({"entries": ["x"]}, "entries[0]"),
    ({"entries": []}, "empty"),
    ({"entries": {}}, "array"),
    ({"entries": [{"contents": "x"}], "more": 1}, "unknown batch fields"),
    ([], "JSON object"),
    ({"entries": [{"contents": "x"}] * 1001}, "at most 1000 entries"),
]


def test_a_bad_entry_refuses_the_whole_batch_and_writes_nothing(service: Service) -> None:
    before = _next_seqno(service)
    for body, expected in BAD_BATCHES:
        status, reply = _post(service, BATCH, body)
        assert status == 400, (expected, reply)
        assert expected in reply["error"]["message"], (expected, reply)
    for raw in (b'{"entries": [{"contents": "a", "contents": "b"}]}', b'{"entries": [NaN]}'):
        status, payload = service.raw("POST", BATCH, body=raw)
        assert status == 400, payload
    assert (
        service.raw("POST", BATCH, body=b'{"entries": [{"contents": "x"}]}', role="reader")[0]
        == 403
    )
    assert service.raw("POST", BATCH, body=b'{"entries": [{"contents": "x"}]}', role=None)[0] == 401
    assert _next_seqno(service) == before + 1  # nothing written in between


def test_batch_limits_come_from_the_configuration(tmp_path: Path) -> None:
    data = init_data_dir(tmp_path / "d", name="batch.test/ledger")
    config = json.loads((data / "config.json").read_text())
    config.update(max_batch_entries=3, max_batch_bytes=2000)
    (data / "config.json").write_text(json.dumps(config))
    proc, url = start_service(data)
    try:
        service = Service(data, url, proc, data / "admin.crt", data / "admin.key")
        status, reply = _post(service, BATCH, {"entries": [{"contents": "x"}] * 4})
        assert status == 400 and "at most 3 entries" in reply["error"]["message"], reply
        status, reply = _post(service, BATCH, {"entries": [{"contents": "x" * 3000}]})
        assert status == 413, reply
        assert reply["error"]["code"] == "PayloadTooLarge"
        assert _post(service, BATCH, {"entries": [{"contents": "x"}] * 3})[0] == 200
    finally:
        stop_service(proc)


def _received(sock: ssl.SSLSocket) -> bytes:
    """Application data the server has sent so far, without blocking (TLS-only records, such as
    TLS 1.3 session tickets, make the socket readable but carry none)."""
    sock.setblocking(False)
    try:
        return sock.recv(65536)
    except (ssl.SSLWantReadError, BlockingIOError):
        return b""
    finally:
        sock.setblocking(True)


def _chunked_upload(service: Service, path: str, total: int) -> tuple[int, int, dict]:
    """Send a ``total``-byte JSON body in chunks; stop once the server answers.

    Returns the status, how many body bytes had been sent when the answer came, and its body.
    """
    with tls_socket(service) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
        )
        piece = b'{"contents": "' + b"x" * (64 * 1024)
        chunk = b"%x\r\n%s\r\n" % (len(piece), piece)
        sent = 0
        answer = b""
        while sent < total and not answer:
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(piece)
            answer = _received(sock)
        deadline = time.monotonic() + 10
        while b"\r\n\r\n" not in answer:
            assert time.monotonic() < deadline, "no answer"
            answer += _received(sock)
            time.sleep(0.01)
        head, _, body = answer.partition(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
        while len(body) < length:
            assert time.monotonic() < deadline, "incomplete answer"
            body += _received(sock)
            time.sleep(0.01)
    return int(head.split()[1]), sent, json.loads(body[:length])


@pytest.mark.parametrize("path", ["/app/transactions", BATCH])
def test_a_chunked_body_over_the_limit_is_refused_while_it_is_read(
    service: Service, path: str
) -> None:
    before = _next_seqno(service)
    # 28 KiB for one entry of this ledger (max_contents 4096), 16 MiB for a batch.
    limit = 4096 * 6 + 4096 if path == "/app/transactions" else 16 * 1024 * 1024
    total = limit + 64 * 1024 * 1024
    status, sent, reply = _chunked_upload(service, path, total)
    assert status == 413, reply
    assert reply["error"]["code"] == "PayloadTooLarge"
    # The answer came before the whole body was sent: the server answered at its limit, not at
    # the end of the body. (How far past the limit the client got depends on socket buffers and
    # on how busy the machine is, so only "well before the end" is asserted.)
    assert sent < limit + 48 * 1024 * 1024, sent
    assert _next_seqno(service) == before + 1


def test_a_declared_length_over_the_limit_is_refused_before_reading(service: Service) -> None:
    status, _, body = raw_exchange(
        service,
        b"POST /app/transactions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 20000000\r\n\r\n{",
    )
    assert status == 413
    assert json.loads(body)["error"]["code"] == "PayloadTooLarge"


def test_collections_named_accord_are_reserved_for_accord_itself(service: Service) -> None:
    """No user writes accord's own records (documents, governance, evidence) through the API."""
    before = _next_seqno(service)
    for collection in ("accord.documents", "accord.evidence", "accord.anything"):
        status, reply = _post(
            service, f"/app/transactions?collectionId={collection}", {"contents": "forged"}
        )
        assert status == 403 and "reserved" in reply["error"]["message"], reply
        batch = {"entries": [{"contents": "ok"}, {"contents": "x", "collectionId": collection}]}
        status, reply = _post(service, BATCH, batch)
        assert status == 403 and "entries[1].collectionId" in reply["error"]["message"], reply
    assert _next_seqno(service) == before + 1  # nothing written in between
