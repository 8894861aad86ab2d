"""A deal's activities, plan steps and stakeholders over the API."""

from datetime import timedelta

import pytest
from django.utils import timezone

from deals.models import Activity, DealStakeholder, DealStep, StepComment
from deals.services import deal_create, stakeholder_add, step_add, step_comment_add
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


# ---- the plan: a step's stakeholder, edits, deletes, order and comments


def stage_step(deal, title="Confirm the budget") -> DealStep:
    return DealStep.objects.create(
        organization_id=deal.organization_id, deal=deal, title=title, source="stage", stage=deal.stage
    )


def plan_titles(deal) -> list[str]:
    return list(DealStep.objects.filter(deal=deal).order_by("position", "id").values_list("title", flat=True))


def test_a_step_with_a_stakeholder_shows_who_and_who_added_it(api_client, rep, deal, contact):
    champion = stakeholder_add(deal=deal, by=rep, contact=contact, role="champion")

    created = api_client(rep).post(
        f"/api/deals/{deal.id}/steps/",
        {"title": "Coach the champion", "stakeholder": champion.id},
        format="json",
    )

    assert created.status_code == 201
    body = created.json()
    assert body["stakeholder"] == {"id": champion.id, "name": "Hank Scorpio", "role": "champion"}
    assert body["created_by"] == {"id": rep.user_id, "name": rep.user.display_name}
    assert body["comment_count"] == 0


def test_another_deals_stakeholder_is_400_and_writes_nothing(
    api_client, rep, deal, process, account, contact
):
    other = deal_create(by=rep, process=process, name="Other", account=account)
    theirs = stakeholder_add(deal=other, by=rep, contact=contact, role="champion")

    response = api_client(rep).post(
        f"/api/deals/{deal.id}/steps/", {"title": "x", "stakeholder": theirs.id}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {"stakeholder": ["That person is not a stakeholder on this deal."]}
    assert not DealStep.objects.filter(deal=deal).exists()


def test_patch_edits_a_custom_step_and_ticks_it_at_once(api_client, rep, manager, deal, contact):
    champion = stakeholder_add(deal=deal, by=rep, contact=contact, role="champion")
    step = step_add(deal=deal, by=rep, title="Draft")

    response = api_client(manager).patch(
        f"/api/steps/{step.id}/",
        {
            "title": "Send the plan",
            "description": "With dates",
            "due_date": "2030-03-01",
            "assignee": rep.user_id,
            "stakeholder": champion.id,
            "done": True,
        },
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["title"], body["description"], body["due_date"], body["done"]) == (
        "Send the plan",
        "With dates",
        "2030-03-01",
        True,
    )
    assert body["assignee"]["id"] == rep.user_id and body["stakeholder"]["id"] == champion.id
    assert body["completed_by"]["id"] == manager.user_id


@pytest.mark.parametrize(
    "body, field",
    [
        ({"title": ""}, "title"),
        ({"due_date": "soon"}, "due_date"),
        ({"assignee": 999999}, "assignee"),
        ({"stakeholder": 999999}, "stakeholder"),
    ],
)
def test_a_bad_patch_is_400_and_changes_nothing_not_even_done(api_client, rep, deal, body, field):
    step = step_add(deal=deal, by=rep, title="Keep me")

    response = api_client(rep).patch(f"/api/steps/{step.id}/", {**body, "done": True}, format="json")

    assert response.status_code == 400
    assert field in response.json()
    step.refresh_from_db()
    assert (step.title, step.completed_at) == ("Keep me", None)


def test_a_stage_steps_title_cannot_change_but_its_due_date_can(api_client, rep, deal):
    step = stage_step(deal)
    client = api_client(rep)

    renamed = client.patch(f"/api/steps/{step.id}/", {"title": "Mine"}, format="json")
    planned = client.patch(f"/api/steps/{step.id}/", {"due_date": "2030-01-15"}, format="json")

    assert renamed.status_code == 400
    assert "Only the deal's own (custom) steps can be renamed" in renamed.json()["title"][0]
    assert planned.status_code == 200 and planned.json()["due_date"] == "2030-01-15"
    step.refresh_from_db()
    assert step.title == "Confirm the budget"


def test_delete_a_custom_step(api_client, rep, deal):
    step = step_add(deal=deal, by=rep, title="Gone soon")

    response = api_client(rep).delete(f"/api/steps/{step.id}/")

    assert response.status_code == 204
    assert not DealStep.objects.exists()


def test_deleting_a_stage_step_is_400_saying_why(api_client, rep, deal):
    step = stage_step(deal)

    response = api_client(rep).delete(f"/api/steps/{step.id}/")

    assert response.status_code == 400
    assert response.json()["step"] == [
        "Only the deal's own (custom) steps can be deleted: stage steps come from the exit criteria and "
        "play steps from the plays."
    ]
    assert DealStep.objects.filter(pk=step.pk).exists()


def test_reorder_the_plan(api_client, rep, deal):
    gate = stage_step(deal)
    a, b = (step_add(deal=deal, by=rep, title=t) for t in ("A", "B"))

    response = api_client(rep).post(
        f"/api/deals/{deal.id}/steps/reorder/", {"step_ids": [b.id, gate.id, a.id]}, format="json"
    )
    listed = api_client(rep).get(f"/api/deals/{deal.id}/steps/")

    assert response.status_code == 200
    assert response.json() == {"step_ids": [b.id, gate.id, a.id]}
    assert [s["title"] for s in listed.json()["results"]] == ["B", "Confirm the budget", "A"]
    assert [s["position"] for s in listed.json()["results"]] == [1, 2, 3]


@pytest.mark.parametrize(
    "step_ids, message",
    [
        ("MISSING", "missing"),
        ("REPEATED", "repeated"),
        ("FOREIGN", "not steps of this deal's plan"),
    ],
)
def test_a_wrong_order_is_400_naming_the_ids(api_client, rep, deal, process, account, step_ids, message):
    a, b = (step_add(deal=deal, by=rep, title=t) for t in ("A", "B"))
    other = step_add(deal=deal_create(by=rep, process=process, name="O", account=account), by=rep, title="O")
    ids = {"MISSING": [b.id], "REPEATED": [b.id, a.id, a.id], "FOREIGN": [b.id, a.id, other.id]}[step_ids]

    response = api_client(rep).post(f"/api/deals/{deal.id}/steps/reorder/", {"step_ids": ids}, format="json")

    assert response.status_code == 400
    assert message in response.json()["step_ids"][0]
    assert plan_titles(deal) == ["A", "B"]


def test_reorder_needs_a_list_of_ids(api_client, rep, deal):
    step_add(deal=deal, by=rep, title="A")

    response = api_client(rep).post(
        f"/api/deals/{deal.id}/steps/reorder/", {"step_ids": "1,2"}, format="json"
    )

    assert response.status_code == 400
    assert "step_ids" in response.json()


def test_another_rep_cannot_edit_delete_or_reorder(api_client, rep, other_rep, deal):
    a, b = (step_add(deal=deal, by=rep, title=t) for t in ("A", "B"))
    client = api_client(other_rep)

    assert client.patch(f"/api/steps/{a.id}/", {"title": "Mine"}, format="json").status_code == 403
    assert client.delete(f"/api/steps/{a.id}/").status_code == 403
    reordered = client.post(f"/api/deals/{deal.id}/steps/reorder/", {"step_ids": [b.id, a.id]}, format="json")
    assert reordered.status_code == 403
    assert plan_titles(deal) == ["A", "B"]


def test_another_orgs_plan_is_404_for_every_new_route(api_client, rep, other_org_world):
    w = other_org_world
    step = step_add(deal=w["deal"], by=w["member"], title="Theirs")
    comment = step_comment_add(step=step, by=w["member"], body="Theirs").comment
    client = api_client(rep)

    assert client.delete(f"/api/steps/{step.id}/").status_code == 404
    assert (
        client.post(
            f"/api/deals/{w['deal'].id}/steps/reorder/", {"step_ids": [step.id]}, format="json"
        ).status_code
        == 404
    )
    assert client.get(f"/api/steps/{step.id}/comments/").status_code == 404
    assert client.post(f"/api/steps/{step.id}/comments/", {"body": "Hi"}, format="json").status_code == 404
    assert client.delete(f"/api/step-comments/{comment.id}/").status_code == 404
    assert DealStep.objects.filter(pk=step.pk).exists() and StepComment.objects.count() == 1


def test_a_reader_comments_on_a_step_and_the_mentioned_are_notified(api_client, rep, other_rep, deal):
    rep.user.full_name = "Riley Chen"
    rep.user.save(update_fields=["full_name"])
    step = step_add(deal=deal, by=rep, title="Send the ROI model")
    client = api_client(other_rep)

    created = client.post(
        f"/api/steps/{step.id}/comments/", {"body": "@riley use the Initech numbers, @nobody"}, format="json"
    )
    listed = client.get(f"/api/steps/{step.id}/comments/")
    detail = api_client(rep).get(f"/api/steps/{step.id}/")
    inbox = api_client(rep).get("/api/notifications/")

    assert created.status_code == 201
    body = created.json()
    assert body["author"]["id"] == other_rep.user_id and body["step"] == step.id
    assert body["notified"] == [{"id": rep.user_id, "name": "Riley Chen"}]
    assert body["unresolved"] == ["@nobody"]
    assert body["mentions"] == [{"start": 0, "end": 6, "user_id": rep.user_id}]
    assert [c["body"] for c in listed.json()["results"]] == ["@riley use the Initech numbers, @nobody"]
    assert detail.json()["comment_count"] == 1
    [notification] = inbox.json()["results"]
    assert (notification["step_comment"], notification["step"]) == (body["id"], step.id)
    assert notification["excerpt"].startswith("@riley use the Initech")


def test_an_empty_comment_is_400(api_client, rep, deal):
    step = step_add(deal=deal, by=rep, title="A")

    response = api_client(rep).post(f"/api/steps/{step.id}/comments/", {"body": "  "}, format="json")

    assert response.status_code == 400
    assert "body" in response.json()
    assert not StepComment.objects.exists()


def test_only_the_author_deletes_a_comment(api_client, rep, manager, deal):
    step = step_add(deal=deal, by=rep, title="A")
    comment = step_comment_add(step=step, by=rep, body="Mine").comment

    refused = api_client(manager).delete(f"/api/step-comments/{comment.id}/")
    deleted = api_client(rep).delete(f"/api/step-comments/{comment.id}/")

    assert refused.status_code == 403 and "Only the comment's author" in refused.json()["detail"]
    assert deleted.status_code == 204
    assert not StepComment.objects.exists()


def test_a_steps_thread_lists_oldest_first_in_a_fixed_number_of_queries(
    api_client, rep, deal, django_assert_num_queries
):
    step = step_add(deal=deal, by=rep, title="A")
    for i in range(15):
        step_comment_add(step=step, by=rep, body=f"Comment {i}")
    client = api_client(rep)

    # token auth with the user + membership + the step + one page of comments with their authors
    with django_assert_num_queries(4):
        response = client.get(f"/api/steps/{step.id}/comments/")

    assert [c["body"] for c in response.json()["results"]][:2] == ["Comment 0", "Comment 1"]
