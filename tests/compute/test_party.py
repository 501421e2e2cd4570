"""The party subprocess, for real: one process per party on 127.0.0.1, mutual TLS with pinning.

Every catalogue program's MPC result must equal its clear reference exactly; refusals (digest,
pins, foreign CA), drop-outs and timeouts must end every surviving party with an error and no
result.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import ssl
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from accord.compute import ComputeError
from accord.compute.catalogue import get_program
from accord.compute.local import (
    LocalConsortium,
    make_local_consortium,
    party_configs,
    run_configs,
)
from accord.compute.party import run_party_subprocess
from accord.identity import make_node_identity, make_service_identity

TIMEOUT = 30.0


@pytest.fixture(scope="module")
def consortium(tmp_path_factory: pytest.TempPathFactory) -> LocalConsortium:
    """Five certificates from one CA: jobs use the first ones, the rest play impostors."""
    return make_local_consortium(tmp_path_factory.mktemp("consortium"), 5)


def run(configs: Sequence[dict[str, Any]], timeout: float = TIMEOUT) -> list[Any]:
    return asyncio.run(run_configs(configs, timeout=timeout))


def run_job(
    consortium: LocalConsortium,
    program_id: str,
    inputs: Sequence[Any],
    params: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    answers = run(party_configs(consortium, program_id, inputs, params, timeout=TIMEOUT))
    for answer in answers:
        if isinstance(answer, BaseException):
            raise answer
    return answers


def assert_matches_clear(
    consortium: LocalConsortium,
    program_id: str,
    inputs: Sequence[Any],
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    expected = get_program(program_id).clear(inputs, params or {})
    answers = run_job(consortium, program_id, inputs, params)
    for answer in answers:
        assert answer["result"] == expected, (program_id, inputs)
        assert answer["mpyc"] == "0.11"
        assert answer["elapsedSeconds"] > 0
        assert "private" not in answer or program_id == "psi"
    return answers[0]


def random_values(rng: random.Random, sizes: Sequence[int], bound: int = 2**31 - 1) -> list:
    return [[rng.randint(-bound, bound) for _ in range(n)] for n in sizes]


VALUE_PROGRAMS = ["sum", "mean", "variance", "min", "max", "argmin", "argmax"]


@pytest.mark.parametrize("program_id", VALUE_PROGRAMS)
def test_value_programs_equal_the_clear_reference(
    consortium: LocalConsortium, program_id: str
) -> None:
    rng = random.Random(program_id)
    # random full-range values of uneven counts, then small values with ties between parties
    assert_matches_clear(consortium, program_id, random_values(rng, [1, 7, 3]))
    tied = [[5, -3, 9], [-3, 9, 2], [9, 4, -3]]  # min -3 and max 9 at every party
    assert_matches_clear(consortium, program_id, tied)


def test_extreme_values(consortium: LocalConsortium) -> None:
    top, bottom = 2**31 - 1, -(2**31) + 1
    inputs = [[top] * 50, [bottom], [top, bottom, 0]]
    for program_id in ("variance", "max", "argmin"):
        assert_matches_clear(consortium, program_id, inputs)


def test_argmin_argmax_ties_go_to_the_lowest_index(consortium: LocalConsortium) -> None:
    inputs = [[10, 4], [4, 7], [12, 4]]
    assert run_job(consortium, "argmin", inputs)[2]["result"] == {"index": 0}
    inputs = [[1, 3], [12, 0], [12]]
    assert run_job(consortium, "argmax", inputs)[0]["result"] == {"index": 1}


def test_threshold_reveals_the_bit(consortium: LocalConsortium) -> None:
    rng = random.Random(7)
    inputs = random_values(rng, [4, 2, 5], bound=1000)
    total = sum(v for values in inputs for v in values)
    for limit in (total - 1, total, -(2**53)):
        assert_matches_clear(consortium, "threshold", inputs, {"limit": limit})


def test_intersection_size(consortium: LocalConsortium) -> None:
    rng = random.Random(3)
    common = [f"customer-{i}" for i in range(6)]
    sets = []
    for j, n in enumerate([9, 14, 11]):
        own = [f"p{j}-{rng.random()}" for _ in range(n - len(common))]
        sets.append(rng.sample(common + own, n))
    sets[1].append("only-in-0-and-1")
    sets[0].append("only-in-0-and-1")
    assert_matches_clear(consortium, "intersection-size", sets)
    assert_matches_clear(consortium, "intersection-size", [["a"], ["b", "a"], ["c"]])  # none
    assert assert_matches_clear(consortium, "intersection-size", [["ü"], ["ü"], ["ü"]]) == {
        "result": {"size": 1},
        "elapsedSeconds": pytest.approx(1, abs=30),
        "mpyc": "0.11",
    }


def test_four_parties(consortium: LocalConsortium) -> None:
    rng = random.Random(4)
    assert_matches_clear(consortium, "mean", random_values(rng, [3, 1, 2, 5]))
    assert_matches_clear(consortium, "intersection-size", [["x", "y"], ["y", "x"], ["x"], ["x"]])


def test_psi_two_parties(consortium: LocalConsortium) -> None:
    rng = random.Random(5)
    common = [f"iban-{rng.getrandbits(40)}" for _ in range(20)]
    a = common + [f"a-{i}" for i in range(30)]
    b = [f"b-{i}" for i in range(7)] + common[:15]
    rng.shuffle(a)
    answers = run_job(consortium, "psi", [a, b])
    expected_items = sorted(set(a) & set(b))
    for answer in answers:
        assert answer["result"] == get_program("psi").clear([a, b], {})
        assert answer["result"]["size"] == 15
        assert answer["private"] == {"items": expected_items}


def test_no_peer_data_is_unpickled(
    consortium: LocalConsortium, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With pickle.loads poisoned in every party, the programs that use transfer still run."""
    (tmp_path / "sitecustomize.py").write_text(
        "import pickle\n"
        "def _refuse(*args, **kwargs):\n"
        "    raise RuntimeError('pickle.loads called')\n"
        "pickle.loads = _refuse\n"
    )
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])
    )
    assert_matches_clear(consortium, "intersection-size", [["a", "b"], ["b"], ["b", "c"]])
    assert_matches_clear(consortium, "psi", [["a", "b"], ["b", "c"]])


# --------------------------------------------------------------------------------------------
# The process contract: one JSON line on stdout, exit status


async def _run_process(config: dict[str, Any], directory: Path) -> tuple[int, str, str]:
    path = directory / f"party{config.get('index', 'x')}.json"
    path.write_text(json.dumps(config))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "accord.compute.party",
        str(path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), TIMEOUT)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


def test_stdout_is_exactly_one_json_line(consortium: LocalConsortium, tmp_path: Path) -> None:
    configs = party_configs(consortium, "sum", [[1, 2], [3], [4]])

    async def all_parties() -> list[tuple[int, str, str]]:
        return await asyncio.gather(*(_run_process(c, tmp_path) for c in configs))

    for status, stdout, _ in asyncio.run(all_parties()):
        assert status == 0
        assert stdout.endswith("\n")
        assert stdout.count("\n") == 1
        answer = json.loads(stdout)
        assert list(answer) == ["result", "elapsedSeconds", "mpyc"]
        assert answer["result"] == {"sum": 10}


def test_wrong_program_digest_is_refused(consortium: LocalConsortium, tmp_path: Path) -> None:
    config = party_configs(consortium, "sum", [[1], [2], [3]])[1]
    config["programSha256"] = "00" * 32
    status, stdout, stderr = asyncio.run(_run_process(config, tmp_path))
    assert status == 2
    assert stdout.count("\n") == 1
    error = json.loads(stdout)["error"]
    assert "programSha256" in error and get_program("sum").sha256 in error
    assert stderr.strip().splitlines()[-1] == f"accord.compute.party: {error}"
    with pytest.raises(ComputeError, match="programSha256"):
        asyncio.run(run_party_subprocess(config, timeout=TIMEOUT))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"input": [1, 2**40]}, r"value \[1\] = 1099511627776 is out of range"),
        ({"input": "nope"}, "list of integers per party"),
        ({"program": "median"}, "no computation program 'median'"),
        ({"params": {"limit": 3}}, "sum has no parameter 'limit'"),
        ({"index": 3}, "index must be"),
        ({"timeoutSeconds": -1}, "timeoutSeconds"),
        ({"cert": "/nonexistent.pem"}, "cannot load the TLS certificate"),
    ],
)
def test_bad_configuration_is_refused(
    consortium: LocalConsortium, tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    config = party_configs(consortium, "sum", [[1], [2], [3]])[0]
    config.update(change)
    status, stdout, _ = asyncio.run(_run_process(config, tmp_path))
    assert status == 2
    assert json.loads(stdout)["error"]
    with pytest.raises(ComputeError, match=message):
        asyncio.run(run_party_subprocess(config, timeout=TIMEOUT))


def test_two_party_mpyc_job_is_refused(consortium: LocalConsortium) -> None:
    config = party_configs(consortium, "sum", [[1], [2]])[0]
    with pytest.raises(ComputeError, match="honest majority"):
        asyncio.run(run_party_subprocess(config, timeout=TIMEOUT))


# --------------------------------------------------------------------------------------------
# TLS and pinning


def _failures(answers: Sequence[Any]) -> list[str]:
    for answer in answers:
        assert isinstance(answer, ComputeError), answer  # no party printed a result
    return [str(answer) for answer in answers]


def test_a_ca_issued_certificate_that_no_pin_names_is_refused(
    consortium: LocalConsortium,
) -> None:
    """Party 0 runs with another certificate from the same CA (and pins itself to it)."""
    configs = party_configs(consortium, "sum", [[1], [2], [3]], timeout=6)
    impostor = consortium.parties[4]
    configs[0]["cert"], configs[0]["key"] = str(impostor.cert), str(impostor.key)
    configs[0]["parties"][0]["tlsCertSha256"] = impostor.cert_sha256
    errors = _failures(run(configs, timeout=6))
    assert errors[1].startswith("refused a peer whose certificate (SHA-256 ")
    assert f"{impostor.cert_sha256}) is pinned to none of the parties 0..0" in errors[1]
    # TLS 1.3 clients finish their handshake before the server has judged their certificate,
    # so party 0 may have dialled party 2 too before party 1's refusal reaches it.
    assert errors[0] in ("lost the connection to party 1", "lost the connection to party 2")
    # Party 2 refuses party 0 too if it dialled it; or it learns of the failure by party 1
    # leaving, or at its timeout.
    assert errors[2].startswith(
        ("refused a peer whose certificate", "timed out after 6 s", "lost the connection to")
    )


def test_a_listener_whose_certificate_differs_from_the_pin_is_refused(
    consortium: LocalConsortium,
) -> None:
    """Party 0 pins another certificate for party 1: it refuses before sending anything."""
    configs = party_configs(consortium, "sum", [[1], [2], [3]], timeout=6)
    configs[0]["parties"][1]["tlsCertSha256"] = consortium.parties[4].cert_sha256
    errors = _failures(run(configs, timeout=6))
    assert errors[0].startswith("refused party 1 at 127.0.0.1:")
    assert consortium.parties[1].cert_sha256 in errors[0]
    # Parties 1 and 2 never hear from party 0 and give up at their timeout (the first to leave
    # may make the other fail a moment earlier).
    for error in errors[1:]:
        assert error.startswith(("timed out after 6 s", "lost the connection to party")), error


def test_a_certificate_from_another_ca_fails_tls(
    consortium: LocalConsortium, tmp_path: Path
) -> None:
    other = make_node_identity(make_service_identity("elsewhere"), ["127.0.0.1"])
    (tmp_path / "other.pem").write_bytes(other.cert_pem())
    (tmp_path / "other.key").write_bytes(other.key_pem())
    import hashlib

    from cryptography.hazmat.primitives import serialization

    pin = hashlib.sha256(other.cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    configs = party_configs(consortium, "sum", [[1], [2], [3]], timeout=6)
    configs[0]["cert"], configs[0]["key"] = str(tmp_path / "other.pem"), str(tmp_path / "other.key")
    for config in configs:
        config["parties"][0]["tlsCertSha256"] = pin  # even pinned, the CA must have issued it
    errors = _failures(run(configs, timeout=6))
    assert re.match(r"(lost the connection to|TLS with) party [12]", errors[0]), errors[0]
    # The others never accept party 0; they give up at their timeout (the first to leave may
    # make the other fail a moment earlier).
    for error in errors[1:]:
        assert error.startswith(("timed out after 6 s", "lost the connection to party")), error


# --------------------------------------------------------------------------------------------
# Drop-outs and timeouts


def test_a_party_killed_mid_run_fails_the_others(
    consortium: LocalConsortium, tmp_path: Path
) -> None:
    sets = [[f"item-{j}-{i}" for i in range(300)] for j in range(3)]
    configs = party_configs(consortium, "intersection-size", sets, timeout=TIMEOUT)
    victim_config = tmp_path / "victim.json"
    victim_config.write_text(json.dumps(configs[2]))

    async def scenario() -> tuple[list[Any], bytes, float]:
        victim = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "accord.compute.party",
            str(victim_config),
            stdout=asyncio.subprocess.PIPE,
        )
        survivors = asyncio.gather(
            *(run_party_subprocess(c, timeout=TIMEOUT) for c in configs[:2]),
            return_exceptions=True,
        )
        await asyncio.sleep(1.5)  # connected by now; the job takes several seconds
        killed_at = time.monotonic()
        victim.kill()
        victim_out, _ = await victim.communicate()
        answers = await survivors
        return answers, victim_out, time.monotonic() - killed_at

    answers, victim_out, after_kill = asyncio.run(scenario())
    assert victim_out == b""
    errors = _failures(answers)
    for error in errors:
        assert error.startswith("lost the connection to party 2"), error
    assert after_kill < 5


def test_a_missing_party_times_out(consortium: LocalConsortium) -> None:
    configs = party_configs(consortium, "sum", [[1], [2], [3]], timeout=3)
    started = time.monotonic()
    errors = _failures(run(configs[:2], timeout=3))
    # The first to time out leaves; the other may notice that a moment before its own timeout.
    assert "timed out after 3 s" in errors
    assert set(errors) <= {
        "timed out after 3 s",
        "lost the connection to party 0",
        "lost the connection to party 1",
    }
    assert time.monotonic() - started < 8


def test_strangers_on_the_port_do_not_disturb_the_run(consortium: LocalConsortium) -> None:
    """Plain TCP junk and TLS without a client certificate, while party 2 waits for 0 and 1."""
    configs = party_configs(consortium, "sum", [[1], [2], [3]], timeout=TIMEOUT)
    port = configs[2]["parties"][2]["port"]

    async def scenario() -> list[Any]:
        later = asyncio.ensure_future(run_configs(configs[1:], timeout=TIMEOUT))
        for _ in range(100):  # until party 2 listens
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                break
            except OSError:
                await asyncio.sleep(0.05)
        writer.write(b"\x00\x00" + b"junk" * 1000)
        await writer.drain()
        writer.close()
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
        writer.write(b"\x00\x00" + b"x" * 100)  # claims to be party 0
        try:  # the server refuses the handshake: EOF, a reset or a TLS alert
            assert await reader.read() == b""
        except (ConnectionResetError, ssl.SSLError):
            pass
        writer.close()
        first = await run_configs(configs[:1], timeout=TIMEOUT)
        return first + await later

    for answer in asyncio.run(scenario()):
        assert not isinstance(answer, BaseException), answer
        assert answer["result"] == {"sum": 6}
