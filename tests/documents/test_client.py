"""accord.documents.client against a real `accord serve` (a subprocess, real TLS, real SigV4).

The helpers here (:class:`DocumentServer`, :func:`serve_documents`) are shared with the CLI's
end-to-end tests (tests/cli/test_documents_cli.py).
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from accord.cli.main import main as accord_main
from accord.core.canonical import canonicalize
from accord.datadir import DataDir, init_data_dir, load_verifier
from accord.documents.client import (
    DocumentsClient,
    check_document_file,
    verify_document_receipt,
)
from accord.errors import (
    AuthError,
    ConfigurationError,
    DocumentLocked,
    InvalidRequest,
    MalformedInput,
    NotFound,
    StorageError,
    VerificationError,
)
from accord.identity import make_user_identity, write_private
from accord.service.users import UserStore

SRC = str(Path(__file__).parents[2] / "src")
MiB = 1024 * 1024
_S3_BANNER = re.compile(r"serving documents \(S3 API\) on (https://127\.0\.0\.1:\d+)")


@dataclass
class DocumentServer:
    """`accord serve --port 0` on a fresh data directory, with an access key per role."""

    data: DataDir
    proc: subprocess.Popen[bytes]
    endpoint: str
    keys: dict[str, dict[str, str]]

    @property
    def cacert(self) -> str:
        return str(self.data / "service.crt")

    def client(self, role: str = "admin", **kwargs: Any) -> DocumentsClient:
        key = self.keys[role]
        return DocumentsClient(
            self.endpoint,
            key["access_key_id"],
            key["secret_access_key"],
            cacert=self.cacert,
            **kwargs,
        )

    def env(self, role: str = "admin") -> dict[str, str]:
        """The environment the CLI reads its endpoint, key and CA bundle from."""
        return dict(
            os.environ,
            PYTHONPATH=SRC,
            ACCORD_S3_URL=self.endpoint,
            AWS_ACCESS_KEY_ID=self.keys[role]["access_key_id"],
            AWS_SECRET_ACCESS_KEY=self.keys[role]["secret_access_key"],
            AWS_CA_BUNDLE=self.cacert,
        )

    def stop(self) -> None:
        """SIGTERM; the server must stop cleanly (exit code 0)."""
        self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=30)
        assert self.proc.returncode == 0, err.decode()


def _access_key(data: DataDir, user: str) -> dict[str, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = accord_main(
            ["documents", "keys", "create", "--data", str(data.path), "--user", user, "--json"]
        )
    assert code == 0
    key: dict[str, str] = json.loads(out.getvalue())
    return key


@contextlib.contextmanager
def serve_documents(root: Path) -> Iterator[DocumentServer]:
    """A served data directory with an Administrator and a Reader access key."""
    data = init_data_dir(root / "data", name="client.test/ledger")
    reader = make_user_identity("a reader")
    (root / "reader.crt").write_bytes(reader.cert_pem())
    write_private(root / "reader.key", reader.key_pem())
    UserStore(data / "users.json").add_certificate(reader.cert_pem().decode(), "Reader")
    keys = {
        "admin": _access_key(data, str(data / "admin.crt")),
        "reader": _access_key(data, str(root / "reader.crt")),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "accord.cli.main", "serve", "--data", str(data.path), "--port", "0"],
        stderr=subprocess.PIPE,
        env=dict(os.environ, PYTHONPATH=SRC),
    )
    assert proc.stderr is not None
    banner = proc.stderr.readline().decode() + proc.stderr.readline().decode()
    found = _S3_BANNER.search(banner)
    if found is None:
        proc.kill()
        raise AssertionError(f"accord serve did not start: {banner}{proc.communicate()[1]!r}")
    server = DocumentServer(data, proc, found.group(1), keys)
    try:
        yield server
        server.stop()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DocumentServer]:
    with serve_documents(tmp_path_factory.mktemp("documents")) as s:
        yield s


@pytest.fixture(scope="module")
def docs(server: DocumentServer) -> Iterator[DocumentsClient]:
    with server.client() as client:
        yield client


_buckets = iter(range(1, 10_000))


def bucket(docs: DocumentsClient, *, object_lock: bool = True) -> str:
    name = f"c-{os.getpid()}-{next(_buckets)}"
    docs.create_container(name, object_lock=object_lock)
    return name


def random_file(path: Path, size: int) -> bytes:
    data = os.urandom(size)
    path.write_bytes(data)
    return data


class _Recording(DocumentsClient):
    """A client that notes the method and target of every request it sends."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent: list[tuple[str, str]] = []

    def _send(self, method: str, path: str, headers: dict[str, str], body: Any) -> Any:
        self.sent.append((method, path))
        return super()._send(method, path, headers, body)


def recording(server: DocumentServer, **kwargs: Any) -> _Recording:
    key = server.keys["admin"]
    return _Recording(
        server.endpoint,
        key["access_key_id"],
        key["secret_access_key"],
        cacert=server.cacert,
        **kwargs,
    )


class _Pipe(io.RawIOBase):
    """A non-seekable stream (like stdin from a pipe) returning short reads."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, buffer: Any) -> int:
        chunk = self._data.read(min(len(buffer), 100_000))
        buffer[: len(chunk)] = chunk
        return len(chunk)


# --- round trips ------------------------------------------------------------------------------
def test_put_and_get_stream_a_20_mib_file(
    server: DocumentServer, docs: DocumentsClient, tmp_path: Path
) -> None:
    name = bucket(docs)
    data = random_file(tmp_path / "big.bin", 20 * MiB)
    seen: list[tuple[int, int | None]] = []
    tracemalloc.start()
    try:
        stored = docs.put(
            name,
            "lot 17/big+file.bin",
            tmp_path / "big.bin",
            content_type="application/pdf",
            metadata={"Lot": "17"},
            progress=lambda done, total: seen.append((done, total)),
        )
        _, put_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        info = docs.get(name, "lot 17/big+file.bin", tmp_path / "copy.bin")
        _, get_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Streamed: never near the file's size in memory, progress reported as it went.
    assert put_peak < 6 * MiB, put_peak
    assert get_peak < 6 * MiB, get_peak
    assert len(seen) >= 20 and seen[-1] == (20 * MiB, 20 * MiB)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    sha256 = hashlib.sha256(data).hexdigest()
    assert (stored.sha256, stored.size) == (sha256, 20 * MiB)
    assert re.fullmatch(r"\d+\.\d+", stored.version_id)
    assert (tmp_path / "copy.bin").read_bytes() == data
    assert (info.version_id, info.sha256, info.size) == (stored.version_id, sha256, 20 * MiB)
    assert info.content_type == "application/pdf"
    assert info.metadata == {"lot": "17"}
    assert not list(tmp_path.glob(".copy.bin.*"))  # no temporary file left behind
    head = docs.head(name, "lot 17/big+file.bin")
    assert (head.sha256, head.size, head.version_id) == (sha256, 20 * MiB, stored.version_id)


def test_put_from_file_objects_and_get_into_one(docs: DocumentsClient) -> None:
    name = bucket(docs)
    stored = docs.put(name, "empty", io.BytesIO(b""))
    assert (stored.size, stored.sha256) == (0, hashlib.sha256(b"").hexdigest())
    source = io.BytesIO(b"skip:the payload")
    source.seek(5)  # read from the position, as a file object is handed over
    stored = docs.put(name, "small", source)
    out = io.BytesIO()
    docs.get(name, "small", out, version_id=stored.version_id)
    assert out.getvalue() == b"the payload"
    out = io.BytesIO()
    docs.get(name, "empty", out)
    assert out.getvalue() == b""


def test_multipart_upload_of_a_file_and_of_a_pipe(server: DocumentServer, tmp_path: Path) -> None:
    data = random_file(tmp_path / "f.bin", 2_500_001)
    with recording(server, multipart_threshold=1_000_000, part_size=700_000) as client:
        name = bucket(client)
        client.sent.clear()
        stored = client.put(name, "parts", tmp_path / "f.bin")
        methods = [(m, re.sub(r"uploadId=[0-9a-f]+", "uploadId=U", p)) for m, p in client.sent]
        assert methods == [
            ("POST", f"/{name}/parts?uploads"),
            ("PUT", f"/{name}/parts?partNumber=1&uploadId=U"),
            ("PUT", f"/{name}/parts?partNumber=2&uploadId=U"),
            ("PUT", f"/{name}/parts?partNumber=3&uploadId=U"),
            ("PUT", f"/{name}/parts?partNumber=4&uploadId=U"),
            ("POST", f"/{name}/parts?uploadId=U"),
        ]
        assert (stored.size, stored.sha256) == (len(data), hashlib.sha256(data).hexdigest())
        out = io.BytesIO()
        assert client.get(name, "parts", out).sha256 == stored.sha256
        assert out.getvalue() == data

        # A pipe (no size known up front): one part in memory at a time, multipart past one.
        client.sent.clear()
        piped = client.put(name, "piped", io.BufferedReader(_Pipe(data)))
        assert sum(1 for m, p in client.sent if m == "PUT" and "partNumber=" in p) == 4
        assert (piped.size, piped.sha256) == (stored.size, stored.sha256)
        client.sent.clear()
        short = client.put(name, "short", io.BufferedReader(_Pipe(b"x" * 1000)))
        assert [m for m, _ in client.sent] == ["PUT"]
        assert short.sha256 == hashlib.sha256(b"x" * 1000).hexdigest()

        # Under the threshold: a single PUT.
        client.sent.clear()
        client.put(name, "single", io.BytesIO(data[:999_999]))
        assert [m for m, _ in client.sent] == ["PUT"]


def test_a_download_that_does_not_match_the_stored_sha256_is_refused(
    server: DocumentServer, docs: DocumentsClient, tmp_path: Path
) -> None:
    name = bucket(docs)
    data = b"the certificate of analysis, lot 17\n" * 1000
    stored = docs.put(name, "coa.txt", io.BytesIO(data))
    blob = server.data / "documents" / "blobs" / stored.sha256[:2] / stored.sha256
    original = blob.read_bytes()
    os.chmod(blob, 0o600)
    blob.write_bytes(original[:100] + b"X" + original[101:])
    try:
        with pytest.raises(VerificationError, match="not what was stored"):
            docs.get(name, "coa.txt", tmp_path / "out.txt")
        assert not (tmp_path / "out.txt").exists()
        assert list(tmp_path.iterdir()) == []  # nor a temporary file
    finally:
        blob.write_bytes(original)
    docs.get(name, "coa.txt", tmp_path / "out.txt")  # the connection survived the refusal
    assert (tmp_path / "out.txt").read_bytes() == data


# --- listings -------------------------------------------------------------------------------
def test_list_and_versions_follow_every_page(docs: DocumentsClient) -> None:
    name = bucket(docs)
    first = docs.put(name, "a/one", io.BytesIO(b"1"))
    second = docs.put(name, "a/one", io.BytesIO(b"22"))
    for key in ("a/two", "a/three", "b/four", "a/one-more"):
        docs.put(name, key, io.BytesIO(key.encode()))
    docs.page_size = 2
    try:
        assert [o.key for o in docs.list(name, "a/")] == ["a/one", "a/one-more", "a/three", "a/two"]
        assert [o.size for o in docs.list(name, "a/one")] == [2, 10]
        assert len(list(docs.list(name))) == 5
        versions = list(docs.versions(name, "a/one", exact=True))
        assert [(v.version_id, v.is_latest, v.size) for v in versions] == [
            (second.version_id, True, 2),
            (first.version_id, False, 1),
        ]
        assert len(list(docs.versions(name, "a/one"))) == 3  # the prefix also has a/one-more
        paged = list(docs.versions(name))
    finally:
        docs.page_size = None
    assert paged == list(docs.versions(name))  # one page: the same versions, nothing twice
    assert len(paged) == 6
    assert [c.name for c in docs.list_containers() if c.name == name] == [name]


def test_delete_marker_hides_the_key_and_keeps_its_versions(docs: DocumentsClient) -> None:
    name = bucket(docs, object_lock=False)
    stored = docs.put(name, "k", io.BytesIO(b"kept"))
    marker = docs.delete(name, "k")
    assert marker.delete_marker and marker.version_id != stored.version_id
    with pytest.raises(NotFound, match="NoSuchKey"):
        docs.get(name, "k", io.BytesIO())
    with pytest.raises(NotFound, match="NoSuchKey"):
        docs.head(name, "k")
    out = io.BytesIO()
    docs.get(name, "k", out, version_id=stored.version_id)
    assert out.getvalue() == b"kept"
    assert [v.delete_marker for v in docs.versions(name, "k", exact=True)] == [True, False]
    assert list(docs.list(name)) == []
    gone = docs.delete(name, "k", version_id=stored.version_id)  # no lock: allowed
    assert (gone.version_id, gone.delete_marker) == (stored.version_id, False)
    with pytest.raises(NotFound, match="NoSuchVersion"):
        docs.get(name, "k", io.BytesIO(), version_id=stored.version_id)
    with pytest.raises(NotFound, match="HTTP 404"):  # HEAD answers carry no error document
        docs.head(name, "k", version_id=stored.version_id)


# --- retention and legal holds ----------------------------------------------------------------
def test_governance_retention_and_legal_hold(docs: DocumentsClient) -> None:
    name = bucket(docs)
    until = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)
    stored = docs.put(name, "doc", io.BytesIO(b"governed"), retention=("GOVERNANCE", until))
    v = stored.version_id
    retention = docs.get_retention(name, "doc", version_id=v)
    assert retention is not None and retention.mode == "GOVERNANCE"
    assert abs((retention.until - until).total_seconds()) < 0.01
    assert docs.head(name, "doc").retention == retention

    with pytest.raises(DocumentLocked, match="GOVERNANCE"):
        docs.delete(name, "doc", version_id=v)
    shorter = until - datetime.timedelta(hours=1)
    with pytest.raises(DocumentLocked, match="bypass"):
        docs.set_retention(name, "doc", ("GOVERNANCE", shorter), version_id=v)
    docs.set_retention(name, "doc", ("GOVERNANCE", shorter), version_id=v, bypass_governance=True)
    got = docs.get_retention(name, "doc", version_id=v)
    assert got is not None and got.until < until

    assert docs.get_legal_hold(name, "doc", version_id=v) is False
    docs.set_legal_hold(name, "doc", True, version_id=v)
    assert docs.get_legal_hold(name, "doc") is True
    assert docs.head(name, "doc").legal_hold is True
    with pytest.raises(DocumentLocked, match="legal hold"):
        docs.delete(name, "doc", version_id=v, bypass_governance=True)
    docs.set_legal_hold(name, "doc", False, version_id=v)
    docs.delete(name, "doc", version_id=v, bypass_governance=True)
    assert list(docs.versions(name, "doc", exact=True)) == []


def test_compliance_retention_is_only_extended(docs: DocumentsClient) -> None:
    name = bucket(docs)
    until = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=2)
    v = docs.put(name, "doc", io.BytesIO(b"kept"), retention=("COMPLIANCE", until)).version_id
    for change in (("COMPLIANCE", until - datetime.timedelta(days=1)), ("GOVERNANCE", until)):
        with pytest.raises(DocumentLocked, match="COMPLIANCE"):
            docs.set_retention(name, "doc", change, version_id=v, bypass_governance=True)
    with pytest.raises(DocumentLocked):
        docs.set_retention(name, "doc", None, version_id=v, bypass_governance=True)
    with pytest.raises(DocumentLocked, match="COMPLIANCE"):
        docs.delete(name, "doc", version_id=v, bypass_governance=True)
    later = until + datetime.timedelta(days=1)
    docs.set_retention(name, "doc", ("COMPLIANCE", later), version_id=v)
    got = docs.get_retention(name, "doc", version_id=v)
    assert got is not None and (got.mode, got.until > until) == ("COMPLIANCE", True)
    assert docs.get_retention(name, docs.put(name, "free", io.BytesIO(b"")).key) is None


# --- receipts ---------------------------------------------------------------------------------
def test_receipt_verifies_offline_with_the_file(
    server: DocumentServer, docs: DocumentsClient, tmp_path: Path
) -> None:
    name = bucket(docs)
    data = random_file(tmp_path / "doc.pdf", 300_000)
    stored = docs.put(name, "lot-17/doc.pdf", tmp_path / "doc.pdf", content_type="application/pdf")
    docs.put(name, "lot-17/doc.pdf", io.BytesIO(b"a later version"))
    receipt = docs.receipt(name, "lot-17/doc.pdf", stored.version_id)
    assert receipt["format"] == "accord.document-receipt.v1"
    verifier = load_verifier(server.data / "checkpoint.vkey")
    document = verify_document_receipt(receipt, verifier)
    assert (document.container, document.key, document.version_id) == (
        name,
        "lot-17/doc.pdf",
        stored.version_id,
    )
    assert (document.sha256, document.size) == (hashlib.sha256(data).hexdigest(), len(data))
    assert document.content_type == "application/pdf"
    assert str(document.receipt.metadata.transaction_id) == stored.version_id
    check_document_file(document, tmp_path / "doc.pdf")

    changed = bytearray(data)
    changed[1234] ^= 1
    (tmp_path / "changed.pdf").write_bytes(bytes(changed))
    with pytest.raises(VerificationError, match="SHA-256"):
        check_document_file(document, tmp_path / "changed.pdf")
    (tmp_path / "longer.pdf").write_bytes(data + b"\n")
    with pytest.raises(VerificationError, match="bytes"):
        check_document_file(document, tmp_path / "longer.pdf")

    # A record edited to match another file no longer is the entry's contents.
    record = json.loads(receipt["record"])
    record["sha256"] = hashlib.sha256(bytes(changed)).hexdigest()
    forged = dict(receipt, record=canonicalize(record).decode())
    with pytest.raises(VerificationError, match="contentsSha256"):
        verify_document_receipt(forged, verifier)
    with pytest.raises(MalformedInput):
        verify_document_receipt(receipt["receipt"], verifier)  # a plain receipt is not one
    latest = verify_document_receipt(docs.receipt(name, "lot-17/doc.pdf"), verifier)
    assert latest.size == len(b"a later version")


# --- errors ---------------------------------------------------------------------------------
def test_errors_are_accord_errors(server: DocumentServer, docs: DocumentsClient) -> None:
    with pytest.raises(NotFound, match="NoSuchBucket"):
        docs.put("no-such-container", "k", io.BytesIO(b"x"))
    name = bucket(docs, object_lock=False)
    with pytest.raises(InvalidRequest, match=r"(?i)object lock"):
        docs.put(name, "k", io.BytesIO(b"x"), legal_hold=True)
    with pytest.raises(InvalidRequest, match="BucketAlreadyOwnedByYou"):
        docs.create_container(name)
    key = server.keys["admin"]["access_key_id"]
    with (
        DocumentsClient(server.endpoint, key, "not the secret", cacert=server.cacert) as wrong,
        pytest.raises(AuthError, match="SignatureDoesNotMatch"),
    ):
        wrong.list_containers()
    with server.client("reader") as reader:
        assert name in [c.name for c in reader.list_containers()]
        with pytest.raises(AuthError, match="needs the role"):
            reader.put(name, "k", io.BytesIO(b"x" * 100_000))
        with pytest.raises(AuthError, match="needs the role"):
            reader.delete(name, "k")
    with (
        DocumentsClient(server.endpoint, key, "s") as unpinned,
        pytest.raises(ConfigurationError, match="--cacert"),
    ):
        unpinned.list_containers()
    with (
        DocumentsClient("https://127.0.0.1:1", key, "s", cacert=server.cacert) as nowhere,
        pytest.raises(StorageError, match="cannot reach"),
    ):
        nowhere.list_containers()
    with pytest.raises(ConfigurationError):
        DocumentsClient(server.endpoint + "/bucket", key, "s")
    with pytest.raises(InvalidRequest, match="time zone"):
        docs.put(
            name, "k", io.BytesIO(b""), retention=("GOVERNANCE", datetime.datetime(2100, 1, 1))
        )
    assert "not the secret" not in repr(wrong)
