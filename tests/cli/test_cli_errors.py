"""CLI misuse gets one clear error line and a documented exit code, never a traceback.

Exit codes (accord.cli.main): 1 verification failed, 2 usage or configuration, 3 unavailable.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from accord.cli.main import EXIT_FAILED, EXIT_UNAVAILABLE, EXIT_USAGE, main
from accord.core.checkpoint import Checkpoint, sign_checkpoint
from accord.datadir import DataDir, init_data_dir
from accord.log.ledger import Ledger, NewEntry

UNREACHABLE = "https://127.0.0.1:1"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line_error(err: str) -> str:
    assert "Traceback" not in err, err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    return err


@pytest.fixture
def ledger(tmp_path: Path) -> DataDir:
    """A data directory whose ledger holds one committed entry, 1.1."""
    data = init_data_dir(tmp_path / "d", name="cli.test/ledger")
    with Ledger.create_or_open(data.storage_location(), data.signer(), node=data.node()) as led:
        led.append_batch([NewEntry("hello")], wait_for_commit=True)
    return data


def test_file_and_option_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = init_data_dir(tmp_path / "d", name="cli.test/ledger")
    vkey = str(data / "checkpoint.vkey")
    cases = [
        ["receipt", "verify", str(tmp_path / "missing.json"), "--vkey", vkey],
        ["verify", "--data", str(tmp_path / "not-a-ledger")],
        ["append", "--url", UNREACHABLE, "--token", f"@{tmp_path / 'no-token'}", "x"],
        ["init", "--data", str(data.path)],
        ["serve", "--data", str(data.path), "--port", "99999"],
    ]
    for argv in cases:
        code, _, err = run(capsys, *argv)
        assert code == EXIT_USAGE, (argv, err)
        assert one_line_error(err).startswith("accord: error:"), (argv, err)
    assert "outside 0-65535" in run(capsys, *cases[-1])[2]


def test_failed_init_leaves_nothing_and_can_be_rerun(tmp_path: Path) -> None:
    target = tmp_path / "new"
    dsn = "postgresql://nobody@127.0.0.1:1/x"
    assert main(["init", "--data", str(target), "--storage", dsn]) == EXIT_UNAVAILABLE
    assert not target.exists()
    assert main(["init", "--data", str(target)]) == 0
    assert (target / "config.json").is_file()


# --- Bug 3: an explicit flag wins over the environment ----------------------------------------
def test_explicit_data_wins_over_accord_url(
    ledger: DataDir, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ACCORD_URL", UNREACHABLE)
    code, out, err = run(capsys, "receipt", "get", "--data", str(ledger.path), "1.1")
    assert code == 0, err
    assert json.loads(out)["entry"]["transactionId"] == "1.1"
    # without --data the variable is the default, and is used
    code, _, err = run(capsys, "receipt", "get", "1.1")
    assert code == EXIT_UNAVAILABLE and "cannot reach https://127.0.0.1:1" in one_line_error(err)
    # an explicit --url wins over the variable too
    code, _, err = run(capsys, "receipt", "get", "--url", "https://127.0.0.1:2", "1.1")
    assert code == EXIT_UNAVAILABLE and "https://127.0.0.1:2" in one_line_error(err)


def test_data_and_url_together_is_a_usage_error(
    ledger: DataDir, capsys: pytest.CaptureFixture[str]
) -> None:
    for command in (["receipt", "get", "1.1"], ["verify"]):
        code, _, err = run(capsys, *command, "--data", str(ledger.path), "--url", UNREACHABLE)
        assert code == EXIT_USAGE and "not both" in one_line_error(err)


def test_usage_shows_accord_url_default(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ACCORD_URL", "https://ledger.example:8443")
    with pytest.raises(SystemExit):
        main(["append", "--help"])
    out = capsys.readouterr().out
    assert "[--url URL]" in out
    assert "(default: $ACCORD_URL = 'https://ledger.example:8443')" in " ".join(out.split())
    monkeypatch.delenv("ACCORD_URL")
    with pytest.raises(SystemExit):
        main(["append", "--help"])
    out = capsys.readouterr().out
    assert "[--url URL]" not in out and "--url URL" in out


# --- exit codes: configuration mistakes are not tampering --------------------------------------
def test_wrong_key_files_are_configuration_errors(
    ledger: DataDir, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    receipt = tmp_path / "receipt.json"
    assert main(["receipt", "get", "--data", str(ledger.path), "1.1", "-o", str(receipt)]) == 0
    capsys.readouterr()
    vkey = str(ledger / "checkpoint.vkey")
    d = str(ledger.path)
    cases = [
        (["verify", "--data", d, "--vkey", str(ledger / "service.crt")], "not a verifier key"),
        (["verify", "--data", d, "--vkey", str(ledger / "admin.key")], "is a PEM file"),
        (["receipt", "verify", "--vkey", str(receipt), str(receipt)], "is not a verifier key"),
        (["verify", "--data", d, "--trusted-checkpoint", str(receipt)], "not a signed checkpoint"),
        (["verify", "--data", d, "--vkey", d], "is a directory"),
        (["receipt", "verify", "--vkey", vkey, d], "is a directory"),
    ]
    for argv, expected in cases:
        code, _, err = run(capsys, *argv)
        assert code == EXIT_USAGE, (argv, err)
        assert expected in one_line_error(err) and "VERIFICATION FAILED" not in err, (argv, err)
    assert "a C2SP verifier key like NAME+HASH+BASE64" in run(capsys, *cases[0][0])[2]
    # A private key given by mistake is never echoed, not even in part.
    key_body = "".join((ledger / "admin.key").read_text().splitlines()[1:-1])
    err = run(capsys, "verify", "--data", d, "--vkey", str(ledger / "admin.key"))[2]
    assert key_body[:16] not in err and key_body[-16:] not in err
    assert main(["receipt", "verify", "--vkey", vkey, str(receipt)]) == 0


def test_real_verification_failures_still_exit_1(
    ledger: DataDir, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    receipt = tmp_path / "receipt.json"
    main(["receipt", "get", "--data", str(ledger.path), "1.1", "-o", str(receipt)])
    capsys.readouterr()
    other = init_data_dir(tmp_path / "other", name="cli.test/ledger")
    # a well-formed receipt that does not verify: tampered contents
    contents = tmp_path / "contents"
    contents.write_text("not hello")
    vkey = str(ledger / "checkpoint.vkey")
    code, _, err = run(
        capsys, "receipt", "verify", "--vkey", vkey, "--contents", str(contents), str(receipt)
    )
    assert code == EXIT_FAILED and one_line_error(err).startswith("VERIFICATION FAILED")
    # a receipt checked with another ledger's (valid) key
    code, _, err = run(capsys, "receipt", "verify", "--vkey", str(other / "checkpoint.vkey"),
                       str(receipt))  # fmt: skip
    assert code == EXIT_FAILED and one_line_error(err).startswith("VERIFICATION FAILED")
    # a well-formed checkpoint signed by another key is evidence, not a configuration mistake
    forged = tmp_path / "forged.checkpoint"
    forged.write_text(sign_checkpoint(Checkpoint("cli.test/ledger", 1, bytes(32)), other.signer()))
    code, _, err = run(
        capsys, "verify", "--data", str(ledger.path), "--trusted-checkpoint", str(forged)
    )
    assert code == EXIT_FAILED and one_line_error(err).startswith("VERIFICATION FAILED"), err


# --- item 4: clear messages ----------------------------------------------------------------------
def test_not_a_data_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for command in (["verify"], ["serve"], ["receipt", "get", "1.1"]):
        code, _, err = run(capsys, *command, "--data", str(tmp_path))
        assert code == EXIT_USAGE
        assert "is not an accord data directory (no config.json)" in one_line_error(err)
        assert f"accord init --data {tmp_path}" in err


def test_unsupported_storage_scheme(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for storage in ("mysql://root@db/ledger", "sqlite://x.db", "redis:foo"):
        code, _, err = run(capsys, "init", "--data", str(tmp_path / "d"), "--storage", storage)
        assert code == EXIT_USAGE, err
        assert "unsupported storage" in one_line_error(err) and "postgresql://" in err
        assert not (tmp_path / "d").exists()


def test_binary_stdin_to_append(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"ok\n\xff\xfe binary")))
    code, _, err = run(capsys, "append", "--url", UNREACHABLE, "-")
    assert code == EXIT_USAGE
    assert "standard input is not valid UTF-8 text (byte 0xff at offset 3)" in one_line_error(err)


def test_unreachable_service_is_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "collections", "--url", UNREACHABLE)
    assert code == EXIT_UNAVAILABLE and "cannot reach" in one_line_error(err)


# --- item 5: version and usage -------------------------------------------------------------------
def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"accord {version('accord')}"


def test_help_documents_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "exit codes:" in out
    for code in ("0 ", "1 ", "2 ", "3 "):
        assert f"\n  {code}" in out


def test_bad_flag_prints_the_subcommand_usage(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ACCORD_URL", UNREACHABLE)
    for argv, usage in (
        (["append", "--bogus", "x"], "usage: accord append"),
        (["receipt", "get", "--bogus", "1.1"], "usage: accord receipt get"),
        (["tables", "list", "--db", "x", "--bogus"], "usage: accord tables list"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        err = capsys.readouterr().err
        assert exit_info.value.code == EXIT_USAGE
        assert err.startswith(usage), err
        assert "unrecognized arguments: --bogus" in err.splitlines()[-1]
