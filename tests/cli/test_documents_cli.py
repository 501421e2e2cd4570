"""`accord documents put|get|list|versions|retention|hold|delete|receipt|mb` and `accord receipt
verify --file`, end to end: each command its own process against a real `accord serve`."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from accord.core.canonical import canonicalize
from tests.documents.test_client import DocumentServer, serve_documents

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DocumentServer]:
    with serve_documents(tmp_path_factory.mktemp("documents-cli")) as s:
        yield s


def accord(
    server: DocumentServer, *argv: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "accord.cli.main", *argv],
        capture_output=True,
        env=env if env is not None else server.env(),
        timeout=60,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[bytes]) -> str:
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


def failed(result: subprocess.CompletedProcess[bytes], code: int) -> str:
    """The one-line error of a command that had to fail with ``code``."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    err = result.stderr.decode().strip()
    assert "Traceback" not in err
    return err


def test_put_get_list_and_versions(server: DocumentServer, tmp_path: Path) -> None:
    assert "created container coa" in ok(accord(server, "documents", "mb", "coa"))
    data = os.urandom(9 * MiB)
    (tmp_path / "big.bin").write_bytes(data)
    put = accord(
        server,
        "documents",
        "put",
        "coa",
        "lot-17/analysis.bin",
        str(tmp_path / "big.bin"),
        "--metadata",
        "lot=17",
        "--content-type",
        "application/octet-stream",
    )
    first = ok(put).strip()
    assert first.count(".") == 1 and first.replace(".", "").isdigit()
    err = put.stderr.decode()
    assert f"put: {9 * MiB}/{9 * MiB} bytes (100%)" in err  # progress, not a TTY: whole lines
    assert hashlib.sha256(data).hexdigest() in err

    (tmp_path / "v2.txt").write_text("version two\n")
    second = json.loads(
        ok(
            accord(
                server,
                "documents",
                "put",
                "coa",
                "lot-17/analysis.bin",
                str(tmp_path / "v2.txt"),
                "--json",
            )
        )
    )
    assert second["size"] == 12 and second["versionId"] != first

    got = accord(
        server,
        "documents",
        "get",
        "coa",
        "lot-17/analysis.bin",
        "--version-id",
        first,
        "-o",
        str(tmp_path / "copy.bin"),
    )
    ok(got)
    assert (tmp_path / "copy.bin").read_bytes() == data
    assert "checked against the stored SHA-256" in got.stderr.decode()
    assert f"get: {9 * MiB}/{9 * MiB} bytes (100%)" in got.stderr.decode()
    latest = accord(server, "documents", "get", "coa", "lot-17/analysis.bin", "-o", "-")
    assert latest.returncode == 0 and latest.stdout == b"version two\n"

    listing = ok(accord(server, "documents", "list", "coa", "--prefix", "lot-17/"))
    assert listing.splitlines()[0].split("\t")[:2] == ["lot-17/analysis.bin", "12"]
    assert "coa\t" in ok(accord(server, "documents", "list"))
    versions = json.loads(
        ok(accord(server, "documents", "versions", "coa", "lot-17/analysis.bin", "--json"))
    )
    assert [(v["versionId"], v["isLatest"], v["size"]) for v in versions] == [
        (second["versionId"], True, 12),
        (first, False, 9 * MiB),
    ]


def test_retention_hold_and_delete(server: DocumentServer, tmp_path: Path) -> None:
    ok(accord(server, "documents", "mb", "held"))
    (tmp_path / "doc.txt").write_text("kept\n")
    version = ok(
        accord(
            server,
            "documents",
            "put",
            "held",
            "doc.txt",
            str(tmp_path / "doc.txt"),
            "--retention-mode",
            "GOVERNANCE",
            "--retain-days",
            "1",
            "--legal-hold",
        )
    ).strip()
    shown = json.loads(ok(accord(server, "documents", "retention", "held", "doc.txt", "--json")))
    assert shown["mode"] == "GOVERNANCE"
    assert "legal hold ON" in ok(accord(server, "documents", "hold", "held", "doc.txt"))

    refused = accord(server, "documents", "delete", "held", "doc.txt", "--version-id", version)
    assert "legal hold" in failed(refused, 4)
    assert "legal hold OFF" in ok(accord(server, "documents", "hold", "held", "doc.txt", "--off"))
    refused = accord(server, "documents", "delete", "held", "doc.txt", "--version-id", version)
    assert "GOVERNANCE" in failed(refused, 4)
    extended = accord(
        server,
        "documents",
        "retention",
        "held",
        "doc.txt",
        "--set-mode",
        "GOVERNANCE",
        "--until",
        "2099-01-01T00:00:00Z",
    )
    assert "until 2099-01-01T00:00:00.000Z" in ok(extended)

    marker = ok(accord(server, "documents", "delete", "held", "doc.txt"))
    assert "delete marker" in marker and "every version is kept" in marker
    gone = accord(server, "documents", "get", "held", "doc.txt", "-o", str(tmp_path / "x"))
    assert "NoSuchKey" in failed(gone, 4)
    ok(
        accord(
            server,
            "documents",
            "delete",
            "held",
            "doc.txt",
            "--version-id",
            version,
            "--bypass-governance",
        )
    )
    remaining = json.loads(ok(accord(server, "documents", "versions", "held", "doc.txt", "--json")))
    assert [v["deleteMarker"] for v in remaining] == [True]


def test_receipt_then_receipt_verify_with_the_file(server: DocumentServer, tmp_path: Path) -> None:
    ok(accord(server, "documents", "mb", "receipts"))
    data = os.urandom(200_000)
    document = tmp_path / "coa.pdf"
    document.write_bytes(data)
    version = ok(accord(server, "documents", "put", "receipts", "coa.pdf", str(document))).strip()
    receipt = tmp_path / "coa.receipt.json"
    ok(accord(server, "documents", "receipt", "receipts", "coa.pdf", "-o", str(receipt)))
    vkey = str(server.data / "checkpoint.vkey")

    good = ok(
        accord(server, "receipt", "verify", str(receipt), "--vkey", vkey, "--file", str(document))
    )
    assert good.startswith(f"OK: receipts/coa.pdf version {version}: 200000 bytes, sha256 ")
    assert hashlib.sha256(data).hexdigest() in good
    assert good.strip().endswith("; the file matches")
    without_file = ok(accord(server, "receipt", "verify", str(receipt), "--vkey", vkey))
    assert f"in transaction {version} of the log" in without_file
    assert "the file matches" not in without_file

    changed = bytearray(data)
    changed[99_999] ^= 0x01
    (tmp_path / "changed.pdf").write_bytes(bytes(changed))
    bad = accord(
        server,
        "receipt",
        "verify",
        str(receipt),
        "--vkey",
        vkey,
        "--file",
        str(tmp_path / "changed.pdf"),
    )
    err = failed(bad, 1)
    assert err.startswith("VERIFICATION FAILED:") and "SHA-256" in err and "bytes" not in err

    # The record edited to describe the changed file: it is no longer the entry's contents.
    obj = json.loads(receipt.read_text())
    record = json.loads(obj["record"])
    record["sha256"] = hashlib.sha256(bytes(changed)).hexdigest()
    obj["record"] = canonicalize(record).decode()
    (tmp_path / "forged.json").write_text(json.dumps(obj))
    forged = accord(
        server,
        "receipt",
        "verify",
        str(tmp_path / "forged.json"),
        "--vkey",
        vkey,
        "--file",
        str(tmp_path / "changed.pdf"),
    )
    assert "the record was altered" in failed(forged, 1)

    # The inner ledger receipt still verifies as one, as before; --file does not apply to it.
    (tmp_path / "plain.json").write_text(json.dumps(json.loads(receipt.read_text())["receipt"]))
    plain = ok(accord(server, "receipt", "verify", str(tmp_path / "plain.json"), "--vkey", vkey))
    assert plain.startswith(f"OK: transaction {version} (collection accord.documents)")
    misuse = accord(
        server,
        "receipt",
        "verify",
        str(tmp_path / "plain.json"),
        "--vkey",
        vkey,
        "--file",
        str(document),
    )
    assert "document receipt" in failed(misuse, 2)


def test_usage_errors_exit_2_and_refusals_4(server: DocumentServer, tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("x")
    f = str(tmp_path / "f.txt")
    no_url = {k: v for k, v in server.env().items() if k != "ACCORD_S3_URL"}
    assert "--endpoint-url" in failed(accord(server, "documents", "list", env=no_url), 2)
    no_key = {k: v for k, v in server.env().items() if not k.startswith("AWS_SECRET")}
    assert "--secret-key" in failed(accord(server, "documents", "list", env=no_key), 2)
    usage_errors = [
        ("documents", "put", "Bad_Name", "k", f),
        ("documents", "put", "coa", "k", f, "--retain-days", "1"),
        ("documents", "put", "coa", "k", f, "--retention-mode", "FOREVER", "--retain-days", "1"),
        ("documents", "put", "coa", "k", f, "--metadata", "no-equals-sign"),
        ("documents", "put", "coa", "k", str(tmp_path / "missing.txt")),
        ("documents", "hold", "coa", "k", "--on", "--off"),
        ("documents", "retention", "coa", "k", "--until", "not a date", "--set-mode", "GOVERNANCE"),
        ("documents", "get", "coa", "k", "--version-id", "not-a-txid", "-o", f),
        ("documents", "get", "coa", "k", "-o", str(tmp_path)),
        ("documents", "delete", "coa", "k", "--bypass-governance"),
        ("documents", "list", "--endpoint-url", "http://127.0.0.1:1"),
        ("receipt", "verify", f, "--file", f),
    ]
    for argv in usage_errors:
        err = failed(accord(server, *argv), 2)
        assert err, argv
    wrong_secret = dict(server.env(), AWS_SECRET_ACCESS_KEY="wrong")
    assert "SignatureDoesNotMatch" in failed(
        accord(server, "documents", "list", env=wrong_secret), 4
    )
    reader = accord(server, "documents", "mb", "readers-may-not", env=server.env("reader"))
    assert "needs the role" in failed(reader, 4)
    unreachable = accord(server, "documents", "list", "--endpoint-url", "https://127.0.0.1:1")
    assert "cannot reach" in failed(unreachable, 3)
