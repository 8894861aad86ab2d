"""A deal's activities, plan steps and stakeholders over the API."""

from datetime import timedelta

import pytest
from django.utils import timezone

from deals.models import Activity, DealStakeholder, DealStep
from deals.services import deal_create, stakeholder_add, step_add
from tests.factories import ContactFactory

# ---- activities


def test_log_and_list_activities(api_client, rep, deal):
    client = api_client(rep)
    url = f"/api/deals/{deal.id}/activities/"

    created = client.post(url, {"kind": "call", "subject": "Discovery", "body": "Went well"}, format="json")
    listed = client.get(url)

    assert created.status_code == 201
    assert created.json()["by"] == {"id": rep.user_id, "name": rep.user.display_name}
    assert [a["subject"] for a in listed.json()["results"]] == ["Discovery"]
    deal.refresh_from_db()
    assert deal.last_activity_at == Activity.objects.get().occurred_at


@pytest.mark.parametrize(
    "body, field",
    [
        ({"kind": "lunch", "subject": "x"}, "kind"),
        ({"kind": "call"}, "subject"),
        ({"kind": "call", "subject": "x", "occurred_at": "yesterday"}, "occurred_at"),
        ({"kind": "call", "subject": "x", "occurred_at": "FUTURE"}, "occurred_at"),
        ({"kind": "call", "subject": "x", "stakeholder": 999999}, "stakeholder"),
    ],
)
def test_bad_activity_input_is_400(api_client, rep, deal, body, field):
    if body.get("occurred_at") == "FUTURE":
        body["occurred_at"] = (timezone.now() + timedelta(days=3)).isoformat()

    response = api_client(rep).post(f"/api/deals/{deal.id}/activities/", body, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not Activity.objects.exists()


def test_activity_naming_a_stakeholder_of_another_deal_is_400(
    api_client, rep, deal, process, account, contact
):
    other = deal_create(by=rep, process=process, name="Other", account=account)
    stakeholder = stakeholder_add(deal=other, by=rep, contact=contact, role="champion")

    response = api_client(rep).post(
        f"/api/deals/{deal.id}/activities/",
        {"kind": "call", "subject": "x", "stakeholder": stakeholder.id},
        format="json",
    )

    assert response.status_code == 400
    assert "stakeholder" in response.json()


def test_rep_cannot_log_on_another_reps_deal(api_client, other_rep, deal):
    response = api_client(other_rep).post(
        f"/api/deals/{deal.id}/activities/", {"kind": "note", "subject": "Mine"}, format="json"
    )

    assert response.status_code == 403
    assert not Activity.objects.exists()


# ---- steps


def test_add_a_custom_step_and_tick_it(api_client, rep, deal):
    client = api_client(rep)

    created = client.post(
        f"/api/deals/{deal.id}/steps/",
        {"title": "Map the committee", "due_date": "2030-02-01"},
        format="json",
    )
    step_id = created.json()["id"]
    ticked = client.patch(f"/api/steps/{step_id}/", {"done": True}, format="json")
    listed = client.get(f"/api/deals/{deal.id}/steps/")

    assert created.status_code == 201
    assert created.json()["source"] == "custom"
    assert ticked.status_code == 200
    assert ticked.json()["done"] is True
    assert ticked.json()["completed_by"]["id"] == rep.user_id
    assert [s["title"] for s in listed.json()["results"]] == ["Map the committee"]
    assert DealStep.objects.get(pk=step_id).completed_at is not None


def test_untick_a_step(api_client, rep, deal):
    step = step_add(deal=deal, by=rep, title="Call the CFO")
    client = api_client(rep)
    client.patch(f"/api/steps/{step.id}/", {"done": True}, format="json")

    response = client.patch(f"/api/steps/{step.id}/", {"done": False}, format="json")

    assert response.json()["done"] is False
    step.refresh_from_db()
    assert step.completed_at is None


def test_steps_list_in_plan_order(api_client, rep, deal):
    for title in ("First", "Second", "Third"):
        step_add(deal=deal, by=rep, title=title)

    response = api_client(rep).get(f"/api/deals/{deal.id}/steps/")

    assert [s["title"] for s in response.json()["results"]] == ["First", "Second", "Third"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "title"),
        ({"title": ""}, "title"),
        ({"title": "x", "due_date": "soon"}, "due_date"),
        ({"title": "x", "assignee": 999999}, "assignee"),
    ],
)
def test_bad_step_input_is_400(api_client, rep, deal, body, field):
    response = api_client(rep).post(f"/api/deals/{deal.id}/steps/", body, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not DealStep.objects.exists()


def test_step_done_needs_a_boolean(api_client, rep, deal):
    step = step_add(deal=deal, by=rep, title="Call the CFO")

    response = api_client(rep).patch(f"/api/steps/{step.id}/", {"done": "perhaps"}, format="json")

    assert response.status_code == 400
    assert "done" in response.json()


def test_rep_cannot_add_or_tick_steps_on_another_reps_deal(api_client, rep, other_rep, deal):
    step = step_add(deal=deal, by=rep, title="Call the CFO")
    client = api_client(other_rep)

    assert client.post(f"/api/deals/{deal.id}/steps/", {"title": "Mine"}, format="json").status_code == 403
    assert client.patch(f"/api/steps/{step.id}/", {"done": True}, format="json").status_code == 403
    step.refresh_from_db()
    assert step.completed_at is None
    assert DealStep.objects.count() == 1


def test_another_orgs_step_is_404(api_client, rep, other_org_world):
    w = other_org_world
    step = step_add(deal=w["deal"], by=w["member"], title="Theirs")
    client = api_client(rep)

    assert client.get(f"/api/steps/{step.id}/").status_code == 404
    assert client.patch(f"/api/steps/{step.id}/", {"done": True}, format="json").status_code == 404
    step.refresh_from_db()
    assert step.completed_at is None


# ---- stakeholders


def test_add_edit_and_remove_a_stakeholder(api_client, rep, deal, contact):
    client = api_client(rep)

    created = client.post(
        f"/api/deals/{deal.id}/stakeholders/",
        {"contact": contact.id, "role": "champion", "influence": 4, "desired_results": "Faster quotes"},
        format="json",
    )
    sid = created.json()["id"]
    edited = client.patch(
        f"/api/stakeholders/{sid}/", {"attitude": "advocate", "influence": 5}, format="json"
    )
    listed = client.get(f"/api/deals/{deal.id}/stakeholders/")
    removed = client.delete(f"/api/stakeholders/{sid}/")

    assert created.status_code == 201
    assert created.json()["contact"] == {"id": contact.id, "name": "Hank Scorpio"}
    assert (edited.json()["attitude"], edited.json()["influence"]) == ("advocate", 5)
    assert [s["id"] for s in listed.json()["results"]] == [sid]
    assert removed.status_code == 204
    assert not DealStakeholder.objects.exists()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"role": "champion"}, "contact"),
        ({"contact": "CONTACT"}, "role"),
        ({"contact": "CONTACT", "role": "king"}, "role"),
        ({"contact": "CONTACT", "role": "champion", "influence": 9}, "influence"),
        ({"contact": "CONTACT", "role": "champion", "attitude": "grumpy"}, "attitude"),
    ],
)
def test_bad_stakeholder_input_is_400(api_client, rep, deal, contact, body, field):
    body = {k: (contact.id if v == "CONTACT" else v) for k, v in body.items()}

    response = api_client(rep).post(f"/api/deals/{deal.id}/stakeholders/", body, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not DealStakeholder.objects.exists()


def test_the_same_contact_twice_is_400(api_client, rep, deal, contact):
    stakeholder_add(deal=deal, by=rep, contact=contact, role="champion")

    response = api_client(rep).post(
        f"/api/deals/{deal.id}/stakeholders/", {"contact": contact.id, "role": "user"}, format="json"
    )

    assert response.status_code == 400
    assert "contact" in response.json()
    assert DealStakeholder.objects.count() == 1


def test_another_orgs_contact_as_stakeholder_is_400(api_client, rep, deal, other_org_world):
    response = api_client(rep).post(
        f"/api/deals/{deal.id}/stakeholders/",
        {"contact": other_org_world["contact"].id, "role": "champion"},
        format="json",
    )

    assert response.status_code == 400
    assert "contact" in response.json()
    assert not DealStakeholder.objects.exists()


def test_rep_cannot_change_stakeholders_on_another_reps_deal(api_client, rep, other_rep, deal, contact):
    stakeholder = stakeholder_add(deal=deal, by=rep, contact=contact, role="champion")
    client = api_client(other_rep)
    newcomer = ContactFactory(organization=rep.organization)

    assert (
        client.patch(f"/api/stakeholders/{stakeholder.id}/", {"role": "blocker"}, format="json").status_code
        == 403
    )
    assert client.delete(f"/api/stakeholders/{stakeholder.id}/").status_code == 403
    added = client.post(
        f"/api/deals/{deal.id}/stakeholders/", {"contact": newcomer.id, "role": "user"}, format="json"
    )
    assert added.status_code == 403
    assert list(DealStakeholder.objects.values_list("role", flat=True)) == ["champion"]


def test_another_orgs_stakeholder_is_404(api_client, rep, other_org_world):
    w = other_org_world
    stakeholder = stakeholder_add(deal=w["deal"], by=w["member"], contact=w["contact"], role="champion")
    client = api_client(rep)

    assert client.get(f"/api/stakeholders/{stakeholder.id}/").status_code == 404
    assert (
        client.patch(f"/api/stakeholders/{stakeholder.id}/", {"role": "blocker"}, format="json").status_code
        == 404
    )
    assert client.delete(f"/api/stakeholders/{stakeholder.id}/").status_code == 404
    assert DealStakeholder.objects.get(pk=stakeholder.pk).role == "champion"


def test_another_orgs_deal_has_no_sub_resources(api_client, rep, other_org_world, contact):
    deal = other_org_world["deal"]
    client = api_client(rep)

    for path in ("activities", "steps", "stakeholders", "criteria"):
        assert client.get(f"/api/deals/{deal.id}/{path}/").status_code == 404
    assert (
        client.post(
            f"/api/deals/{deal.id}/activities/", {"kind": "note", "subject": "x"}, format="json"
        ).status_code
        == 404
    )
    assert client.post(f"/api/deals/{deal.id}/steps/", {"title": "x"}, format="json").status_code == 404
    assert (
        client.post(
            f"/api/deals/{deal.id}/stakeholders/", {"contact": contact.id, "role": "user"}, format="json"
        ).status_code
        == 404
    )
    assert not Activity.objects.exists()
    assert not DealStep.objects.exists()
    assert not DealStakeholder.objects.exists()


def test_activities_list_latest_first_by_when_they_happened(api_client, rep, deal):
    client = api_client(rep)
    url = f"/api/deals/{deal.id}/activities/"
    client.post(url, {"kind": "call", "subject": "Today"}, format="json")
    earlier = (timezone.now() - timedelta(days=2)).isoformat()
    client.post(url, {"kind": "meeting", "subject": "Logged late", "occurred_at": earlier}, format="json")

    response = client.get(url)

    assert [a["subject"] for a in response.json()["results"]] == ["Today", "Logged late"]
