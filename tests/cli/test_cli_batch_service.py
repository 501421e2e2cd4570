"""``accord append --batch`` end to end against a real ``accord serve`` (tests/cli/conftest.py)."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from accord.cli.main import EXIT_REFUSED, EXIT_USAGE, main
from tests.service.conftest import Service


def tls(service: Service) -> list[str]:
    d = service.data
    return ["--url", service.url, "--cacert", str(d / "service.crt"), "--cert",
            str(d / "admin.crt"), "--key", str(d / "admin.key")]  # fmt: skip


def test_batch_append_end_to_end(
    service: Service, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "entries.jsonl"
    with path.open("w") as f:
        for i in range(2500):
            entry: dict[str, Any] = {"contents": f"entry {i}"}
            if i % 2:
                entry["collectionId"] = "odd"
            if i % 3 == 0:
                entry["tags"] = ["third"]
            f.write(json.dumps(entry) + "\n")
    code = main(["append", "--batch", str(path), "--wait", *tls(service)])
    out, err = capsys.readouterr()
    assert code == 0, err
    txids = out.split()
    assert len(txids) == 2500 and txids[0] == "1.1" and txids[-1] == "1.2500"
    assert err.startswith("append: 2,500 entries in 3 batches"), err
    with service.client() as client:
        assert client.entry("1.2")["entry"]["contents"] == "entry 1"
        assert client.entry("1.2", "odd")["entry"]["collectionId"] == "odd"
        assert "odd" in client.collections()

    # a bad line: the batches before it are written and counted, nothing from its batch
    path.write_text(
        "".join(json.dumps({"contents": f"more {i}"}) + "\n" for i in range(5)) + "{oops\n"
    )
    code = main(["append", "--batch", str(path), "--batch-size", "2", "--json", *tls(service)])
    out, err = capsys.readouterr()
    assert code == EXIT_USAGE
    assert [json.loads(line) for line in out.splitlines()] == [
        {"line": n, "transactionId": f"1.{2500 + n}"} for n in (1, 2, 3, 4)
    ]
    assert err.count("\n") == 1 and f"{path}: line 6: invalid JSON" in err, err
    assert "4 entries were already written (last 1.2504), nothing after line 4 was sent" in err

    # the service refuses a batch: nothing of it is written, the line is named
    big = {"contents": "x" * 5000}  # the fixture's ledger takes at most 4096 bytes
    path.write_text(json.dumps({"contents": "ok"}) + "\n" + json.dumps(big) + "\n")
    code = main(["append", "--batch", str(path), *tls(service)])
    out, err = capsys.readouterr()
    assert code == EXIT_REFUSED and out == ""
    assert "the batch of lines 1-2 was not written" in err and "is line 2" in err, err
    assert "no entry was written" in err


def test_batch_from_stdin(
    service: Service, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = b'{"contents": "one"}\n{"contents": "two", "tags": ["t"]}\n'
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    assert main(["append", "--batch", "-", *tls(service)]) == 0
    out, err = capsys.readouterr()
    assert out.split() == ["1.1", "1.2"]
    assert "2 entries in 1 batch," in err
