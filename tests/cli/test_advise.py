"""``accord advise`` on the command line: --answer, --json, prompts on a terminal, usage errors."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from accord.cli.main import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, main

SUPPLY_CHAIN = [
    "crosses_trust_boundaries=yes",
    "parties_trust_each_other=no",
    "multiple_writers=yes",
    "intermediary_controls_truth=yes",
    "manual_verification=yes",
    "unstructured_files=no",
]
ONE_COMPANY_RELATIONAL = [
    "crosses_trust_boundaries=no",
    "relational_data=yes",
    "unstructured_files=no",
]


def answers(*pairs: str) -> list[str]:
    return [arg for pair in pairs for arg in ("--answer", pair)]


class Terminal(io.StringIO):
    """Standard input typed on a terminal."""

    def isatty(self) -> bool:
        return True


class Pipe(io.StringIO):
    def isatty(self) -> bool:
        return False


def run(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    *argv: str,
    stdin: io.StringIO | None = None,
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", stdin if stdin is not None else Pipe(""))
    code = main(["advise", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_json_has_exactly_the_documented_shape(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = run(capsys, monkeypatch, "--json", *answers(*SUPPLY_CHAIN))
    assert (code, err) == (EXIT_OK, "")
    obj = json.loads(out)
    assert list(obj) == ["recommendations", "reasons", "commands"]
    assert obj["recommendations"] == ["consortium"]
    assert all(isinstance(r, str) and r for r in obj["reasons"])
    assert obj["commands"][0] == (
        "accord consortium create --orgs supplier,manufacturer,retailer --dir accord-consortium"
    )


def test_no_ledger_prints_no_command(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    trusting = answers(
        "crosses_trust_boundaries=yes",
        "parties_trust_each_other=yes",
        "relational_data=no",
        "unstructured_files=no",
    )
    code, out, _ = run(capsys, monkeypatch, "--json", *trusting)
    assert code == EXIT_OK
    assert json.loads(out)["recommendations"] == ["no-ledger"]
    assert json.loads(out)["commands"] == []
    code, out, _ = run(capsys, monkeypatch, *trusting)
    assert "no-ledger" in out
    assert "nothing to set up" in out


def test_text_output_names_the_recommendation_the_reasons_and_the_commands(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = run(capsys, monkeypatch, *answers(*ONE_COMPANY_RELATIONAL))
    assert (code, err) == (EXIT_OK, "")
    lines = out.splitlines()
    assert lines[0] == "Recommended:"
    assert lines[1].startswith("  ledger-tables: ")
    assert "Why:" in lines and "Set it up:" in lines
    assert any(line.startswith("  - crosses_trust_boundaries=no: ") for line in lines)
    assert "  accord init --data accord-data" in lines
    assert "  accord tables verify --db shop.db --ledger accord-data" in lines


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("crosses=yes", "unknown question 'crosses'"),
        ("relational_data=maybe", "'maybe' is not an answer"),
        ("relational_data=true", "'true' is not an answer"),
        ("relational_data", "is not KEY=yes|no"),
    ],
)
def test_an_unknown_key_or_value_is_a_one_line_usage_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, bad: str, message: str
) -> None:
    code, out, err = run(capsys, monkeypatch, *answers(*ONE_COMPANY_RELATIONAL, bad))
    assert code == EXIT_USAGE
    assert out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("accord: error: --answer: ")
    assert message in err


def test_contradicting_answers_are_a_usage_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = answers(*ONE_COMPANY_RELATIONAL, "relational_data=no")
    code, _, err = run(capsys, monkeypatch, *argv)
    assert code == EXIT_USAGE
    assert "relational_data is given both yes and no" in err
    # the same answer twice is no contradiction
    code, _, _ = run(capsys, monkeypatch, *answers(*ONE_COMPANY_RELATIONAL, "relational_data=y"))
    assert code == EXIT_OK


def test_without_a_terminal_missing_answers_are_a_usage_error_naming_them(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = run(capsys, monkeypatch, *answers("crosses_trust_boundaries=no"))
    assert code == EXIT_USAGE
    assert out == ""
    assert "missing answers for relational_data, unstructured_files:" in err
    assert err.count("\n") == 1


def test_without_a_terminal_nothing_is_asked_or_read(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    stdin = Pipe("yes\nyes\nyes\n")
    code, _, err = run(capsys, monkeypatch, stdin=stdin)
    assert code == EXIT_USAGE
    assert "crosses_trust_boundaries" in err
    assert "[y/n]" not in err
    assert stdin.tell() == 0


def test_on_a_terminal_the_missing_questions_are_asked_and_bad_answers_asked_again(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: crosses_trust_boundaries=no; asked: relational_data (after one bad answer), files
    stdin = Terminal("perhaps\nn\nYes\n")
    code, out, err = run(
        capsys, monkeypatch, "--json", *answers("crosses_trust_boundaries=no"), stdin=stdin
    )
    assert code == EXIT_OK
    assert json.loads(out)["recommendations"] == ["immutable-documents"]
    assert "Is the data to protect relational?" in err
    assert "Is the data to protect unstructured files that must not change?" in err
    assert "Does the process cross trust boundaries?" not in err  # it was answered
    assert err.count("please answer yes or no") == 1
    assert "[y/n]" not in out  # prompts stay off stdout


def test_on_a_terminal_the_tree_asks_only_what_the_path_needs(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # crosses: yes, trust each other: no, several writers: no, manual checks: yes, files: no
    stdin = Terminal("y\nn\nn\ny\nn\n")
    code, out, err = run(capsys, monkeypatch, "--json", stdin=stdin)
    assert code == EXIT_OK
    assert json.loads(out)["recommendations"] == ["confidential-ledger"]
    assert "Can the process run centrally?" not in err
    assert "Does an intermediary control the single source of truth?" not in err
    assert err.count("[y/n]") == 5


def test_end_of_input_at_a_prompt_stops_cleanly(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = run(capsys, monkeypatch, stdin=Terminal("y\n"))
    assert code == EXIT_INTERRUPTED
    assert out == ""
    assert "Traceback" not in err
    assert err.endswith("accord: advise: stopped (end of input)\n")


def test_help_lists_every_key_and_question() -> None:
    from accord.advise import QUESTIONS

    done = subprocess.run(
        [sys.executable, "-m", "accord.cli.main", "advise", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    for q in QUESTIONS:
        assert q.key in done.stdout
        assert q.text in done.stdout


def test_the_installed_command_reads_no_prompt_from_a_pipe() -> None:
    """A real process with stdin a pipe: missing answers exit 2, complete ones print the advice."""
    cmd = [sys.executable, "-m", "accord.cli.main", "advise", "--json"]
    done = subprocess.run(cmd, input="y\n", capture_output=True, text=True)
    assert done.returncode == EXIT_USAGE
    assert "missing answers for crosses_trust_boundaries," in done.stderr
    done = subprocess.run(
        cmd + answers(*SUPPLY_CHAIN[:-1], "unstructured_files=yes"),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
    )
    assert done.returncode == EXIT_OK, done.stderr
    assert json.loads(done.stdout)["recommendations"] == ["consortium", "immutable-documents"]
