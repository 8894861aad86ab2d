"""The value plan and the recording of held conversations: only after a win, idempotent, validated
(nothing written on bad input), the deal's editors only; expansion deals linked both ways."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from deals.models import Deal
from deals.services import deal_lose
from journey.models import DealLink, ValueConfirmation
from journey.selectors import deal_journey, deal_phase
from journey.services import expansion_deal_create, value_confirmation_record, value_plan_create
from salesproc.lib.errors import InvalidInput, NotAllowed

YESTERDAY = timezone.localdate() - timedelta(days=1)


def _record(confirmation, by, **overrides):
    data = {
        "held_at": YESTERDAY.isoformat(),
        "confirmed_value": "Quotes go out in 2 hours instead of 2 days",
        "metric_name": "Quote turnaround (hours)",
        "metric_value": "2",
        "next_opportunity": "Roll out to the EMEA sales team",
    }
    data.update(overrides)
    return value_confirmation_record(confirmation=confirmation, by=by, **data)


@pytest.mark.parametrize("order,phase", [(0, "change"), (1, "change"), (2, "decision"), (3, "decision")])
def test_an_open_deal_is_in_its_stages_phase(deal, stages, order, phase):
    deal.stage = stages[order]
    assert deal_phase(deal) == phase
    current = [p for p in deal_journey(deal) if p.state == "current"]
    assert [p.value for p in current] == [phase]


def test_a_won_deal_is_in_the_value_phase(won_deal):
    assert deal_phase(won_deal) == "value"
    assert [p.state for p in deal_journey(won_deal)] == ["done", "done", "current"]


def test_the_value_plan_is_refused_before_the_win(deal, stakeholders, rep):
    with pytest.raises(InvalidInput) as exc:
        value_plan_create(deal=deal, by=rep)
    assert "deal" in exc.value.errors
    assert not ValueConfirmation.objects.exists()


def test_the_value_plan_is_refused_for_a_lost_deal(deal, stakeholders, rep):
    deal_lose(deal=deal, by=rep, expected_version=deal.version, reason="Budget cut")
    with pytest.raises(InvalidInput):
        value_plan_create(deal=deal, by=rep)
    assert not ValueConfirmation.objects.exists()


def test_the_value_plan_has_one_conversation_per_stakeholder_and_is_idempotent(won_deal, stakeholders, rep):
    first = value_plan_create(deal=won_deal, by=rep)
    again = value_plan_create(deal=won_deal, by=rep)
    assert {c.stakeholder_id for c in first} == {s.id for s in stakeholders}
    assert [c.id for c in again] == [c.id for c in first]
    assert ValueConfirmation.objects.count() == 2
    assert all(c.held_at is None and c.planned_for > timezone.localdate() for c in first)


def test_planning_again_adds_only_new_stakeholders(won_deal, stakeholders, rep, org, account):
    from deals.services import stakeholder_add
    from tests.factories import ContactFactory

    value_plan_create(deal=won_deal, by=rep)
    stakeholder_add(
        deal=won_deal, by=rep, contact=ContactFactory(organization=org, account=account), role="user"
    )
    assert len(value_plan_create(deal=won_deal, by=rep)) == 3
    assert ValueConfirmation.objects.count() == 3


def test_a_deal_without_stakeholders_cannot_be_planned(deal, rep):
    deal.refresh_from_db()
    from deals.services import deal_win

    deal_win(deal=deal, by=rep, expected_version=deal.version)
    with pytest.raises(InvalidInput) as exc:
        value_plan_create(deal=deal, by=rep)
    assert "stakeholder" in exc.value.errors


@pytest.mark.parametrize("who", ["rep", "manager", "admin"])
def test_the_deal_editors_plan_and_record(request, won_deal, who):
    by = request.getfixturevalue(who)
    [c, _] = value_plan_create(deal=won_deal, by=by)
    recorded = _record(c, by)
    assert recorded.held_at == YESTERDAY
    assert recorded.metric_value == Decimal("2.00")
    c.refresh_from_db()
    assert c.confirmed_value.startswith("Quotes go out")


def test_another_rep_can_neither_plan_nor_record(won_deal, rep, other_rep):
    with pytest.raises(NotAllowed):
        value_plan_create(deal=won_deal, by=other_rep)
    assert not ValueConfirmation.objects.exists()
    [c, _] = value_plan_create(deal=won_deal, by=rep)
    with pytest.raises(NotAllowed):
        _record(c, other_rep)
    c.refresh_from_db()
    assert c.held_at is None and c.confirmed_value == ""


@pytest.mark.parametrize(
    "overrides,field",
    [
        ({"held_at": ""}, "held_at"),
        ({"held_at": "yesterday"}, "held_at"),
        ({"held_at": (timezone.localdate() + timedelta(days=2)).isoformat()}, "held_at"),
        ({"confirmed_value": "   "}, "confirmed_value"),
        ({"confirmed_value": "x" * 5001}, "confirmed_value"),
        ({"metric_value": "lots"}, "metric_value"),
        ({"metric_name": "", "metric_value": "3"}, "metric_name"),
        ({"metric_name": "m" * 121}, "metric_name"),
        ({"next_opportunity": "n" * 5001}, "next_opportunity"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(won_deal, rep, overrides, field):
    [c, _] = value_plan_create(deal=won_deal, by=rep)
    with pytest.raises(InvalidInput) as exc:
        _record(c, rep, **overrides)
    assert field in exc.value.errors
    c.refresh_from_db()
    assert (c.held_at, c.confirmed_value, c.metric_name, c.metric_value, c.next_opportunity) == (
        None,
        "",
        "",
        None,
        "",
    )


def test_a_metric_may_go_down(won_deal, rep):
    [c, _] = value_plan_create(deal=won_deal, by=rep)
    assert _record(c, rep, metric_name="Churn change, points", metric_value="-1.5").metric_value == Decimal(
        "-1.50"
    )


def test_an_expansion_deal_is_opened_on_the_same_account_and_linked(won_deal, rep, process):
    [c, _] = value_plan_create(deal=won_deal, by=rep)
    _record(c, rep)
    new = expansion_deal_create(confirmation=c, by=rep, process=process)
    assert new.name == "Roll out to the EMEA sales team"
    assert new.account_id == won_deal.account_id and new.is_open and new.owner_id == rep.user_id
    link = DealLink.objects.get()
    assert (link.from_deal_id, link.to_deal_id, link.kind, link.confirmation_id) == (
        won_deal.id,
        new.id,
        "expansion",
        c.id,
    )
    with pytest.raises(InvalidInput) as exc:
        expansion_deal_create(confirmation=c, by=rep, process=process)
    assert "confirmation" in exc.value.errors
    assert Deal.objects.filter(organization=won_deal.organization).count() == 2


def test_an_expansion_needs_a_recorded_conversation_and_a_process_of_the_org(won_deal, rep, other_org_world):
    [c, _] = value_plan_create(deal=won_deal, by=rep)
    with pytest.raises(InvalidInput) as exc:
        expansion_deal_create(confirmation=c, by=rep, process=won_deal.process)
    assert "confirmation" in exc.value.errors
    _record(c, rep)
    foreign = other_org_world["process"]
    for process in (None, foreign):
        with pytest.raises(InvalidInput) as exc:
            expansion_deal_create(confirmation=c, by=rep, process=process)
        assert "process" in exc.value.errors
    assert (
        Deal.objects.filter(organization=won_deal.organization).count() == 1 and not DealLink.objects.exists()
    )


def test_another_rep_cannot_open_an_expansion(won_deal, rep, other_rep, process):
    [c, _] = value_plan_create(deal=won_deal, by=rep)
    _record(c, rep)
    with pytest.raises(NotAllowed):
        expansion_deal_create(confirmation=c, by=other_rep, process=process)
    assert Deal.objects.filter(organization=won_deal.organization).count() == 1
