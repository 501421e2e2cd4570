"""The catalogue: ids, digests, input and parameter checks, and the clear reference results."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction

import pytest

from accord.compute import catalogue, psi
from accord.compute.catalogue import (
    PROGRAMS,
    check_inputs,
    check_params,
    check_party_count,
    get_program,
    program_digest,
)
from accord.errors import InvalidRequest, NotFound

EXPECTED_IDS = {
    "sum",
    "mean",
    "variance",
    "min",
    "max",
    "argmin",
    "argmax",
    "threshold",
    "intersection-size",
    "psi",
}


def test_catalogue_has_every_program() -> None:
    assert set(PROGRAMS) == EXPECTED_IDS
    for program in PROGRAMS.values():
        assert len(program.sha256) == 64
        assert program.summary()["sha256"] == program.sha256
    assert len({p.sha256 for p in PROGRAMS.values()}) == len(PROGRAMS)


def test_unknown_program_lists_the_ids() -> None:
    with pytest.raises(NotFound, match="sum, mean") as info:
        get_program("median")
    assert "intersection-size" in str(info.value)
    with pytest.raises(NotFound):
        get_program(None)


def test_digest_is_stable_across_processes() -> None:
    code = (
        "from accord.compute.catalogue import PROGRAMS;"
        "print(' '.join(p.id + '=' + p.sha256 for p in PROGRAMS.values()))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert dict(pair.split("=") for pair in out) == {p.id: p.sha256 for p in PROGRAMS.values()}


def test_digest_covers_id_version_constants_and_source() -> None:
    base = program_digest("sum", 1, {"A": 1}, [catalogue._sum_clear])
    assert program_digest("sum", 1, {"A": 1}, [catalogue._sum_clear]) == base
    assert program_digest("sum", 2, {"A": 1}, [catalogue._sum_clear]) != base
    assert program_digest("mean", 1, {"A": 1}, [catalogue._sum_clear]) != base
    assert program_digest("sum", 1, {"A": 2}, [catalogue._sum_clear]) != base
    assert program_digest("sum", 1, {"A": 1}, [catalogue._min_clear]) != base


def test_importing_the_catalogue_does_not_import_mpyc() -> None:
    code = (
        "import sys, accord.compute.catalogue, accord.compute.party; print('mpyc' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"a": 1}, "list of integers per party, not dict"),
        ([], "1 to 100000 values per party, not 0"),
        ([1, "2"], r"value \[1\] is str '2', not an integer"),
        ([1, 2.5], r"value \[1\] is float"),
        ([True], r"value \[0\] is a boolean"),
        ([2**31], r"value \[0\] = 2147483648 is out of range"),
        ([-(2**31)], "out of range"),
        (list(range(100_001)), "not 100001"),
    ],
)
def test_bad_values_are_rejected_with_a_clear_message(value: object, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        check_inputs(get_program("sum"), value)


def test_values_at_the_limits_are_accepted() -> None:
    values = [2**31 - 1, -(2**31) + 1, 0]
    assert check_inputs(get_program("max"), values) == values
    assert len(check_inputs(get_program("sum"), [7] * 100_000)) == 100_000


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("abc", "list of strings per party, not str"),
        ([], "1 to 500 items per party, not 0"),
        ([f"x{i}" for i in range(501)], "not 501"),
        (["a", 3], r"item \[1\] is int"),
        (["a", ""], r"item \[1\] is 0 bytes"),
        (["é" * 129], r"item \[0\] is 258 bytes of UTF-8"),
        (["a\nb"], "control character"),
        (["a", "b", "a"], r"item \[2\] 'a' appears twice"),
        (["\ud800"], "not valid Unicode"),
    ],
)
def test_bad_sets_are_rejected_with_a_clear_message(value: object, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        check_inputs(get_program("intersection-size"), value)


def test_psi_takes_larger_sets() -> None:
    items = [f"x{i}" for i in range(5000)]
    assert check_inputs(get_program("psi"), items) == items
    assert check_inputs(get_program("psi"), ["é" * 128]) == ["é" * 128]


def test_params() -> None:
    threshold = get_program("threshold")
    assert check_params(threshold, {"limit": -5}) == {"limit": -5}
    with pytest.raises(InvalidRequest, match="needs the parameter 'limit'"):
        check_params(threshold, {})
    with pytest.raises(InvalidRequest, match="must be an integer"):
        check_params(threshold, {"limit": "5"})
    with pytest.raises(InvalidRequest, match="must be an integer"):
        check_params(threshold, {"limit": True})
    with pytest.raises(InvalidRequest, match="out of range"):
        check_params(threshold, {"limit": 2**60})
    with pytest.raises(InvalidRequest, match="no parameter 'limti'"):
        check_params(threshold, {"limit": 1, "limti": 1})
    assert check_params(get_program("sum"), None) == {}
    with pytest.raises(InvalidRequest, match=r"takes: none"):
        check_params(get_program("sum"), {"limit": 1})
    with pytest.raises(InvalidRequest, match="must be an object"):
        check_params(get_program("sum"), [1])


def test_party_counts() -> None:
    check_party_count(get_program("sum"), 3)
    with pytest.raises(InvalidRequest, match="honest majority"):
        check_party_count(get_program("sum"), 2)
    with pytest.raises(InvalidRequest, match="3 to 10 parties, not 11"):
        check_party_count(get_program("sum"), 11)
    check_party_count(get_program("psi"), 2)
    with pytest.raises(InvalidRequest, match="exactly 2 parties, not 3"):
        check_party_count(get_program("psi"), 3)


def _clear(program_id: str, inputs: list, params: dict | None = None) -> dict:
    return get_program(program_id).clear(inputs, params or {})


def test_clear_results() -> None:
    inputs = [[3, -1], [4], [-1, 10, 2]]
    assert _clear("sum", inputs) == {"sum": 17}
    assert _clear("mean", inputs) == {"numerator": 17, "denominator": 6, "value": 17 / 6}
    values = [3, -1, 4, -1, 10, 2]
    variance = Fraction(sum(v * v for v in values), 6) - Fraction(17, 6) ** 2
    assert _clear("variance", inputs) == {
        "numerator": variance.numerator,
        "denominator": variance.denominator,
        "value": float(variance),
    }
    assert _clear("min", inputs) == {"min": -1}
    assert _clear("max", inputs) == {"max": 10}
    assert _clear("argmin", inputs) == {"index": 0}  # a tie between parties 0 and 2
    assert _clear("argmax", inputs) == {"index": 2}
    assert _clear("argmax", [[5], [9], [9]]) == {"index": 1}
    assert _clear("threshold", inputs, {"limit": 16}) == {"exceeds": True}
    assert _clear("threshold", inputs, {"limit": 17}) == {"exceeds": False}
    assert _clear("mean", [[2], [2], [2]]) == {"numerator": 2, "denominator": 1, "value": 2.0}
    assert _clear("variance", [[2], [2], [2]])["numerator"] == 0


def test_clear_set_results() -> None:
    sets = [["a", "b", "c"], ["b", "c", "d"], ["c", "b", "x"]]
    assert _clear("intersection-size", sets) == {"size": 2}
    result = _clear("psi", [["b", "a", "c"], ["c", "b", "z"]])
    assert result == {"size": 2, "itemsSha256": psi.intersection_digest(["b", "c"])}
    import hashlib

    assert result["itemsSha256"] == hashlib.sha256(b"b\nc").hexdigest()


def test_polynomial_helpers() -> None:
    p = 2**127 - 1
    roots = [5, 7, 11]
    coefficients = catalogue._polynomial_from_roots(roots, 3, p)
    for x in [*roots, 4, 0]:
        value = sum(c * pow(x, k, p) for k, c in enumerate(coefficients)) % p
        expected = 3 * (x - 5) * (x - 7) * (x - 11) % p
        assert value == expected
    assert catalogue._powers(3, 4, p) == [1, 3, 9, 27, 81]
    assert 0 <= catalogue._item_hash("x") < 2**120
