"""The decision guide's logic (accord.advise): the mission's examples, mixed cases, the tree."""

from __future__ import annotations

import argparse
import itertools
import re
import shlex

import pytest

from accord.advise import (
    KEYS,
    QUESTIONS,
    Advice,
    Option,
    advise,
    commands_for,
    missing_answers,
    next_question,
    parse_yes_no,
)
from accord.cli.main import build_parser
from accord.errors import ConfigurationError

SUPPLY_CHAIN = {  # raw-material supplier → manufacturer → shippers → retailers
    "crosses_trust_boundaries": True,
    "parties_trust_each_other": False,
    "multiple_writers": True,
    "intermediary_controls_truth": True,
    "can_run_centrally": False,
    "manual_verification": True,
    "relational_data": False,
    "unstructured_files": False,
}
ONE_COMPANY_RELATIONAL = {
    "crosses_trust_boundaries": False,
    "relational_data": True,
    "unstructured_files": False,
}
FILES_THAT_MUST_NOT_CHANGE = {
    "crosses_trust_boundaries": False,
    "relational_data": False,
    "unstructured_files": True,
}
EVERYONE_TRUSTS_EVERYONE = {
    "crosses_trust_boundaries": True,
    "parties_trust_each_other": True,
    "relational_data": False,
    "unstructured_files": False,
}

CITATION = re.compile(r"^((?:[a-z_]+=(?:yes|no))(?:, [a-z_]+=(?:yes|no))*): ")


def cited(reason: str) -> dict[str, bool]:
    """The answers a reason cites in its ``key=yes|no, ...: `` prefix (it must have one)."""
    match = CITATION.match(reason)
    assert match, f"reason cites no answer: {reason!r}"
    pairs = (item.split("=") for item in match.group(1).split(", "))
    return {key: value == "yes" for key, value in pairs}


def all_complete_answers() -> list[dict[str, bool]]:
    return [
        dict(zip(KEYS, values, strict=True))
        for values in itertools.product((True, False), repeat=len(KEYS))
    ]


# --- the mission's examples ----------------------------------------------------------------------
def test_supply_chain_across_companies_is_a_consortium() -> None:
    advice = advise(SUPPLY_CHAIN)
    assert advice.recommendations == (Option.CONSORTIUM,)
    assert any("manual_verification=yes" in r and "strengthens" in r for r in advice.reasons)
    assert advice.commands[0].startswith("accord consortium create --orgs ")


def test_one_company_with_relational_data_gets_ledger_tables() -> None:
    advice = advise(ONE_COMPANY_RELATIONAL)
    assert advice.recommendations == (Option.LEDGER_TABLES,)
    assert any(c.startswith("accord tables create --db ") for c in advice.commands)


def test_files_that_must_not_change_get_immutable_documents() -> None:
    advice = advise(FILES_THAT_MUST_NOT_CHANGE)
    assert advice.recommendations == (Option.IMMUTABLE_DOCUMENTS,)
    assert "accord serve --data accord-data --s3-port 8444" in advice.commands


def test_everyone_trusting_everyone_needs_no_ledger_and_no_command() -> None:
    advice = advise(EVERYONE_TRUSTS_EVERYONE)
    assert advice.recommendations == (Option.NO_LEDGER,)
    assert advice.commands == ()
    # ...whatever they would have said to the questions that only a distrustful process needs
    for writers, intermediary in itertools.product((True, False), repeat=2):
        more = {
            **EVERYONE_TRUSTS_EVERYONE,
            "multiple_writers": writers,
            "intermediary_controls_truth": intermediary,
        }
        assert advise(more).recommendations == (Option.NO_LEDGER,)


# --- mixed cases -----------------------------------------------------------------------------------
def distrust(**answers: bool) -> dict[str, bool]:
    base = {
        "crosses_trust_boundaries": True,
        "parties_trust_each_other": False,
        "manual_verification": False,
        "unstructured_files": False,
    }
    return {**base, **answers}


def test_one_writer_across_a_trust_boundary_is_the_confidential_ledger() -> None:
    advice = advise(distrust(multiple_writers=False))
    assert advice.recommendations == (Option.CONFIDENTIAL_LEDGER,)
    assert advice.commands == ("accord init --data accord-data", "accord serve --data accord-data")


def test_several_writers_who_accept_one_operator_get_the_confidential_ledger() -> None:
    answers = distrust(
        multiple_writers=True, intermediary_controls_truth=False, can_run_centrally=True
    )
    assert advise(answers).recommendations == (Option.CONFIDENTIAL_LEDGER,)


def test_several_writers_and_no_acceptable_operator_get_a_consortium() -> None:
    answers = distrust(
        multiple_writers=True, intermediary_controls_truth=False, can_run_centrally=False
    )
    assert advise(answers).recommendations == (Option.CONSORTIUM,)


def test_an_intermediary_holding_the_truth_means_a_consortium_even_if_it_could_run_centrally() -> (
    None
):
    answers = distrust(
        multiple_writers=True, intermediary_controls_truth=True, can_run_centrally=True
    )
    assert advise(answers).recommendations == (Option.CONSORTIUM,)


def test_files_across_a_trust_boundary_add_immutable_documents() -> None:
    answers = {**SUPPLY_CHAIN, "unstructured_files": True}
    assert advise(answers).recommendations == (Option.CONSORTIUM, Option.IMMUTABLE_DOCUMENTS)
    one_writer = distrust(multiple_writers=False, unstructured_files=True)
    advice = advise(one_writer)
    assert advice.recommendations == (Option.CONFIDENTIAL_LEDGER, Option.IMMUTABLE_DOCUMENTS)
    # one served data directory for both: one init, one serve (with the S3 port), in that order
    assert advice.commands == (
        "accord init --data accord-data",
        "accord documents keys create --data accord-data --user accord-data/admin.crt",
        "accord serve --data accord-data --s3-port 8444",
    )


def test_relational_data_and_files_in_one_company_get_both_and_tables_anchor_through_the_service() -> (
    None
):
    answers = {**ONE_COMPANY_RELATIONAL, "unstructured_files": True}
    advice = advise(answers)
    assert advice.recommendations == (Option.LEDGER_TABLES, Option.IMMUTABLE_DOCUMENTS)
    assert advice.commands.count("accord init --data accord-data") == 1
    # the server locks its data directory, so the tables anchor through its URL, started after it
    serve = next(i for i, c in enumerate(advice.commands) if c.startswith("accord serve"))
    anchor = next(i for i, c in enumerate(advice.commands) if "tables anchor" in c)
    assert advice.commands[serve].endswith(" &")
    assert serve < anchor
    assert (
        "--ledger https://127.0.0.1:8443 --cacert accord-data/service.crt"
        in (advice.commands[anchor])
    )


def test_ledger_tables_alone_anchor_in_the_data_directory() -> None:
    advice = advise(ONE_COMPANY_RELATIONAL)
    assert advice.commands == (
        "accord init --data accord-data",
        'accord tables create --db sqlite:shop.db "CREATE TABLE payments (id INTEGER PRIMARY KEY,'
        ' amount NUMERIC, payee TEXT)"',
        "accord tables anchor --db shop.db --ledger accord-data --interval 60 &",
        "accord tables verify --db shop.db --ledger accord-data",
    )


def test_unused_answers_are_accepted_and_named() -> None:
    answers = {**ONE_COMPANY_RELATIONAL, "multiple_writers": True, "can_run_centrally": False}
    advice = advise(answers)
    assert advice.recommendations == (Option.LEDGER_TABLES,)
    assert advice.reasons[-1].startswith("multiple_writers=yes, can_run_centrally=no: not needed")


# --- properties over every complete set of answers ---------------------------------------------
@pytest.mark.parametrize(
    "answers", all_complete_answers(), ids=lambda a: "".join("yn"[not v] for v in a.values())
)
def test_every_reason_cites_answers_that_were_given(answers: dict[str, bool]) -> None:
    advice = advise(answers)
    assert advice.recommendations and advice.reasons
    for reason in advice.reasons:
        for key, value in cited(reason).items():
            assert answers[key] is value, reason
    assert len(set(advice.recommendations)) == len(advice.recommendations)
    if Option.NO_LEDGER in advice.recommendations:
        assert advice.recommendations == (Option.NO_LEDGER,)
        assert advice.commands == ()
    else:
        assert advice.commands
    assert advise(dict(answers)) == advice  # deterministic


def test_the_recommendation_values_are_the_documented_ones() -> None:
    seen = {r for a in all_complete_answers() for r in advise(a).recommendations}
    assert {str(r) for r in seen} == {
        "consortium",
        "confidential-ledger",
        "ledger-tables",
        "immutable-documents",
        "no-ledger",
    }


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def test_every_printed_command_is_a_real_accord_command_with_real_flags() -> None:
    """Each command's subcommands and flags exist in ``accord``'s parser."""
    every = {c for a in all_complete_answers() for c in advise(a).commands}
    assert len(every) > 10
    for command in every:
        words = shlex.split(command.removesuffix(" &"))
        assert words[0] == "accord", command
        parser = build_parser()
        for word in words[1:]:
            children = _subparsers(parser)
            if word.startswith("-") or not children:
                break
            assert word in children, command
            parser = children[word]
        flags = {s for a in parser._actions for s in a.option_strings}
        for word in words:
            if word.startswith("--"):
                assert word in flags, (word, command)


# --- the questions the answers still need ------------------------------------------------------
def test_with_no_answers_every_question_may_be_needed_and_the_first_is_trust_boundaries() -> None:
    assert missing_answers({}) == QUESTIONS
    first = next_question({})
    assert first is not None and first.key == "crosses_trust_boundaries"


def test_inside_one_trust_boundary_only_the_data_questions_are_needed() -> None:
    missing = missing_answers({"crosses_trust_boundaries": False})
    assert [q.key for q in missing] == ["relational_data", "unstructured_files"]


def test_one_writer_needs_neither_the_intermediary_nor_the_central_question() -> None:
    answers = {
        "crosses_trust_boundaries": True,
        "parties_trust_each_other": False,
        "multiple_writers": False,
    }
    assert [q.key for q in missing_answers(answers)] == [
        "manual_verification",
        "unstructured_files",
    ]


def test_missing_answers_are_an_error_naming_them() -> None:
    with pytest.raises(
        ConfigurationError, match=r"missing answers: relational_data, unstructured_files"
    ):
        advise({"crosses_trust_boundaries": False})


def test_an_unknown_key_is_an_error_listing_the_keys() -> None:
    with pytest.raises(
        ConfigurationError, match=r"unknown question 'crosses'.*crosses_trust_boundaries"
    ):
        advise({**ONE_COMPANY_RELATIONAL, "crosses": True})
    with pytest.raises(ConfigurationError, match="unknown question"):
        next_question({"nonsense": True})


@pytest.mark.parametrize(
    ("text", "value"), [("yes", True), ("Y", True), (" no\n", False), ("n", False)]
)
def test_yes_and_no(text: str, value: bool) -> None:
    assert parse_yes_no(text) is value


@pytest.mark.parametrize("text", ["", "true", "1", "yess", "maybe"])
def test_anything_else_is_not_an_answer(text: str) -> None:
    with pytest.raises(ConfigurationError):
        parse_yes_no(text)


def test_json_shape() -> None:
    advice = Advice((Option.NO_LEDGER,), ("crosses_trust_boundaries=no: x",), ())
    assert advice.to_json() == {
        "recommendations": ["no-ledger"],
        "reasons": ["crosses_trust_boundaries=no: x"],
        "commands": [],
    }
    assert commands_for([Option.NO_LEDGER]) == ()
