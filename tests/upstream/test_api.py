"""The promotions API: list and read, promote a step, accept, dismiss. Role errors are 403, another
organization's ids 404, bad input a 400 naming the field; nothing is written on error."""

import pytest

from playbooks.models import Play
from salesproc.models import ExitCriterion
from upstream.models import Promotion
from upstream.services import promotion_dismiss

# session-less token auth: the token with its user + the membership + the page of promotions + their
# steps (prefetch) + the stages the conditions name.
LIST_QUERIES = 5


def promote_url(deal, step):
    return f"/api/deals/{deal.id}/steps/{step.id}/promote/"


def test_the_owner_promotes_a_step_then_a_second_press_answers_the_open_one(
    api_as, rep, hc_deal, custom_step
):
    api = api_as(rep)

    first = api.post(promote_url(hc_deal, custom_step), {"target": "play", "note": "Worked"}, format="json")
    second = api.post(promote_url(hc_deal, custom_step), {"target": "criterion"}, format="json")

    assert first.status_code == 201
    body = first.json()
    assert (body["origin"], body["target"], body["status"], body["title"]) == (
        "step",
        "play",
        "proposed",
        "Security review with IT",
    )
    assert (
        body["condition_text"]
        == "industry is Healthcare and competitors contain any of Globex and stage is Qualify"
    )
    assert body["steps"] == [
        {
            "id": custom_step.id,
            "title": custom_step.title,
            "deal": {"id": hc_deal.id, "name": "Mercy Hospital"},
        }
    ]
    assert body["evidence"]["note"] == "Worked"
    assert (second.status_code, second.json()["id"]) == (200, body["id"])
    assert Promotion.objects.count() == 1


def test_another_rep_cannot_promote(api_as, other_rep, hc_deal, custom_step):
    response = api_as(other_rep).post(promote_url(hc_deal, custom_step), {}, format="json")

    assert response.status_code == 403
    assert not Promotion.objects.exists()


def test_a_bad_target_is_a_400_naming_it(api_as, rep, hc_deal, custom_step):
    response = api_as(rep).post(promote_url(hc_deal, custom_step), {"target": "tweak"}, format="json")

    assert response.status_code == 400 and "target" in response.json()
    assert not Promotion.objects.exists()


def test_another_orgs_deal_or_promotion_is_a_404(api_as, other_org_world, hc_deal, custom_step, proposed):
    outsider = api_as(other_org_world["member"])

    assert outsider.post(promote_url(hc_deal, custom_step), {}, format="json").status_code == 404
    assert outsider.get(f"/api/promotions/{proposed.id}/").status_code == 404
    assert outsider.post(f"/api/promotions/{proposed.id}/accept/", {}, format="json").status_code == 404
    assert (
        outsider.post(f"/api/promotions/{proposed.id}/dismiss/", {"reason": "x"}, format="json").status_code
        == 404
    )
    assert outsider.get("/api/promotions/").json()["results"] == []
    proposed.refresh_from_db()
    assert proposed.status == "proposed"


def test_ops_accepts_as_a_play_with_an_edited_condition(api_as, ops, proposed, playbook):
    condition = {"field": "industry", "op": "eq", "value": "Healthcare"}

    response = api_as(ops).post(
        f"/api/promotions/{proposed.id}/accept/",
        {"playbook": playbook.id, "condition": condition, "title": "Security review"},
        format="json",
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    play = Play.objects.get()
    assert (body["status"], body["play"], body["playbook"]) == (
        "accepted",
        {"id": play.id, "name": "Security review"},
        playbook.id,
    )
    assert play.condition == condition
    assert body["decided_by"]["name"] == ops.user.display_name


def test_ops_accepts_as_an_exit_criterion(api_as, ops, proposed, stages):
    response = api_as(ops).post(
        f"/api/promotions/{proposed.id}/accept/",
        {"target": "criterion", "stage": stages[1].id, "importance": "mandatory"},
        format="json",
    )

    assert response.status_code == 200, response.json()
    criterion = ExitCriterion.objects.get(label="Security review with IT")
    assert response.json()["criterion"] == {
        "id": criterion.id,
        "label": criterion.label,
        "stage": stages[1].id,
    }
    assert (criterion.stage, criterion.importance) == (stages[1], "mandatory")


def test_a_bad_condition_is_a_400_with_each_problem_and_nothing_written(api_as, ops, proposed, playbook):
    response = api_as(ops).post(
        f"/api/promotions/{proposed.id}/accept/",
        {"playbook": playbook.id, "condition": {"field": "budget", "op": "gt", "value": "lots"}},
        format="json",
    )

    assert response.status_code == 400
    assert list(response.json()) == ["condition"]
    assert not Play.objects.exists()
    proposed.refresh_from_db()
    assert proposed.status == "proposed"


def test_a_missing_playbook_is_a_400_naming_it(api_as, ops, proposed):
    response = api_as(ops).post(f"/api/promotions/{proposed.id}/accept/", {}, format="json")

    assert response.status_code == 400 and "playbook" in response.json()


def test_a_rep_cannot_accept_or_dismiss_even_their_own(api_as, rep, proposed, playbook):
    api = api_as(rep)

    assert (
        api.post(
            f"/api/promotions/{proposed.id}/accept/", {"playbook": playbook.id}, format="json"
        ).status_code
        == 403
    )
    assert (
        api.post(f"/api/promotions/{proposed.id}/dismiss/", {"reason": "no"}, format="json").status_code
        == 403
    )
    assert not Play.objects.exists()
    proposed.refresh_from_db()
    assert proposed.status == "proposed"


def test_ops_dismisses_with_a_reason_and_a_second_decision_is_a_400(api_as, ops, proposed):
    api = api_as(ops)

    assert api.post(f"/api/promotions/{proposed.id}/dismiss/", {}, format="json").status_code == 400
    response = api.post(
        f"/api/promotions/{proposed.id}/dismiss/", {"reason": "Covered already"}, format="json"
    )
    again = api.post(f"/api/promotions/{proposed.id}/dismiss/", {"reason": "Twice"}, format="json")

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["dismiss_reason"]) == ("dismissed", "Covered already")
    assert again.status_code == 400 and "already dismissed" in again.json()["non_field_errors"][0]


def test_the_list_filters_by_status_and_origin(api_as, ops, proposed, hc_deal, rep):
    from deals.services import step_add
    from upstream.services import promotion_propose_from_step

    other, _ = promotion_propose_from_step(step=step_add(deal=hc_deal, by=rep, title="Pilot"), by=rep)
    promotion_dismiss(promotion=other, by=ops, reason="No")
    api = api_as(ops)

    assert [p["id"] for p in api.get("/api/promotions/").json()["results"]] == [other.id, proposed.id]
    assert [p["id"] for p in api.get("/api/promotions/?status=proposed").json()["results"]] == [proposed.id]
    assert api.get("/api/promotions/?origin=recurrence").json()["results"] == []
    bad = api.get("/api/promotions/?status=maybe")
    assert bad.status_code == 400 and "status" in bad.json()


def test_reps_read_only_the_promotions_they_proposed(api_as, rep, other_rep, manager, proposed):
    assert api_as(rep).get(f"/api/promotions/{proposed.id}/").status_code == 200
    assert api_as(other_rep).get(f"/api/promotions/{proposed.id}/").status_code == 404
    assert api_as(manager).get("/api/promotions/").json()["results"] == []


@pytest.mark.parametrize("n", [2, 12])
def test_the_list_query_count_does_not_grow(api_as, ops, hc_deal, rep, django_assert_num_queries, n):
    from deals.services import step_add
    from upstream.services import promotion_propose_from_step

    for i in range(n):
        promotion_propose_from_step(step=step_add(deal=hc_deal, by=rep, title=f"Step {i}"), by=rep)
    api = api_as(ops)

    with django_assert_num_queries(LIST_QUERIES):
        response = api.get("/api/promotions/")

    assert len(response.json()["results"]) == n
