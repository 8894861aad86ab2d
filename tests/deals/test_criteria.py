"""Exit criteria at the gate of a forward move: every kind at every importance, overrides, and what
meets each kind. Refused moves write nothing: no stage entry, no version bump, the deal stays put."""

from datetime import timedelta

import pytest
from django.utils import timezone

from deals.models import Deal, DealStep, StageChange
from deals.services import (
    activity_log,
    answer_set,
    deal_create,
    deal_move,
    deal_update,
    stakeholder_add,
    stakeholder_update,
    step_set_done,
)
from salesproc.lib.errors import CriteriaUnmet, NotAllowed
from salesproc.services import criterion_add, process_export, process_import
from tests.factories import ContactFactory

# One criterion of each kind, and what a rep does to meet it.
CRITERIA = {
    "step": {"kind": "step", "label": "Confirm the budget holder"},
    "field": {"kind": "field", "label": "Close date known", "field_name": "expected_close"},
    "stakeholder_role": {"kind": "stakeholder_role", "label": "Economic buyer", "role": "economic_buyer"},
    "activity_kind": {"kind": "activity_kind", "label": "Discovery meeting", "activity_kind": "meeting"},
    "answer": {"kind": "answer", "label": "Pain stated", "question": "What hurts today?"},
}
KINDS = list(CRITERIA)
BLOCKING = ["mandatory", "critical"]


def meet(kind: str, deal: Deal, by, criterion) -> None:
    """Do what makes `criterion` (of `kind`) hold for `deal`."""
    if kind == "step":
        step_set_done(step=DealStep.objects.get(deal=deal, criterion=criterion), by=by, done=True)
    elif kind == "field":
        deal_update(deal=deal, by=by, expected_version=deal.version, expected_close="2030-01-31")
    elif kind == "stakeholder_role":
        contact = ContactFactory(organization=deal.organization)
        stakeholder_add(deal=deal, by=by, contact=contact, role="economic_buyer")
    elif kind == "activity_kind":
        activity_log(deal=deal, by=by, kind="meeting", subject="Discovery with the CFO")
    else:
        answer_set(deal=deal, by=by, criterion=criterion, text="Invoices are re-keyed by hand.")
    deal.refresh_from_db()


def gated_deal(*, rep, process, account, stage, kind: str, importance: str):
    """A deal of `rep` in the first stage, where `stage` carries one criterion (added before the deal
    exists, as in a running process)."""
    criterion = criterion_add(stage=stage, by=None, importance=importance, **CRITERIA[kind])
    deal = deal_create(by=rep, process=process, name="Globex rollout", account=account, amount="12000")
    return deal, criterion


def state(deal: Deal) -> tuple:
    """Everything a refused move could have written."""
    row = Deal.objects.values_list("version", "stage_id", "stage_entered_at", "status").get(pk=deal.pk)
    entries = list(StageChange.objects.filter(deal=deal).values_list("id", "to_stage_id", "left_at"))
    return row, entries


def expected_unmet(criterion) -> dict:
    return {
        "id": criterion.id,
        "label": criterion.label,
        "kind": criterion.kind,
        "importance": criterion.importance,
        "met": False,
    }


def without_hint(items: list[dict]) -> list[dict]:
    assert all(item["hint"] for item in items)  # every unmet criterion tells the rep what to do
    return [{k: v for k, v in item.items() if k != "hint"} for item in items]


def assert_moved_without_override(deal: Deal, to_stage) -> None:
    deal.refresh_from_db()
    assert deal.stage_id == to_stage.id
    entry = StageChange.objects.get(deal=deal, left_at__isnull=True)
    assert entry.to_stage_id == to_stage.id
    assert (entry.override_reason, entry.overridden_criteria) == ("", [])


# Optional criteria


@pytest.mark.parametrize("kind", KINDS)
def test_an_unmet_optional_criterion_never_blocks(kind, rep, process, stages, account):
    deal, _ = gated_deal(
        rep=rep, process=process, account=account, stage=stages[0], kind=kind, importance="optional"
    )

    deal_move(deal=deal, to_stage=stages[1], by=rep, expected_version=deal.version)

    assert_moved_without_override(deal, stages[1])
    assert StageChange.objects.filter(deal=deal).count() == 2


@pytest.mark.parametrize("kind", KINDS)
def test_a_reason_given_when_nothing_blocks_is_not_recorded_as_an_override(
    kind, rep, manager, process, stages, account
):
    deal, _ = gated_deal(
        rep=rep, process=process, account=account, stage=stages[0], kind=kind, importance="optional"
    )

    deal_move(
        deal=deal,
        to_stage=stages[1],
        by=manager,
        expected_version=deal.version,
        override_reason="Just in case",
    )

    assert_moved_without_override(deal, stages[1])


# Mandatory and critical criteria block a forward move


@pytest.mark.parametrize("importance", BLOCKING)
@pytest.mark.parametrize("kind", KINDS)
def test_an_unmet_blocking_criterion_refuses_the_move_lists_it_and_writes_nothing(
    kind, importance, rep, process, stages, account
):
    deal, criterion = gated_deal(
        rep=rep, process=process, account=account, stage=stages[0], kind=kind, importance=importance
    )
    before = state(deal)

    with pytest.raises(CriteriaUnmet) as exc:
        deal_move(deal=deal, to_stage=stages[1], by=rep, expected_version=deal.version)

    assert without_hint(exc.value.unmet) == [expected_unmet(criterion)]
    assert exc.value.can_override is False  # a rep may never override
    assert criterion.label in exc.value.message
    assert state(deal) == before
    deal.refresh_from_db()
    assert (deal.stage_id, deal.version) == (stages[0].id, 1)


@pytest.mark.parametrize("importance", BLOCKING)
@pytest.mark.parametrize("kind", KINDS)
def test_skipping_stages_is_gated_by_the_stage_being_left(kind, importance, rep, process, stages, account):
    deal, criterion = gated_deal(
        rep=rep, process=process, account=account, stage=stages[0], kind=kind, importance=importance
    )
    before = state(deal)

    with pytest.raises(CriteriaUnmet) as exc:
        deal_move(deal=deal, to_stage=stages[3], by=rep, expected_version=deal.version)

    assert [c["id"] for c in exc.value.unmet] == [criterion.id]
    assert state(deal) == before


@pytest.mark.parametrize("kind", KINDS)
def test_a_manager_is_told_an_unmet_mandatory_criterion_may_be_overridden(
    kind, rep, manager, process, stages, account
):
    deal, criterion = gated_deal(
        rep=rep, process=process, account=account, stage=stages[0], kind=kind, importance="mandatory"
    )
    before = state(deal)

    with pytest.raises(CriteriaUnmet) as exc:
        deal_move(deal=deal, to_stage=stages[1], by=manager, expected_version=deal.version)

    assert exc.value.can_override is True
    assert without_hint(exc.value.unmet) == [expected_unmet(criterion)]
    assert state(deal) == before


@pytest.mark.parametrize("who", ["manager", "admin"])
@pytest.mark.parametrize("kind", KINDS)
def test_a_manager_overrides_an_unmet_mandatory_criterion_with_a_recorded_reason(
    kind, who, request, rep, process, stages, account
):
    overrider = request.getfixturevalue(who)
    deal, criterion = gated_deal(
        rep=rep, process=process, account=account, stage=stages[0], kind=kind, importance="mandatory"
    )

    deal_move(
        deal=deal,
        to_stage=stages[1],
        by=overrider,
        expected_version=deal.version,
        override_reason="  Budget confirmed by phone  ",
    )

    deal.refresh_from_db()
    assert (deal.stage_id, deal.version) == (stages[1].id, 2)
    entry = StageChange.objects.get(deal=deal, to_stage=stages[1])
    assert entry.override_reason == "Budget confirmed by phone"
    assert without_hint(entry.overridden_criteria) == [expected_unmet(criterion)]
    assert entry.by_id == overrider.user_id
    assert StageChange.objects.filter(deal=deal).count() == 2


@pytest.mark.parametrize("kind", KINDS)
def test_a_rep_may_not_override_a_mandatory_criterion(kind, rep, process, stages, account):
    deal, _ = gated_deal(
        rep=rep, process=process, account=account, stage=stages[0], kind=kind, importance="mandatory"
    )
    before = state(deal)

    with pytest.raises(NotAllowed, match="Only the deal's manager can override"):
        deal_move(
            deal=deal, to_stage=stages[1], by=rep, expected_version=deal.version, override_reason="Trust me"
        )

    assert state(deal) == before


@pytest.mark.parametrize("reason", [None, "", "   \n\t"])
@pytest.mark.parametrize("kind", KINDS)
def test_an_override_without_a_reason_is_refused(kind, reason, rep, manager, process, stages, account):
    deal, criterion = gated_deal(
        rep=rep, process=process, account=account, stage=stages[0], kind=kind, importance="mandatory"
    )
    before = state(deal)

    with pytest.raises(CriteriaUnmet) as exc:
        deal_move(
            deal=deal, to_stage=stages[1], by=manager, expected_version=deal.version, override_reason=reason
        )

    assert [c["id"] for c in exc.value.unmet] == [criterion.id]
    assert state(deal) == before


@pytest.mark.parametrize("who", ["manager", "admin"])
@pytest.mark.parametrize("kind", KINDS)
def test_a_critical_criterion_is_never_skippable_even_by_a_manager_with_a_reason(
    kind, who, request, rep, process, stages, account
):
    overrider = request.getfixturevalue(who)
    deal, criterion = gated_deal(
        rep=rep, process=process, account=account, stage=stages[0], kind=kind, importance="critical"
    )
    before = state(deal)

    with pytest.raises(CriteriaUnmet) as exc:
        deal_move(
            deal=deal,
            to_stage=stages[1],
            by=overrider,
            expected_version=deal.version,
            override_reason="The CEO said so",
        )

    assert exc.value.can_override is False
    assert without_hint(exc.value.unmet) == [expected_unmet(criterion)]
    assert state(deal) == before


def test_with_a_critical_and_a_mandatory_unmet_both_are_listed_and_nothing_is_overridable(
    rep, manager, process, stages, account
):
    optional = criterion_add(stage=stages[0], by=None, importance="optional", **CRITERIA["answer"])
    mandatory = criterion_add(stage=stages[0], by=None, importance="mandatory", **CRITERIA["field"])
    critical = criterion_add(stage=stages[0], by=None, importance="critical", **CRITERIA["stakeholder_role"])
    deal = deal_create(by=rep, process=process, name="Mixed", account=account)
    before = state(deal)

    with pytest.raises(CriteriaUnmet) as exc:
        deal_move(
            deal=deal, to_stage=stages[1], by=manager, expected_version=deal.version, override_reason="Please"
        )

    assert [c["id"] for c in exc.value.unmet] == [critical.id, mandatory.id]
    assert optional.id not in {c["id"] for c in exc.value.unmet}
    assert exc.value.can_override is False
    assert state(deal) == before

    # Once the critical one holds, the manager overrides the mandatory one only.
    meet("stakeholder_role", deal, rep, critical)
    deal_move(
        deal=deal, to_stage=stages[1], by=manager, expected_version=deal.version, override_reason="Please"
    )
    entry = StageChange.objects.get(deal=deal, to_stage=stages[1])
    assert [c["id"] for c in entry.overridden_criteria] == [mandatory.id]


# Meeting a criterion unblocks the move


@pytest.mark.parametrize("importance", BLOCKING)
@pytest.mark.parametrize("kind", KINDS)
def test_meeting_the_criterion_unblocks_the_move(kind, importance, rep, process, stages, account):
    deal, criterion = gated_deal(
        rep=rep, process=process, account=account, stage=stages[0], kind=kind, importance=importance
    )

    meet(kind, deal, rep, criterion)
    deal_move(deal=deal, to_stage=stages[1], by=rep, expected_version=deal.version)

    assert_moved_without_override(deal, stages[1])


def _near_miss(kind: str, deal: Deal, rep, criterion) -> None:
    """Something close to meeting the criterion that does not meet it."""
    if kind == "step":
        step = DealStep.objects.get(deal=deal, criterion=criterion)
        step_set_done(step=step, by=rep, done=True)
        step_set_done(step=step, by=rep, done=False)
    elif kind == "field":
        deal_update(deal=deal, by=rep, expected_version=deal.version, industry="Retail", budget="5000")
    elif kind == "stakeholder_role":
        contact = ContactFactory(organization=deal.organization)
        stakeholder = stakeholder_add(deal=deal, by=rep, contact=contact, role="economic_buyer")
        stakeholder_update(stakeholder=stakeholder, by=rep, role="champion")
    elif kind == "activity_kind":
        activity_log(deal=deal, by=rep, kind="call", subject="A call is not a meeting")
    else:
        answer_set(deal=deal, by=rep, criterion=criterion, text="Something")
        answer_set(deal=deal, by=rep, criterion=criterion, text="   ")  # clears the answer
    deal.refresh_from_db()


@pytest.mark.parametrize("kind", KINDS)
def test_almost_meeting_the_criterion_still_blocks(kind, rep, process, stages, account):
    deal, criterion = gated_deal(
        rep=rep, process=process, account=account, stage=stages[0], kind=kind, importance="critical"
    )
    _near_miss(kind, deal, rep, criterion)
    before = state(deal)

    with pytest.raises(CriteriaUnmet) as exc:
        deal_move(deal=deal, to_stage=stages[1], by=rep, expected_version=deal.version)

    assert [c["id"] for c in exc.value.unmet] == [criterion.id]
    assert state(deal) == before


def test_an_activity_logged_before_entering_the_stage_does_not_count(rep, process, stages, account):
    # Activities count "in the stage": from the deal's entry into it on (deals.criteria).
    t0 = timezone.now() - timedelta(hours=1)
    criterion = criterion_add(stage=stages[1], by=None, importance="mandatory", **CRITERIA["activity_kind"])
    deal = deal_create(by=rep, process=process, name="D", account=account, at=t0)
    activity_log(
        deal=deal,
        by=rep,
        kind="meeting",
        subject="Intro meeting, still qualifying",
        occurred_at=t0 + timedelta(minutes=10),
    )
    deal_move(
        deal=deal, to_stage=stages[1], by=rep, expected_version=deal.version, at=t0 + timedelta(minutes=20)
    )
    # Logged now but dated before the entry: does not count either.
    activity_log(
        deal=deal, by=rep, kind="meeting", subject="Logged late", occurred_at=t0 + timedelta(minutes=15)
    )
    deal.refresh_from_db()
    before = state(deal)

    with pytest.raises(CriteriaUnmet) as exc:
        deal_move(deal=deal, to_stage=stages[2], by=rep, expected_version=deal.version)
    assert [c["id"] for c in exc.value.unmet] == [criterion.id]
    assert state(deal) == before

    activity_log(deal=deal, by=rep, kind="meeting", subject="Discovery")
    deal_move(deal=deal, to_stage=stages[2], by=rep, expected_version=deal.version)
    assert_moved_without_override(deal, stages[2])


def test_re_entering_a_stage_needs_a_new_activity_there(rep, process, stages, account):
    t0 = timezone.now() - timedelta(hours=1)
    criterion_add(stage=stages[1], by=None, importance="mandatory", **CRITERIA["activity_kind"])
    deal = deal_create(by=rep, process=process, name="D", account=account, at=t0)
    deal_move(
        deal=deal, to_stage=stages[1], by=rep, expected_version=deal.version, at=t0 + timedelta(minutes=1)
    )
    activity_log(
        deal=deal, by=rep, kind="meeting", subject="Discovery", occurred_at=t0 + timedelta(minutes=2)
    )
    deal_move(
        deal=deal, to_stage=stages[0], by=rep, expected_version=deal.version, at=t0 + timedelta(minutes=3)
    )
    deal_move(
        deal=deal, to_stage=stages[1], by=rep, expected_version=deal.version, at=t0 + timedelta(minutes=4)
    )
    deal.refresh_from_db()
    before = state(deal)

    with pytest.raises(CriteriaUnmet):
        deal_move(deal=deal, to_stage=stages[2], by=rep, expected_version=deal.version)

    assert state(deal) == before


@pytest.mark.parametrize("importance", BLOCKING)
def test_a_step_criterion_added_while_deals_sit_in_the_stage_can_be_met(
    importance, rep, process, stages, deal
):
    criterion = criterion_add(stage=stages[0], by=None, importance=importance, **CRITERIA["step"])
    deal.refresh_from_db()
    with pytest.raises(CriteriaUnmet):
        deal_move(deal=deal, to_stage=stages[1], by=rep, expected_version=deal.version)

    # The open deal in the stage got the step in its plan, so the rep can complete it.
    step = DealStep.objects.get(deal=deal, criterion=criterion)
    assert step.title == criterion.label and step.completed_at is None
    meet("step", deal, rep, criterion)
    deal_move(deal=deal, to_stage=stages[1], by=rep, expected_version=deal.version)

    assert_moved_without_override(deal, stages[1])


def test_a_step_criterion_imported_while_deals_sit_in_the_stage_joins_their_plans(
    rep, process, stages, deal, account
):
    moved_on = deal_create(by=rep, process=process, name="Elsewhere", account=account)
    deal_move(deal=moved_on, to_stage=stages[1], by=rep, expected_version=moved_on.version)
    data = process_export(process=process)
    data["stages"][0]["criteria"] = [{**CRITERIA["step"], "importance": "critical"}]

    process_import(org=process.organization, data=data, by=None)

    criterion = stages[0].criteria.get()
    assert DealStep.objects.get(deal=deal, criterion=criterion).title == criterion.label
    assert not DealStep.objects.filter(deal=moved_on, criterion=criterion).exists()
    meet("step", deal, rep, criterion)
    deal_move(deal=deal, to_stage=stages[1], by=rep, expected_version=deal.version)
    assert_moved_without_override(deal, stages[1])


# Back-moves


@pytest.mark.parametrize("importance", ["optional", *BLOCKING])
@pytest.mark.parametrize("kind", KINDS)
def test_back_moves_are_never_gated(kind, importance, rep, process, stages, account):
    deal, criterion = gated_deal(
        rep=rep, process=process, account=account, stage=stages[1], kind=kind, importance=importance
    )
    deal_move(deal=deal, to_stage=stages[1], by=rep, expected_version=deal.version)

    deal_move(deal=deal, to_stage=stages[0], by=rep, expected_version=deal.version)

    assert_moved_without_override(deal, stages[0])
    assert deal.version == 3
    assert StageChange.objects.filter(deal=deal).count() == 3


@pytest.mark.parametrize("kind", ["step", "field", "stakeholder_role", "answer"])
def test_skipping_a_stage_does_not_skip_its_critical_criteria(kind, rep, manager, process, stages, account):
    deal, criterion = gated_deal(
        rep=rep, process=process, account=account, stage=stages[1], kind=kind, importance="critical"
    )
    before = state(deal)

    with pytest.raises(CriteriaUnmet) as exc:
        deal_move(
            deal=deal, to_stage=stages[3], by=manager, expected_version=deal.version, override_reason="Rush"
        )

    assert [c["id"] for c in exc.value.unmet] == [criterion.id]
    assert exc.value.can_override is False
    assert state(deal) == before


def test_skipping_a_stage_with_a_mandatory_criterion_needs_a_managers_override(
    rep, manager, process, stages, account
):
    deal, criterion = gated_deal(
        rep=rep, process=process, account=account, stage=stages[2], kind="field", importance="mandatory"
    )
    with pytest.raises(CriteriaUnmet):
        deal_move(deal=deal, to_stage=stages[3], by=rep, expected_version=deal.version)

    moved = deal_move(
        deal=deal,
        to_stage=stages[3],
        by=manager,
        expected_version=deal.version,
        override_reason="Signed early",
    )

    entry = StageChange.objects.get(deal=deal, to_stage=stages[3])
    assert moved.stage_id == stages[3].id
    assert entry.override_reason == "Signed early"
    assert [c["id"] for c in entry.overridden_criteria] == [criterion.id]


def test_moving_to_the_next_stage_ignores_criteria_of_later_stages(rep, process, stages, account):
    gated_deal(
        rep=rep, process=process, account=account, stage=stages[1], kind="field", importance="critical"
    )
    deal = Deal.objects.get(name="Globex rollout")

    moved = deal_move(deal=deal, to_stage=stages[1], by=rep, expected_version=deal.version)

    assert moved.stage_id == stages[1].id
