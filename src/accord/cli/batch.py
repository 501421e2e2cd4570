"""``accord append --batch FILE``: stream JSON-lines entries to the service in batches.

The file (or standard input) is read one line at a time, never whole: each non-blank line is one
entry ``{"contents": ..., "collectionId"?: ..., "tags"?: [...]}``. Entries are grouped into
requests of at most ``max_entries`` entries and ``max_bytes`` bytes of request body and sent, in
order, over the client's one connection. A bad line stops everything before its batch is sent,
and the error says how many entries were already written: earlier batches are in the ledger.

What this module does not do: retry. A failed request is reported with the count of entries
already written; the caller resumes from the line it names.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any, Protocol

from accord.core.canonical import parse_json
from accord.errors import AccordError, ConfigurationError, InvalidRequest, MalformedInput

BATCH_OVERHEAD = len('{"entries":[]}')


class BatchAppender(Protocol):
    def append_batch(self, entries: list[dict[str, Any]]) -> list[str]: ...


@dataclass(frozen=True)
class Line:
    number: int
    entry: dict[str, Any]
    size: int  # bytes this entry adds to the request body


class BatchInputError(ConfigurationError):
    """A line of the batch file is not a valid entry; ``line`` is its 1-based number."""

    def __init__(self, message: str, *, line: int) -> None:
        super().__init__(message)
        self.line = line


def read_lines(stream: IO[bytes], *, max_line_bytes: int) -> Iterator[Line]:
    """Parse ``stream`` as JSON lines of entries; raises BatchInputError naming the line."""
    from accord.client.client import batch_entry

    number = 0
    while True:
        raw = stream.readline(max_line_bytes + 1)
        if not raw:
            return
        number += 1
        if len(raw) > max_line_bytes and not raw.endswith(b"\n"):
            raise BatchInputError(
                f"line {number} is longer than {max_line_bytes} bytes (--batch-bytes)", line=number
            )
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BatchInputError(
                f"line {number} is not valid UTF-8 (byte {raw[exc.start]:#04x} at column "
                f"{exc.start + 1})",
                line=number,
            ) from None
        if not text.strip():
            continue
        try:
            # The service's own strict parser: a line it would refuse (duplicate keys, NaN,
            # lone surrogates, deep nesting) is refused here, before anything is sent.
            obj = parse_json(raw)
        except MalformedInput as exc:
            raise BatchInputError(f"line {number}: {exc}", line=number) from None
        try:
            entry = batch_entry(obj)
        except InvalidRequest as exc:
            raise BatchInputError(f"line {number}: {exc}", line=number) from None
        size = len(json.dumps(entry).encode()) + 1  # and a comma
        yield Line(number, entry, size)


def batches(lines: Iterator[Line], *, max_entries: int, max_bytes: int) -> Iterator[list[Line]]:
    """Group ``lines`` into batches of at most ``max_entries`` entries and ``max_bytes`` bytes.

    A batch is yielded once it is full, or once the line that does not fit has parsed (or the
    input ended), so a bad line stops before its batch is sent. An entry larger than
    ``max_bytes`` goes alone.
    """
    batch: list[Line] = []
    size = BATCH_OVERHEAD
    for line in lines:
        if batch and size + line.size > max_bytes:
            yield batch
            batch, size = [], BATCH_OVERHEAD
        batch.append(line)
        size += line.size
        if len(batch) >= max_entries:
            yield batch
            batch, size = [], BATCH_OVERHEAD
    if batch:
        yield batch


class Progress:
    """A progress line on stderr when it is a terminal (count and rate), and a final summary."""

    def __init__(self, label: str, *, interactive: bool | None = None) -> None:
        self.label = label
        self.interactive = sys.stderr.isatty() if interactive is None else interactive
        self.started = time.monotonic()
        self.count = 0
        self.batches = 0

    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.count / elapsed if elapsed > 0 else 0.0

    def advance(self, count: int) -> None:
        self.count += count
        self.batches += 1
        if self.interactive:
            print(
                f"\r{self.label}: {self.count:,} entries ({self.rate():,.0f}/s)",
                end="",
                file=sys.stderr,
                flush=True,
            )

    def clear(self) -> None:
        """Erase the progress line, so that what is printed next starts a clean line."""
        if self.interactive and self.batches:
            print("\r\033[K", end="", file=sys.stderr, flush=True)

    def finish(self) -> None:
        elapsed = time.monotonic() - self.started
        print(
            f"{self.label}: {self.count:,} entries in {self.batches:,} "
            f"batch{'es' if self.batches != 1 else ''}, {elapsed:.1f} s ({self.rate():,.0f} "
            "entries/s)",
            file=sys.stderr,
        )


def append_stream(
    client: BatchAppender,
    stream: IO[bytes],
    *,
    source: str,
    max_entries: int,
    max_bytes: int,
    emit: Callable[[Line, str], None],
    progress: Progress,
) -> str | None:
    """Append every entry of ``stream``; ``emit`` each (line, transaction id). The last id.

    On a bad line or a refused batch, raises an accord error of the same kind whose message names
    the line and says how many entries were already written.
    """
    written = 0
    last: str | None = None
    last_line = 0
    pending: list[Line] = []
    try:
        for batch in batches(
            read_lines(stream, max_line_bytes=max_bytes - BATCH_OVERHEAD),
            max_entries=max_entries,
            max_bytes=max_bytes,
        ):
            pending = batch
            txids = client.append_batch([line.entry for line in batch])
            for line, txid in zip(batch, txids, strict=True):
                emit(line, txid)
            written += len(batch)
            last, last_line = txids[-1], batch[-1].number
            pending = []
            progress.advance(len(batch))
    except BatchInputError as exc:
        sent = f", nothing after line {last_line} was sent" if written else ""
        raise BatchInputError(
            f"{source}: {exc}; {_written(written, last)}{sent}", line=exc.line
        ) from None
    except AccordError as exc:
        if not pending:
            raise
        message = str(exc)
        m = re.search(r"entries\[(\d+)\]", message)
        if m and int(m.group(1)) < len(pending):
            message += f" (entries[{m.group(1)}] is line {pending[int(m.group(1))].number})"
        raise type(exc)(
            f"{source}: the batch of lines {pending[0].number}-{pending[-1].number} was not "
            f"written: {message}; {_written(written, last)}"
        ) from exc
    return last


def _written(count: int, last: str | None) -> str:
    if count == 0:
        return "no entry was written"
    return f"{count} entr{'ies were' if count != 1 else 'y was'} already written (last {last})"
