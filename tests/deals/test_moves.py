"""deal_move and the close services: the gate, the lock and the stage history."""

import pytest

from deals.models import DealStep, StageChange
from deals.services import deal_lose, deal_move, deal_win
from salesproc.lib.errors import CriteriaUnmet, InvalidInput, NotAllowed, StaleVersion
from salesproc.services import criterion_add


def test_creating_a_deal_enters_the_first_stage(deal, stages):
    entries = list(StageChange.objects.filter(deal=deal))
    assert len(entries) == 1
    assert entries[0].to_stage == stages[0]
    assert entries[0].from_stage is None
    assert entries[0].left_at is None
    assert entries[0].process_version == deal.process.current_version
    assert deal.stage == stages[0]


def test_move_writes_one_stage_change_and_closes_the_previous(deal, rep, stages):
    deal_move(deal=deal, to_stage=stages[1], by=rep, expected_version=deal.version)
    entries = list(StageChange.objects.filter(deal=deal).order_by("entered_at", "id"))
    assert len(entries) == 2
    assert entries[0].left_at == entries[1].entered_at
    assert entries[1].from_stage == stages[0] and entries[1].left_at is None
    deal.refresh_from_db()
    assert deal.stage == stages[1] and deal.version == 2
    assert deal.stage_entered_at == entries[1].entered_at


def test_stale_version_is_refused_and_writes_nothing(deal, rep, stages):
    with pytest.raises(StaleVersion) as exc:
        deal_move(deal=deal, to_stage=stages[1], by=rep, expected_version=deal.version + 5)
    assert exc.value.current_version == 1
    assert StageChange.objects.filter(deal=deal).count() == 1
    deal.refresh_from_db()
    assert deal.stage == stages[0] and deal.version == 1


def test_unmet_mandatory_step_blocks_and_is_listed(deal, rep, ops, stages):
    criterion_add(stage=stages[0], by=ops, kind="step", label="Confirm budget", importance="mandatory")
    deal.refresh_from_db()
    with pytest.raises(CriteriaUnmet) as exc:
        deal_move(deal=deal, to_stage=stages[1], by=rep, expected_version=deal.version)
    assert [c["label"] for c in exc.value.unmet] == ["Confirm budget"]
    assert exc.value.can_override is False
    assert StageChange.objects.filter(deal=deal).count() == 1


def test_manager_overrides_mandatory_with_reason(deal, rep, manager, ops, stages):
    criterion_add(
        stage=stages[0],
        by=ops,
        kind="field",
        field_name="expected_close",
        label="Close date",
        importance="mandatory",
    )
    deal_move(
        deal=deal, to_stage=stages[1], by=manager, expected_version=deal.version, override_reason="Verbal yes"
    )
    entry = StageChange.objects.get(deal=deal, to_stage=stages[1])
    assert entry.override_reason == "Verbal yes"
    assert [c["label"] for c in entry.overridden_criteria] == ["Close date"]


def test_rep_cannot_override(deal, rep, ops, stages):
    criterion_add(
        stage=stages[0],
        by=ops,
        kind="field",
        field_name="expected_close",
        label="Close date",
        importance="mandatory",
    )
    with pytest.raises(NotAllowed):
        deal_move(
            deal=deal, to_stage=stages[1], by=rep, expected_version=deal.version, override_reason="trust me"
        )
    assert StageChange.objects.filter(deal=deal).count() == 1


def test_critical_is_never_skippable(deal, manager, ops, stages):
    criterion_add(
        stage=stages[0],
        by=ops,
        kind="stakeholder_role",
        role="economic_buyer",
        label="EB",
        importance="critical",
    )
    with pytest.raises(CriteriaUnmet) as exc:
        deal_move(
            deal=deal, to_stage=stages[1], by=manager, expected_version=deal.version, override_reason="please"
        )
    assert exc.value.can_override is False
    assert StageChange.objects.filter(deal=deal).count() == 1


def test_back_move_is_free_and_steps_are_not_duplicated(deal, rep, ops, stages):
    criterion_add(stage=stages[1], by=ops, kind="step", label="Discovery call", importance="optional")
    deal_move(deal=deal, to_stage=stages[1], by=rep, expected_version=deal.version)
    deal_move(deal=deal, to_stage=stages[0], by=rep, expected_version=deal.version)
    deal_move(deal=deal, to_stage=stages[1], by=rep, expected_version=deal.version)
    assert DealStep.objects.filter(deal=deal, title="Discovery call").count() == 1
    entries = list(StageChange.objects.filter(deal=deal).order_by("entered_at", "id"))
    assert len(entries) == 4
    for a, b in zip(entries, entries[1:], strict=False):
        assert a.left_at == b.entered_at


def test_win_and_lose_close_the_open_entry(deal, rep, process, account):
    from deals.services import deal_create

    deal_win(deal=deal, by=rep, expected_version=deal.version)
    deal.refresh_from_db()
    assert deal.status == "won" and deal.closed_at is not None
    assert not StageChange.objects.filter(deal=deal, left_at__isnull=True).exists()
    other = deal_create(by=rep, process=process, name="Second", account=account)
    with pytest.raises(InvalidInput):
        deal_lose(deal=other, by=rep, expected_version=other.version, reason="  ")
    deal_lose(deal=other, by=rep, expected_version=other.version, reason="Price")
    other.refresh_from_db()
    assert other.status == "lost" and other.lost_reason == "Price"
    assert StageChange.objects.get(deal=other).left_at == other.closed_at


def test_another_reps_deal_is_read_only(deal, other_rep, stages):
    with pytest.raises(NotAllowed):
        deal_move(deal=deal, to_stage=stages[1], by=other_rep, expected_version=deal.version)
    assert StageChange.objects.filter(deal=deal).count() == 1
