"""The real ``accord`` command, driven with hostile arguments: every failure is one line.

Each case runs ``python -m accord.cli.main`` in a subprocess (argv as raw bytes, so undecodable
ones reach Python the way a shell passes them) and must exit non-zero with exactly one line on
stderr and no traceback. Argparse's own errors (an unknown flag, a missing argument) print the
subcommand's usage and then one error line; they are checked separately.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from accord.datadir import DataDir, init_data_dir

SRC = str(Path(__file__).parents[2] / "src")
UNREACHABLE = b"https://127.0.0.1:1"
HUGE = b"x" * 100_000  # below Linux's 128 KiB limit for one argument
Arg = bytes | str


def run_cli(
    argv: Sequence[Arg], *, stdin: bytes = b"", env: dict[str, str] | None = None
) -> tuple[int, str]:
    args = [a if isinstance(a, bytes) else a.encode() for a in argv]
    full_env = {k: v for k, v in os.environ.items() if k != "ACCORD_URL"}
    full_env.update(PYTHONPATH=SRC, **(env or {}))
    proc = subprocess.run(
        [sys.executable.encode(), b"-m", b"accord.cli.main", *args],
        input=stdin,
        capture_output=True,
        env=full_env,
        timeout=30,
    )
    return proc.returncode, proc.stderr.decode("utf-8", "backslashreplace")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> DataDir:
    return init_data_dir(tmp_path_factory.mktemp("hostile") / "d", name="hostile.test/ledger")


def hostile_cases(data: DataDir, tmp: Path) -> list[list[Arg]]:
    d = str(data.path)
    vkey = str(data / "checkpoint.vkey")
    crt = str(data / "service.crt")
    missing = str(tmp / "missing")
    url = [b"--url", UNREACHABLE]
    cases: list[list[Arg]] = [
        # non-UTF-8 bytes, one per kind of argument
        [b"append", b"--collection", b"\xff", b"x", *url],
        [b"append", b"--tags", b"a,\xff", b"x", *url],
        [b"append", b"\xff\xfe", *url],
        [b"get", b"1.\xff", *url],
        [b"get", b"1.1", b"--collection", b"\xff", *url],
        [b"list", b"--from", b"\xff", *url],
        [b"users", b"add", b"--role", b"Reader", b"\xff", *url],
        [b"users", b"add", b"--role", b"\xff", b"u", *url],
        [b"users", b"remove", b"\xff", *url],
        [b"tables", b"create", b"--db", b"\xff.db", b"CREATE TABLE t (id int)"],
        [b"tables", b"list", b"--db", b"\xff"],
        [b"init", b"--data", b"/tmp/\xff"],
        [b"init", b"--data", str(tmp / "n1").encode(), b"--name", b"\xff"],
        [b"verify", b"--data", b"\xff"],
        [b"receipt", b"get", b"1.1", b"--data", b"\xff"],
        [b"receipt", b"verify", b"--vkey", b"\xff", b"r.json"],
        [b"collections", b"--url", b"https://\xff"],
        [b"collections", b"--token", b"\xff", *url],
        [b"collections", b"--cacert", b"\xff", *url],
        [b"serve", b"--data", b"\xff"],
        # control characters
        ["append", "--collection", "a\nb", "x", *url],
        ["get", "1.1\n", *url],
        ["users", "add", "--role", "Reader", "line\nbreak", *url],
        ["collections", "--url", "https://host\r\n:8443"],
        ["collections", "--token", "abc\ndef", *url],
        ["init", "--data", str(tmp / "n2"), "--name", "a\nb"],
        # huge arguments
        [b"append", b"--collection", HUGE, b"x", *url],
        [b"get", HUGE, *url],
        [b"append", b"--tags", HUGE, b"x", *url],
        # empty strings
        ["append", "--collection", "", "x", *url],
        ["get", "", *url],
        ["init", "--data", ""],
        ["verify", "--data", ""],
        ["tables", "list", "--db", ""],
        ["collections", "--url", ""],
        ["collections", "--token", "", *url],
        ["users", "remove", "", *url],
        # bad transaction ids
        *[["get", txid, *url] for txid in ("1.", "x.1", ".1", "0.1", "1.0", "-1.1", "1.1.1")],
        ["get", "99999999999999999999999.1", *url],
        ["receipt", "get", "x.1", "--data", d],
        ["list", "--to", "1.", *url],
        # bad ports, bad URLs
        *[["serve", "--data", d, "--port", port] for port in ("99999", "-1", "abc", "", "1e3")],
        ["collections", "--url", "https://127.0.0.1:99999"],
        ["collections", "--url", "https://127.0.0.1:abc"],
        ["collections", "--url", "http://127.0.0.1:8443"],
        ["collections", "--url", "127.0.0.1:8443"],
        # missing files, directories instead of files
        ["collections", "--token", f"@{missing}", *url],
        ["collections", "--token", "@/nonexistent", *url],
        ["collections", "--token", f"@{tmp}", *url],
        ["collections", "--cacert", missing, *url],
        ["collections", "--cacert", str(tmp), *url],
        ["collections", "--cert", crt, "--key", str(tmp), *url],
        ["receipt", "verify", missing, "--vkey", vkey],
        ["receipt", "verify", str(tmp), "--vkey", vkey],
        ["receipt", "verify", vkey, "--vkey", missing],
        ["receipt", "verify", vkey, "--vkey", crt],
        ["receipt", "verify", vkey, "--vkey", vkey],
        ["receipt", "get", "1.1", "--data", d, "-o", str(tmp)],
        ["verify", "--data", missing],
        ["verify", "--data", str(tmp)],
        ["verify", "--data", vkey],
        ["verify", "--data", d, "--vkey", crt],
        ["verify", "--data", d, "--trusted-checkpoint", vkey],
        ["verify", "--data", d, "--trusted-checkpoint", str(tmp)],
        ["users", "add", "--role", "Reader", "--cert-file", vkey, *url],
        ["users", "add", "--role", "Reader", "--cert-file", str(tmp), *url],
        ["append", "--batch", missing, *url],
        ["append", "--batch", str(tmp), *url],
        ["init", "--data", vkey],
        ["init", "--data", d],
        ["serve", "--data", str(tmp)],
        # values out of range
        ["init", "--data", str(tmp / "n3"), "--max-contents", "0"],
        ["init", "--data", str(tmp / "n3"), "--max-contents", "-5"],
        ["init", "--data", str(tmp / "n3"), "--storage", "mysql://root@db/x"],
        ["append", "--batch", "-", "--batch-size", "0", *url],
        ["tables", "anchor", "--db", "x", "--ledger", d, "--interval", "0"],
        ["tables", "anchor", "--db", "x", "--ledger", d, "--interval", "nan"],
        ["users", "add", "--role", "Root", "u", *url],
        # nothing listening: a service error, still one line
        ["append", "", *url],
        ["collections", *url],
        ["receipt", "get", "1.1", *url],
        ["verify", *url, "--vkey", vkey],
    ]
    return cases


def test_hostile_arguments_fail_in_one_line(data: DataDir, tmp_path: Path) -> None:
    cases = hostile_cases(data, tmp_path)
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(run_cli, cases))
    failures = []
    for argv, (code, err) in zip(cases, results, strict=True):
        lines = err.splitlines()
        if code == 0 or "Traceback" in err or len(lines) != 1 or not err.endswith("\n"):
            failures.append(f"{[a[:40] for a in argv]!r}: exit {code}, stderr {err[:600]!r}")
        elif code not in (1, 2, 3, 4):
            failures.append(f"{[a[:40] for a in argv]!r}: undocumented exit {code}: {err!r}")
    assert not failures, "\n".join(failures)


def test_non_utf8_arguments_are_named(data: DataDir) -> None:
    for argv, name in (
        ([b"append", b"--collection", b"\xff", b"x", b"--url", UNREACHABLE], "--collection"),
        ([b"get", b"1.\xff", b"--url", UNREACHABLE], "txid"),
        ([b"users", b"add", b"--role", b"Reader", b"\xff", b"--url", UNREACHABLE], "user"),
        ([b"tables", b"create", b"--db", b"\xff.db", b"CREATE TABLE t (id int)"], "--db"),
    ):
        code, err = run_cli(argv)
        assert code == 2, err
        assert err.startswith(f"accord: error: {name} is not valid UTF-8: "), err
        assert "\\xff" in err


def test_stdin_and_batch_input_that_is_not_text(tmp_path: Path) -> None:
    code, err = run_cli(["append", "-", "--url", UNREACHABLE], stdin=b"\x00\xff\xfe")
    assert code == 2 and "standard input is not valid UTF-8" in err and err.count("\n") == 1
    code, err = run_cli(["tables", "create", "--db", str(tmp_path / "t.db"), "-"], stdin=b"\xff")
    assert code == 2 and "standard input is not valid UTF-8" in err and err.count("\n") == 1
    code, err = run_cli(["append", "--batch", "-", "--url", UNREACHABLE], stdin=b"\xff\n")
    assert code == 2 and "line 1 is not valid UTF-8" in err and err.count("\n") == 1


def test_accord_url_that_is_not_a_url(data: DataDir) -> None:
    code, err = run_cli(["collections"], env={"ACCORD_URL": "ftp://x"})
    assert code == 2 and err.startswith("accord: error: $ACCORD_URL: "), err
    code, err = run_cli(["receipt", "get", "1.1", "--data", str(data.path)],
                        env={"ACCORD_URL": "ftp://x"})  # fmt: skip
    assert "$ACCORD_URL" not in err, "an explicit --data does not even look at the variable"


@pytest.mark.parametrize(
    ("argv", "usage"),
    [
        (["append", "--bogus", "x", "--url", "https://h"], "usage: accord append"),
        (["get", "--url", "https://h"], "usage: accord get"),
        (["users", "add", "u", "--url", "https://h"], "usage: accord users add"),
        (["receipt", "verify", "--vkey"], "usage: accord receipt verify"),
        (["tables", "create", "--db", "x", "ddl", "extra"], "usage: accord tables create"),
        (["nonsense"], "usage: accord"),
        ([], "usage: accord"),
    ],
)
def test_usage_errors_show_the_subcommand_usage(argv: list[str], usage: str) -> None:
    code, err = run_cli(argv)
    assert code == 2 and "Traceback" not in err
    assert err.startswith(usage + " "), err
    last = err.splitlines()[-1]
    assert last.startswith(usage.removeprefix("usage: ") + ": error: "), err
