"""The journey on the deal page and the value confirmed on the account page: what each role sees and
may do, the field messages, and another organization's ids (404)."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from deals.models import Deal
from journey.models import DealLink, ValueConfirmation
from journey.services import expansion_deal_create, value_confirmation_record, value_plan_create

HTMX = {"HTTP_HX_REQUEST": "true"}
YESTERDAY = (timezone.localdate() - timedelta(days=1)).isoformat()


def _current_phase(html: str) -> str:
    marker = 'data-testid="deal-journey" data-phase="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


def _record_data(**overrides):
    data = {
        "held_at": YESTERDAY,
        "confirmed_value": "Quotes out in 2 hours",
        "metric_name": "Quote turnaround (hours)",
        "metric_value": "2",
        "next_opportunity": "EMEA rollout",
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize("order,phase", [(0, "change"), (2, "decision")])
def test_the_deal_page_highlights_the_stages_phase_and_its_guidance(client, rep, deal, stages, order, phase):
    from deals.services import deal_move

    if order:
        from salesproc.models import ExitCriterion

        ExitCriterion.objects.filter(stage__process=deal.process).delete()
        deal_move(deal=deal, to_stage=stages[order], by=rep, expected_version=deal.version)
    client.force_login(rep.user)
    html = client.get(reverse("deal_detail", args=[deal.id])).content.decode()
    assert _current_phase(html) == phase
    # An open deal's page loads its links with the section, after the page.
    assert f'hx-get="{reverse("deal_journey", args=[deal.id])}"' in html
    guidance = {"change": "why they should change now", "decision": "who decides"}[phase]
    assert guidance in html
    assert 'data-testid="value-plan"' not in html


def test_a_won_deal_is_in_the_value_phase_with_its_plan(client, rep, won_deal):
    client.force_login(rep.user)
    html = client.get(reverse("deal_detail", args=[won_deal.id])).content.decode()
    assert _current_phase(html) == "value"
    assert 'data-testid="value-plan"' in html
    assert html.count('data-testid="value-row"') == 2
    assert "no conversation planned" in html
    assert 'data-testid="plan-conversations"' in html


def test_planning_in_one_click_is_idempotent(client, rep, won_deal):
    client.force_login(rep.user)
    url = reverse("value_plan_create", args=[won_deal.id])
    first = client.post(url, **HTMX)
    assert first.status_code == 200
    assert first.content.decode().count("planned for") == 2
    assert client.post(url, **HTMX).status_code == 200
    assert ValueConfirmation.objects.filter(deal=won_deal).count() == 2


def test_planning_an_open_deal_is_refused_in_place(client, rep, deal, stakeholders):
    client.force_login(rep.user)
    response = client.post(reverse("value_plan_create", args=[deal.id]), **HTMX)
    assert response.status_code == 422
    assert not ValueConfirmation.objects.exists()


def test_recording_a_held_conversation(client, manager, won_deal, rep):
    [c, _] = value_plan_create(deal=won_deal, by=rep)
    client.force_login(manager.user)
    response = client.post(
        reverse("value_confirmation_record", args=[won_deal.id, c.id]), _record_data(), **HTMX
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="record-done"' in html and "Quotes out in 2 hours" in html
    c.refresh_from_db()
    assert c.held_at.isoformat() == YESTERDAY and c.metric_name == "Quote turnaround (hours)"


def test_bad_input_rerenders_the_form_with_field_messages_and_writes_nothing(client, rep, won_deal):
    [c, _] = value_plan_create(deal=won_deal, by=rep)
    client.force_login(rep.user)
    response = client.post(
        reverse("value_confirmation_record", args=[won_deal.id, c.id]),
        _record_data(held_at="", confirmed_value="", metric_value="many"),
        **HTMX,
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert "Say when the conversation was held." in html
    assert "Write the value they confirm" in html
    assert "is not a number" in html
    c.refresh_from_db()
    assert c.held_at is None and c.confirmed_value == "" and c.metric_value is None


def test_another_rep_reads_the_plan_but_cannot_change_it(client, rep, other_rep, won_deal):
    [c, _] = value_plan_create(deal=won_deal, by=rep)
    client.force_login(other_rep.user)
    html = client.get(reverse("deal_detail", args=[won_deal.id])).content.decode()
    assert 'data-testid="value-plan"' in html
    assert 'data-testid="record-form"' not in html and 'data-testid="plan-conversations"' not in html
    response = client.post(
        reverse("value_confirmation_record", args=[won_deal.id, c.id]), _record_data(), **HTMX
    )
    assert response.status_code == 403
    c.refresh_from_db()
    assert c.held_at is None


def test_creating_an_expansion_deal_links_both_pages(client, rep, won_deal, process):
    [c, _] = value_plan_create(deal=won_deal, by=rep)
    value_confirmation_record(confirmation=c, by=rep, **_record_data())
    client.force_login(rep.user)
    page = client.get(reverse("deal_detail", args=[won_deal.id])).content.decode()
    assert 'data-testid="expansion-form"' in page
    response = client.post(
        reverse("expansion_deal_create", args=[won_deal.id, c.id]), {"process": process.id}, **HTMX
    )
    new = Deal.objects.get(name="EMEA rollout")
    assert response.status_code == 200 and response["HX-Redirect"] == reverse("deal_detail", args=[new.id])
    assert DealLink.objects.filter(from_deal=won_deal, to_deal=new, confirmation=c).exists()

    original = client.get(reverse("deal_detail", args=[won_deal.id])).content.decode()
    assert 'data-testid="expansion-deal"' in original and "EMEA rollout" in original
    section = client.get(reverse("deal_journey", args=[new.id]), **HTMX).content.decode()
    assert 'data-testid="expansion-of"' in section and won_deal.name in section


def test_an_expansion_in_another_orgs_process_is_refused(client, rep, won_deal, other_org_world):
    [c, _] = value_plan_create(deal=won_deal, by=rep)
    value_confirmation_record(confirmation=c, by=rep, **_record_data())
    client.force_login(rep.user)
    response = client.post(
        reverse("expansion_deal_create", args=[won_deal.id, c.id]),
        {"process": other_org_world["process"].id},
        **HTMX,
    )
    assert response.status_code == 422
    assert 'data-testid="expansion-error"' in response.content.decode()
    assert not DealLink.objects.exists()


def test_the_account_page_shows_the_confirmed_value_over_time(client, rep, won_deal, stakeholders, account):
    a, b = value_plan_create(deal=won_deal, by=rep)
    value_confirmation_record(
        confirmation=a,
        by=rep,
        **_record_data(held_at=(timezone.localdate() - timedelta(days=30)).isoformat()),
    )
    value_confirmation_record(
        confirmation=b, by=rep, **_record_data(confirmed_value="Half the errors", metric_value="1.5")
    )
    client.force_login(rep.user)
    html = client.get(reverse("account_detail", args=[account.id])).content.decode()
    assert html.count('data-testid="confirmed-value-row"') == 2
    assert html.index("Half the errors") < html.index("Quotes out in 2 hours")  # newest first
    assert html.count('data-testid="metric-chart"') == 1 and "<polyline" in html
    assert "Quote turnaround (hours)" in html


def test_an_account_without_won_deals_says_what_to_do(client, rep, deal, account):
    client.force_login(rep.user)
    html = client.get(reverse("account_detail", args=[account.id])).content.decode()
    assert "No value confirmed yet" in html


def test_another_orgs_deal_and_conversation_are_404(client, admin, won_deal, rep, other_org_world):
    [c, _] = value_plan_create(deal=won_deal, by=rep)
    foreign_deal = other_org_world["deal"]
    client.force_login(other_org_world["member"].user)
    assert client.get(reverse("deal_journey", args=[won_deal.id]), **HTMX).status_code == 404
    assert client.post(reverse("value_plan_create", args=[won_deal.id])).status_code == 404
    assert (
        client.post(
            reverse("value_confirmation_record", args=[foreign_deal.id, c.id]), _record_data()
        ).status_code
        == 404
    )
    c.refresh_from_db()
    assert c.held_at is None


def test_an_expansion_needs_a_held_conversation_in_the_page(client, rep, won_deal, process):
    [c, _] = value_plan_create(deal=won_deal, by=rep)
    client.force_login(rep.user)
    response = client.post(
        reverse("expansion_deal_create", args=[won_deal.id, c.id]), {"process": process.id}, **HTMX
    )
    assert response.status_code == 422
    assert Deal.objects.filter(organization=won_deal.organization).count() == 1


def test_a_linked_expansion_names_its_origin_in_the_service_too(rep, won_deal, process):
    [c, _] = value_plan_create(deal=won_deal, by=rep)
    value_confirmation_record(confirmation=c, by=rep, **_record_data(next_opportunity=""))
    new = expansion_deal_create(confirmation=c, by=rep, process=process)
    assert new.name == f"Expansion of {won_deal.name}"
