"""``accord append --batch``: JSON-lines parsing, batching and error reporting (the end-to-end test
against a real service is test_cli_batch_service.py)."""

from __future__ import annotations

import io
from typing import Any

import pytest

from accord.cli.batch import (
    BATCH_OVERHEAD,
    BatchInputError,
    Progress,
    append_stream,
    batches,
    read_lines,
)
from accord.cli.main import EXIT_USAGE, main
from accord.errors import InvalidRequest


def lines_of(text: bytes, max_line_bytes: int = 1 << 20) -> list[Any]:
    return list(read_lines(io.BytesIO(text), max_line_bytes=max_line_bytes))


def test_lines_parse_into_entries() -> None:
    text = (
        b'{"contents": "a"}\n'
        b"\n"
        b'{"contents": "b", "collectionId": "c1", "tags": ["t1", "t2"]}\n'
        b'  {"contents": "", "tags": []}  \r\n'
        b'{"contents": "last, no newline"}'
    )
    lines = lines_of(text)
    assert [line.number for line in lines] == [1, 3, 4, 5]
    assert lines[1].entry == {"contents": "b", "collectionId": "c1", "tags": ["t1", "t2"]}
    assert lines[2].entry == {"contents": ""}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b'{"contents": "a"}\n\xff\n', "line 2 is not valid UTF-8 (byte 0xff at column 1)"),
        (b'{"contents": "a"}\n{"contents": \n', "line 2: invalid JSON: Expecting value"),
        (b"[1, 2]\n", "line 1: an entry must be a JSON object"),
        (b'{"contents": 5}\n', 'line 1: an entry needs "contents", a string'),
        (b'{"contents": "a", "colection": "x"}\n', "line 1: unknown field 'colection'"),
        (b'{"contents": "a", "collectionId": "bad id"}\n', "line 1: invalid collection id"),
        (b'{"contents": "a", "tags": "t"}\n', 'line 1: "tags" must be a list'),
        (b'{"contents": "a", "tags": ["t", "t"]}\n', "line 1: duplicate tags"),
        (b'{"contents": "\\ud800"}\n', "line 1: string contains a lone surrogate U+D800"),
        (b'{"contents": "a", "contents": "b"}\n', "line 1: duplicate object name 'contents'"),
        (b"[" * 100_000 + b"\n", "line 1: "),
        (b'{"contents": "' + b"x" * 200 + b'"}\n', "line 1 is longer than 100 bytes"),
    ],
)
def test_bad_lines_are_named(text: bytes, message: str) -> None:
    with pytest.raises(BatchInputError) as info:
        lines_of(text, max_line_bytes=100 if b"x" * 200 in text else 1 << 20)
    assert message in str(info.value)


def test_batches_respect_count_and_bytes() -> None:
    lines = lines_of(b"".join(b'{"contents": "%d"}\n' % i for i in range(10)))
    assert [len(b) for b in batches(iter(lines), max_entries=4, max_bytes=1 << 20)] == [4, 4, 2]
    size = lines[0].size
    by_bytes = list(batches(iter(lines), max_entries=100, max_bytes=BATCH_OVERHEAD + 3 * size))
    assert [len(b) for b in by_bytes] == [3, 3, 3, 1]
    # an entry alone larger than the cap still goes, alone
    assert [len(b) for b in batches(iter(lines), max_entries=100, max_bytes=1)] == [1] * 10


class RecordingClient:
    def __init__(self, refuse_batch: int | None = None) -> None:
        self.sent: list[list[dict[str, Any]]] = []
        self.refuse_batch = refuse_batch

    def append_batch(self, entries: list[dict[str, Any]]) -> list[str]:
        if self.refuse_batch == len(self.sent):
            raise InvalidRequest("entries[1].contents: too big")
        start = sum(len(b) for b in self.sent)
        self.sent.append(entries)
        return [f"1.{start + i + 1}" for i in range(len(entries))]


def stream(entries: int, bad_line: int | None = None) -> io.BytesIO:
    rows = [b'{"contents": "e%d"}' % i for i in range(1, entries + 1)]
    if bad_line is not None:
        rows[bad_line - 1] = b"{not json"
    return io.BytesIO(b"\n".join(rows) + b"\n")


def run_stream(client: RecordingClient, data: io.BytesIO, size: int) -> list[str]:
    emitted: list[str] = []
    append_stream(
        client,
        data,
        source="in.jsonl",
        max_entries=size,
        max_bytes=1 << 20,
        emit=lambda line, txid: emitted.append(txid),
        progress=Progress("append", interactive=False),
    )
    return emitted


def test_a_bad_line_stops_before_its_batch_is_sent() -> None:
    client = RecordingClient()
    with pytest.raises(BatchInputError) as info:
        run_stream(client, stream(10, bad_line=7), size=3)
    # lines 1-3 and 4-6 were sent; the batch that would hold line 7 was not
    assert [len(b) for b in client.sent] == [3, 3]
    assert str(info.value) == (
        "in.jsonl: line 7: invalid JSON: Expecting property name enclosed in double quotes at "
        "line 1 column 2; 6 entries were already written (last 1.6), nothing after line 6 was "
        "sent"
    )
    client = RecordingClient()
    with pytest.raises(BatchInputError) as info:
        run_stream(client, stream(10, bad_line=5), size=3)
    assert [len(b) for b in client.sent] == [3]  # line 4 is held back with line 5's batch
    assert "3 entries were already written (last 1.3), nothing after line 3" in str(info.value)


def test_a_refused_batch_names_its_lines() -> None:
    client = RecordingClient(refuse_batch=1)
    with pytest.raises(InvalidRequest) as info:
        run_stream(client, stream(9), size=3)
    assert str(info.value) == (
        "in.jsonl: the batch of lines 4-6 was not written: entries[1].contents: too big "
        "(entries[1] is line 5); 3 entries were already written (last 1.3)"
    )


def test_the_file_is_streamed_not_read_whole() -> None:
    class Lines(io.RawIOBase):
        """An endless JSON-lines stream: reading it whole would never end."""

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            chunk = b'{"contents": "x"}\n' * (len(buffer) // 18)
            buffer[: len(chunk)] = chunk
            return len(chunk)

    class StopAfter(RecordingClient):
        def append_batch(self, entries: list[dict[str, Any]]) -> list[str]:
            if len(self.sent) == 3:
                raise InvalidRequest("enough")
            return super().append_batch(entries)

    client = StopAfter()
    with pytest.raises(InvalidRequest):
        run_stream(client, io.BufferedReader(Lines()), size=1000)  # type: ignore[arg-type]
    assert [len(b) for b in client.sent] == [1000, 1000, 1000]


def test_batch_needs_no_contents_argument(capsys: pytest.CaptureFixture[str]) -> None:
    url = ["--url", "https://127.0.0.1:1"]
    assert main(["append", "x", "--batch", "-", *url]) == EXIT_USAGE
    assert "not both" in capsys.readouterr().err
    assert main(["append", "--batch", "-", "--collection", "c", *url]) == EXIT_USAGE
    assert "per line" in capsys.readouterr().err
    assert main(["append", *url]) == EXIT_USAGE
