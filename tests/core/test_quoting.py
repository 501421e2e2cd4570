"""Rejected input is quoted back only when it is short and printable."""

from __future__ import annotations

import pytest

from accord.core.entry import validate_collection_id
from accord.core.note import Verifier
from accord.core.quoting import quoted
from accord.errors import InvalidRequest, MalformedInput
from accord.identity import make_user_identity


def test_short_printable_values_are_quoted() -> None:
    assert quoted("bad id") == "'bad id'"
    assert quoted(12) == "12"


@pytest.mark.parametrize("value", ["x" * 65, "two\nlines", "tab\there", "\x00"])
def test_other_values_are_described_not_shown(value: str) -> None:
    text = quoted(value)
    assert value not in text and text.startswith("(a ") and "\n" not in text


def test_a_private_key_given_as_a_verifier_key_is_not_echoed() -> None:
    pem = make_user_identity("someone").key_pem().decode()
    with pytest.raises(MalformedInput) as info:
        Verifier.from_vkey(pem)
    body = "".join(pem.splitlines()[1:-1])
    message = str(info.value)
    assert all(body[i : i + 12] not in message for i in range(0, len(body) - 12))


def test_a_huge_collection_id_is_not_echoed() -> None:
    with pytest.raises(InvalidRequest) as info:
        validate_collection_id("x" * 5_000_000)
    assert len(str(info.value)) < 300
