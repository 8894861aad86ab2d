"""Follow-up value conversations: after one is held, the next with the same stakeholder is planned
(one still to hold at a time), rescheduled while not held, and the earlier ones stay as the value's
history — in the services, the deal page and the API."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from journey.models import ValueConfirmation
from journey.selectors import deal_links, deal_value_plan
from journey.services import (
    value_confirmation_record,
    value_confirmation_reschedule,
    value_followup_plan,
    value_plan_create,
)
from salesproc.lib.errors import InvalidInput, NotAllowed

TODAY = timezone.localdate()
HTMX = {"HTTP_HX_REQUEST": "true"}


def _hold(confirmation, by, value="Quotes out in 2 hours", days_ago=1, metric="2"):
    return value_confirmation_record(
        confirmation=confirmation,
        by=by,
        held_at=(TODAY - timedelta(days=days_ago)).isoformat(),
        confirmed_value=value,
        metric_name="Quote turnaround (hours)",
        metric_value=metric,
    )


@pytest.fixture
def held(won_deal, rep):
    """Ada's first conversation, held."""
    first, _ = value_plan_create(deal=won_deal, by=rep)
    return _hold(first, rep, days_ago=40, metric="4")


def test_a_follow_up_is_planned_a_quarter_out_after_a_held_conversation(won_deal, rep, held):
    follow = value_followup_plan(deal=won_deal, stakeholder=held.stakeholder, by=rep)
    assert follow.planned_for == TODAY + timedelta(days=90)
    assert follow.held_at is None and follow.stakeholder_id == held.stakeholder_id
    assert ValueConfirmation.objects.filter(stakeholder=held.stakeholder).count() == 2


def test_no_second_conversation_while_one_is_still_to_hold(won_deal, rep, held):
    value_followup_plan(deal=won_deal, stakeholder=held.stakeholder, by=rep)
    with pytest.raises(InvalidInput) as exc:
        value_followup_plan(deal=won_deal, stakeholder=held.stakeholder, by=rep)
    assert "already planned" in exc.value.errors["stakeholder"][0]
    assert ValueConfirmation.objects.filter(stakeholder=held.stakeholder).count() == 2
    # Bert's first conversation is still to hold: no follow-up either.
    bert = ValueConfirmation.objects.exclude(stakeholder=held.stakeholder).get()
    with pytest.raises(InvalidInput):
        value_followup_plan(deal=won_deal, stakeholder=bert.stakeholder, by=rep)
    assert ValueConfirmation.objects.count() == 3


def test_the_plan_does_not_add_a_second_conversation_for_a_stakeholder_who_had_one(won_deal, rep, held):
    value_plan_create(deal=won_deal, by=rep)
    assert ValueConfirmation.objects.filter(stakeholder=held.stakeholder).count() == 1


@pytest.mark.parametrize(
    "planned_for,message",
    [("next week", "is not a date"), ((TODAY - timedelta(days=1)).isoformat(), "today or a later day")],
)
def test_a_bad_follow_up_date_names_the_field_and_writes_nothing(won_deal, rep, held, planned_for, message):
    with pytest.raises(InvalidInput) as exc:
        value_followup_plan(deal=won_deal, stakeholder=held.stakeholder, by=rep, planned_for=planned_for)
    assert message in exc.value.errors["planned_for"][0]
    assert ValueConfirmation.objects.count() == 2


def test_another_deals_stakeholder_and_another_rep_are_refused(won_deal, rep, other_rep, held, org, account):
    from deals.services import deal_create, stakeholder_add
    from tests.factories import ContactFactory

    other_deal = deal_create(by=rep, process=won_deal.process, name="Other", account=account)
    stranger = stakeholder_add(
        deal=other_deal, by=rep, contact=ContactFactory(organization=org, account=account), role="user"
    )
    with pytest.raises(InvalidInput) as exc:
        value_followup_plan(deal=won_deal, stakeholder=stranger, by=rep)
    assert "not a stakeholder on this deal" in exc.value.errors["stakeholder"][0]
    with pytest.raises(NotAllowed):
        value_followup_plan(deal=won_deal, stakeholder=held.stakeholder, by=other_rep)
    assert ValueConfirmation.objects.count() == 2


def test_reschedule_moves_a_planned_conversation_and_refuses_a_held_one(won_deal, rep, other_rep, held):
    planned = ValueConfirmation.objects.get(held_at__isnull=True)
    moved = value_confirmation_reschedule(
        confirmation=planned, by=rep, planned_for=(TODAY + timedelta(days=7)).isoformat()
    )
    assert moved.planned_for == TODAY + timedelta(days=7)
    planned.refresh_from_db()
    assert planned.planned_for == TODAY + timedelta(days=7)
    for by, planned_for, error in [
        (rep, "", InvalidInput),
        (rep, (TODAY - timedelta(days=3)).isoformat(), InvalidInput),
        (other_rep, (TODAY + timedelta(days=9)).isoformat(), NotAllowed),
    ]:
        with pytest.raises(error):
            value_confirmation_reschedule(confirmation=planned, by=by, planned_for=planned_for)
    with pytest.raises(InvalidInput) as exc:
        value_confirmation_reschedule(confirmation=held, by=rep, planned_for=TODAY.isoformat())
    assert "was held" in exc.value.errors["planned_for"][0]
    planned.refresh_from_db()
    held.refresh_from_db()
    assert planned.planned_for == TODAY + timedelta(days=7)
    assert held.planned_for != TODAY


def test_the_value_plan_shows_the_current_conversation_and_the_earlier_ones(won_deal, rep, held):
    second = value_followup_plan(deal=won_deal, stakeholder=held.stakeholder, by=rep, planned_for=TODAY)
    _hold(second, rep, value="Quotes out in 1 hour", days_ago=0, metric="1")
    third = value_followup_plan(deal=won_deal, stakeholder=held.stakeholder, by=rep)
    rows = {r.stakeholder.id: r for r in deal_value_plan(won_deal, deal_links(won_deal))}
    ada = rows[held.stakeholder_id]
    assert ada.confirmation.id == third.id and not ada.can_follow_up
    assert [c.id for c in ada.earlier] == [second.id, held.id]
    bert = next(r for sid, r in rows.items() if sid != held.stakeholder_id)
    assert bert.earlier == [] and not bert.can_follow_up


def test_the_account_shows_each_held_conversation_over_time(won_deal, rep, held):
    from journey.selectors import account_confirmed_value

    second = value_followup_plan(deal=won_deal, stakeholder=held.stakeholder, by=rep, planned_for=TODAY)
    _hold(second, rep, value="Quotes out in 1 hour", days_ago=0, metric="1")
    value = account_confirmed_value(won_deal.account)
    assert [c.id for c in value.confirmations] == [second.id, held.id]
    [series] = value.metrics
    assert [v for _, v in series.points] == [4, 1]


def test_the_page_plans_a_follow_up_and_reschedules(client, rep, won_deal, held):
    client.force_login(rep.user)
    html = client.get(reverse("deal_detail", args=[won_deal.id])).content.decode()
    assert html.count('data-testid="followup-form"') == 1  # Ada's was held; Bert's is still to hold
    url = reverse("value_followup_plan", args=[won_deal.id, held.stakeholder_id])
    bad = client.post(url, {"planned_for": "soon"}, **HTMX)
    assert bad.status_code == 422
    assert 'data-testid="followup-error"' in bad.content.decode()
    assert ValueConfirmation.objects.count() == 2
    when = TODAY + timedelta(days=30)
    ok = client.post(url, {"planned_for": when.isoformat()}, **HTMX)
    assert ok.status_code == 200
    body = ok.content.decode()
    assert 'data-testid="followup-done"' in body and 'data-testid="earlier-conversation"' in body
    follow = ValueConfirmation.objects.get(stakeholder=held.stakeholder, held_at__isnull=True)
    assert follow.planned_for == when
    moved = client.post(
        reverse("value_confirmation_reschedule", args=[won_deal.id, follow.id]),
        {"planned_for": (when + timedelta(days=2)).isoformat()},
        **HTMX,
    )
    assert moved.status_code == 200 and "Rescheduled." in moved.content.decode()
    follow.refresh_from_db()
    assert follow.planned_for == when + timedelta(days=2)


def test_another_rep_has_no_follow_up_form_and_is_refused(client, other_rep, won_deal, held):
    client.force_login(other_rep.user)
    html = client.get(reverse("deal_detail", args=[won_deal.id])).content.decode()
    assert 'data-testid="followup-form"' not in html and 'data-testid="reschedule-form"' not in html
    response = client.post(
        reverse("value_followup_plan", args=[won_deal.id, held.stakeholder_id]), {}, **HTMX
    )
    assert response.status_code == 403
    assert ValueConfirmation.objects.count() == 2


def test_another_orgs_ids_are_404(client, rep, won_deal, held, other_org_world):
    client.force_login(other_org_world["member"].user)
    for url in (
        reverse("value_followup_plan", args=[won_deal.id, held.stakeholder_id]),
        reverse("value_confirmation_reschedule", args=[won_deal.id, held.id]),
    ):
        assert client.post(url, {"planned_for": TODAY.isoformat()}, **HTMX).status_code == 404
    assert ValueConfirmation.objects.count() == 2


def test_the_api_plans_a_follow_up_and_reschedules(api_as, rep, won_deal, held):
    api = api_as(rep)
    url = f"/api/deals/{won_deal.id}/value-confirmations/"
    bad = api.post(url, {"stakeholder": 999999}, format="json")
    assert bad.status_code == 400 and "stakeholder" in bad.json()
    response = api.post(url, {"stakeholder": held.stakeholder_id}, format="json")
    assert response.status_code == 201
    mine = [c for c in response.json()["confirmations"] if c["stakeholder"] == held.stakeholder_id]
    assert len(mine) == 2 and sorted(c["held_at"] is None for c in mine) == [False, True]
    again = api.post(url, {"stakeholder": held.stakeholder_id}, format="json")
    assert again.status_code == 400 and "already planned" in again.json()["stakeholder"][0]
    follow = ValueConfirmation.objects.get(stakeholder=held.stakeholder, held_at__isnull=True)
    when = (TODAY + timedelta(days=5)).isoformat()
    moved = api.post(
        f"/api/value-confirmations/{follow.id}/reschedule/", {"planned_for": when}, format="json"
    )
    assert moved.status_code == 200 and moved.json()["planned_for"] == when
    refused = api.post(
        f"/api/value-confirmations/{held.id}/reschedule/", {"planned_for": when}, format="json"
    )
    assert refused.status_code == 400 and "planned_for" in refused.json()
    assert ValueConfirmation.objects.count() == 3
