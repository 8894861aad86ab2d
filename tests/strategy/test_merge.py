"""A stale save merged with what was saved meanwhile: the strategy as it was at a version, and the
three-way merge per field that the conflict form shows."""

import pytest

from strategy.models import STRATEGY_FIELDS
from strategy.selectors import deal_strategy, strategy_merge, strategy_texts_at
from strategy.services import strategy_update


@pytest.fixture
def three_versions(deal, rep, manager):
    strategy_update(deal=deal, by=rep, expected_version=0, situation="Slow quotes", risks="Budget")
    strategy_update(deal=deal, by=manager, expected_version=1, risks="Budget freeze")
    strategy_update(deal=deal, by=rep, expected_version=2, next_moves="Call the CFO", situation="")
    return deal_strategy(deal)


def test_the_text_at_each_version_is_rebuilt_from_the_revisions(three_versions):
    blank = dict.fromkeys(STRATEGY_FIELDS, "")

    assert strategy_texts_at(three_versions, 0) == blank
    assert strategy_texts_at(three_versions, 1) == {**blank, "situation": "Slow quotes", "risks": "Budget"}
    assert strategy_texts_at(three_versions, 2) == {
        **blank,
        "situation": "Slow quotes",
        "risks": "Budget freeze",
    }
    assert strategy_texts_at(three_versions, 3) == {
        **blank,
        "risks": "Budget freeze",
        "next_moves": "Call the CFO",
    }


def test_fields_changed_on_one_side_only_merge_without_conflict(three_versions):
    # Typed over version 1: the writer changed the desired result only.
    mine = {**strategy_texts_at(three_versions, 1), "desired_result": "Quotes in a day"}

    merge = strategy_merge(three_versions, base_version=1, mine=mine)

    assert merge.conflicting == []
    assert merge.texts == {
        "situation": "",  # cleared meanwhile, untouched by the writer
        "desired_result": "Quotes in a day",  # the writer's
        "our_perspective": "",
        "risks": "Budget freeze",  # changed meanwhile
        "next_moves": "Call the CFO",
    }


def test_a_field_both_changed_differently_is_a_conflict_that_keeps_the_writers_text(three_versions):
    mine = {**strategy_texts_at(three_versions, 1), "risks": "Legal review"}

    merge = strategy_merge(three_versions, base_version=1, mine=mine)

    assert merge.conflicting == ["risks"]
    assert merge.texts["risks"] == "Legal review"


def test_the_same_change_on_both_sides_is_no_conflict(three_versions):
    mine = {**strategy_texts_at(three_versions, 1), "risks": "Budget freeze"}

    assert strategy_merge(three_versions, base_version=1, mine=mine).conflicting == []


def test_fields_the_writer_did_not_send_take_the_saved_text(three_versions):
    merge = strategy_merge(three_versions, base_version=1, mine={"our_perspective": "CPQ"})

    assert merge.conflicting == []
    assert merge.texts["our_perspective"] == "CPQ" and merge.texts["next_moves"] == "Call the CFO"
