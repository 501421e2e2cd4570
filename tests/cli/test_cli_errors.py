"""CLI misuse gets one clear error line and a non-zero exit, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from accord.cli.main import main
from accord.datadir import init_data_dir


def test_file_and_option_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = init_data_dir(tmp_path / "d", name="cli.test/ledger")
    cases = [
        [
            "receipt",
            "verify",
            str(tmp_path / "missing.json"),
            "--vkey",
            str(data / "checkpoint.vkey"),
        ],
        ["verify", "--data", str(tmp_path / "not-a-ledger")],
        ["append", "--url", "https://127.0.0.1:1", "--token", f"@{tmp_path / 'no-token'}", "x"],
        ["init", "--data", str(data.path)],
    ]
    for argv in cases:
        assert main(argv) == 1, argv
        err = capsys.readouterr().err
        assert err.startswith("accord: error:") and "Traceback" not in err, (argv, err)
        assert err.count("\n") == 1, err
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--data", str(data.path), "--port", "99999"])
    assert exit_info.value.code == 2
    assert "outside 0-65535" in capsys.readouterr().err


def test_failed_init_leaves_nothing_and_can_be_rerun(tmp_path: Path) -> None:
    target = tmp_path / "new"
    assert (
        main(["init", "--data", str(target), "--storage", "postgresql://nobody@127.0.0.1:1/x"]) == 1
    )
    assert not target.exists()
    assert main(["init", "--data", str(target)]) == 0
    assert (target / "config.json").is_file()
