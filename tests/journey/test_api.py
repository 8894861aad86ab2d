"""The journey API: list and plan a deal's value conversations, record one held, open an expansion
deal; bad input is a 400 naming the field, another rep a 403, another organization a 404."""

from datetime import timedelta

from django.utils import timezone

from deals.models import Deal
from journey.models import DealLink, ValueConfirmation
from journey.services import value_confirmation_record, value_plan_create

YESTERDAY = (timezone.localdate() - timedelta(days=1)).isoformat()
RECORD = {
    "held_at": YESTERDAY,
    "confirmed_value": "Quotes out in 2 hours",
    "next_opportunity": "EMEA rollout",
}


def test_list_before_and_after_planning(api_as, rep, won_deal):
    api = api_as(rep)
    url = f"/api/deals/{won_deal.id}/value-confirmations/"
    assert api.get(url).json() == {"phase": "value", "confirmations": []}
    response = api.post(url, {}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert len(body["confirmations"]) == 2
    assert {c["contact_name"] for c in body["confirmations"]} == {"Ada", "Bert"}
    assert api.post(url, {}, format="json").status_code == 201
    assert ValueConfirmation.objects.count() == 2


def test_an_open_deals_phase_and_a_refused_plan(api_as, rep, deal, stakeholders):
    api = api_as(rep)
    url = f"/api/deals/{deal.id}/value-confirmations/"
    assert api.get(url).json()["phase"] == "change"
    response = api.post(url, {}, format="json")
    assert response.status_code == 400 and "deal" in response.json()
    assert not ValueConfirmation.objects.exists()


def test_patch_records_a_held_conversation(api_as, manager, rep, won_deal):
    [c, _] = value_plan_create(deal=won_deal, by=rep)
    response = api_as(manager).patch(
        f"/api/value-confirmations/{c.id}/",
        {**RECORD, "metric_name": "Hours", "metric_value": "2.5"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["held_at"] == YESTERDAY and body["metric_value"] == "2.50" and body["contact_name"] == "Ada"


def test_patch_with_bad_input_is_400_naming_the_field(api_as, rep, won_deal):
    [c, _] = value_plan_create(deal=won_deal, by=rep)
    api = api_as(rep)
    for data, field in [
        ({**RECORD, "held_at": "soon"}, "held_at"),
        ({**RECORD, "confirmed_value": ""}, "confirmed_value"),
        ({"confirmed_value": "x"}, "held_at"),
        ({**RECORD, "metric_value": "7"}, "metric_name"),
    ]:
        response = api.patch(f"/api/value-confirmations/{c.id}/", data, format="json")
        assert response.status_code == 400 and field in response.json(), (data, response.json())
    c.refresh_from_db()
    assert c.held_at is None and c.confirmed_value == ""


def test_another_rep_reads_but_may_not_write(api_as, rep, other_rep, won_deal):
    [c, _] = value_plan_create(deal=won_deal, by=rep)
    api = api_as(other_rep)
    assert api.get(f"/api/deals/{won_deal.id}/value-confirmations/").status_code == 200
    assert api.patch(f"/api/value-confirmations/{c.id}/", RECORD, format="json").status_code == 403
    assert api.post(f"/api/deals/{won_deal.id}/value-confirmations/", {}, format="json").status_code == 403
    c.refresh_from_db()
    assert c.held_at is None


def test_another_org_is_404(api_as, rep, won_deal, other_org_world):
    [c, _] = value_plan_create(deal=won_deal, by=rep)
    api = api_as(other_org_world["member"])
    assert api.get(f"/api/deals/{won_deal.id}/value-confirmations/").status_code == 404
    assert api.patch(f"/api/value-confirmations/{c.id}/", RECORD, format="json").status_code == 404
    assert (
        api.post(
            f"/api/value-confirmations/{c.id}/expansion-deal/",
            {"process": other_org_world["process"].id},
            format="json",
        ).status_code
        == 404
    )
    c.refresh_from_db()
    assert c.held_at is None


def test_expansion_deal_is_201_with_the_new_deal(api_as, rep, won_deal, process):
    [c, _] = value_plan_create(deal=won_deal, by=rep)
    value_confirmation_record(confirmation=c, by=rep, **RECORD)
    api = api_as(rep)
    url = f"/api/value-confirmations/{c.id}/expansion-deal/"
    response = api.post(url, {"process": process.id}, format="json")
    assert response.status_code == 201, response.json()
    new = Deal.objects.get(pk=response.json()["id"])
    assert new.name == "EMEA rollout" and new.account_id == won_deal.account_id
    assert DealLink.objects.filter(from_deal=won_deal, to_deal=new).exists()
    again = api.post(url, {"process": process.id}, format="json")
    assert again.status_code == 400 and "confirmation" in again.json()


def test_expansion_deal_bad_process_is_400(api_as, rep, won_deal, other_org_world):
    [c, _] = value_plan_create(deal=won_deal, by=rep)
    value_confirmation_record(confirmation=c, by=rep, **RECORD)
    api = api_as(rep)
    url = f"/api/value-confirmations/{c.id}/expansion-deal/"
    for data in ({}, {"process": "x"}, {"process": other_org_world["process"].id}):
        response = api.post(url, data, format="json")
        assert response.status_code == 400 and "process" in response.json(), response.json()
    assert not DealLink.objects.exists()
