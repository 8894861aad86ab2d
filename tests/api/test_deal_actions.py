"""Stage moves, wins and losses over the API: exit criteria, overrides, stale versions."""

import pytest

from deals.models import DealStakeholder, DealStatus, StageChange
from deals.services import deal_create
from salesproc.services import process_import
from tests.fixtures import SIMPLE_PROCESS


def _move(client, deal, stage, version=1, **extra):
    return client.post(
        f"/api/deals/{deal.id}/move/", {"to_stage": stage.id, "version": version, **extra}, format="json"
    )


def _history(deal):
    return list(StageChange.objects.filter(deal=deal).order_by("id").values_list("to_stage_id", flat=True))


def test_move_forward_without_criteria(api_client, rep, deal, stages):
    response = _move(api_client(rep), deal, stages[1])

    assert response.status_code == 200
    assert response.json()["stage"] == {"id": stages[1].id, "name": "Discover"}
    assert response.json()["version"] == 2
    assert _history(deal) == [stages[0].id, stages[1].id]


def test_move_with_a_stale_version_is_409_and_writes_nothing(api_client, rep, deal, stages):
    client = api_client(rep)
    assert _move(client, deal, stages[1]).status_code == 200

    response = _move(client, deal, stages[2], version=1)

    assert response.status_code == 409
    assert response.json() == {
        "detail": response.json()["detail"],
        "code": "stale_version",
        "current_version": 2,
    }
    deal.refresh_from_db()
    assert (deal.stage_id, deal.version) == (stages[1].id, 2)
    assert _history(deal) == [stages[0].id, stages[1].id]


def test_move_past_unmet_criteria_is_400_listing_them(api_client, rep, deal, stages, gates):
    response = _move(api_client(rep), deal, stages[1])

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "criteria_unmet"
    assert [c["label"] for c in body["unmet_criteria"]] == ["Budget known", "Pain stated"]
    assert body["unmet_criteria"][0]["hint"] == "Fill in budget"
    assert body["can_override"] is False
    deal.refresh_from_db()
    assert (deal.stage_id, deal.version) == (stages[0].id, 1)
    assert _history(deal) == [stages[0].id]


def test_meeting_the_criteria_opens_the_move(api_client, rep, deal, stages, gates):
    client = api_client(rep)
    assert (
        client.patch(f"/api/deals/{deal.id}/", {"version": 1, "budget": "50000"}, format="json").status_code
        == 200
    )
    answer = client.post(
        f"/api/deals/{deal.id}/answers/",
        {"criterion": gates["pain"].id, "text": "Slow quotes"},
        format="json",
    )
    assert answer.status_code == 200

    response = _move(client, deal, stages[1], version=2)

    assert response.status_code == 200
    assert response.json()["stage"]["id"] == stages[1].id


def test_manager_may_override_mandatory_criteria_with_a_reason(api_client, manager, deal, stages, gates):
    client = api_client(manager)
    refused = _move(client, deal, stages[1])
    assert refused.status_code == 400 and refused.json()["can_override"] is True

    response = _move(client, deal, stages[1], override_reason="Budget confirmed on a call")

    assert response.status_code == 200
    entry = StageChange.objects.get(deal=deal, to_stage=stages[1])
    assert entry.override_reason == "Budget confirmed on a call"
    assert [c["label"] for c in entry.overridden_criteria] == ["Budget known", "Pain stated"]


def test_rep_cannot_override(api_client, rep, deal, stages, gates):
    response = _move(api_client(rep), deal, stages[1], override_reason="Trust me")

    assert response.status_code == 403
    assert response.json()["code"] == "not_allowed"
    assert _history(deal) == [stages[0].id]


def test_nobody_overrides_a_critical_criterion(api_client, admin, deal, stages, critical_gate):
    response = _move(api_client(admin), deal, stages[1], override_reason="Exec sponsor said so")

    assert response.status_code == 400
    assert response.json()["code"] == "criteria_unmet"
    assert response.json()["can_override"] is False
    assert _history(deal) == [stages[0].id]


def test_back_moves_are_free(api_client, manager, deal, stages, gates):
    client = api_client(manager)
    assert _move(client, deal, stages[2], override_reason="Skip ahead").status_code == 200

    response = _move(client, deal, stages[1], version=2)

    assert response.status_code == 200
    assert _history(deal) == [stages[0].id, stages[2].id, stages[1].id]


def test_rep_cannot_move_another_reps_deal(api_client, other_rep, deal, stages):
    response = _move(api_client(other_rep), deal, stages[1])

    assert response.status_code == 403
    assert _history(deal) == [stages[0].id]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"to_stage": 999999, "version": 1}, "to_stage"),
        ({"to_stage": "next", "version": 1}, "to_stage"),
        ({"version": 1}, "to_stage"),
        ({"to_stage": "STAGE", "version": "one"}, "version"),
        ({"to_stage": "STAGE"}, "version"),
    ],
)
def test_bad_move_input_is_400_naming_the_field(api_client, rep, deal, stages, body, field):
    body = {k: (stages[1].id if v == "STAGE" else v) for k, v in body.items()}

    response = api_client(rep).post(f"/api/deals/{deal.id}/move/", body, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert _history(deal) == [stages[0].id]


def test_move_to_a_stage_of_another_process_is_400(api_client, rep, deal, stages):
    second, _ = process_import(org=rep.organization, data={**SIMPLE_PROCESS, "name": "Renewals"}, by=None)

    response = _move(api_client(rep), deal, second.stages.order_by("order")[1])

    assert response.status_code == 400
    assert "to_stage" in response.json()
    assert _history(deal) == [stages[0].id]


def test_move_to_another_orgs_stage_is_400(api_client, rep, deal, stages, other_org_world):
    foreign = other_org_world["process"].stages.order_by("order")[1]

    response = _move(api_client(rep), deal, foreign)

    assert response.status_code == 400
    assert "does not exist" in response.json()["to_stage"][0]
    assert _history(deal) == [stages[0].id]


def test_move_to_the_current_stage_is_400(api_client, rep, deal, stages):
    response = _move(api_client(rep), deal, stages[0])

    assert response.status_code == 400
    assert "to_stage" in response.json()


def test_win_closes_the_deal(api_client, rep, deal):
    response = api_client(rep).post(f"/api/deals/{deal.id}/win/", {"version": 1}, format="json")

    assert response.status_code == 200
    assert response.json()["status"] == "won"
    assert response.json()["closed_at"] is not None
    assert StageChange.objects.get(deal=deal).left_at is not None


def test_lose_needs_a_reason(api_client, rep, deal):
    client = api_client(rep)
    missing = client.post(f"/api/deals/{deal.id}/lose/", {"version": 1}, format="json")
    blank = client.post(f"/api/deals/{deal.id}/lose/", {"version": 1, "reason": "  "}, format="json")

    assert missing.status_code == 400 and "reason" in missing.json()
    assert blank.status_code == 400 and "reason" in blank.json()
    deal.refresh_from_db()
    assert deal.status == DealStatus.OPEN

    response = client.post(
        f"/api/deals/{deal.id}/lose/", {"version": 1, "reason": "Went with Initech"}, format="json"
    )

    assert response.status_code == 200
    deal.refresh_from_db()
    assert (deal.status, deal.lost_reason) == (DealStatus.LOST, "Went with Initech")


def test_win_with_a_stale_version_is_409(api_client, rep, deal):
    response = api_client(rep).post(f"/api/deals/{deal.id}/win/", {"version": 3}, format="json")

    assert response.status_code == 409
    assert response.json()["current_version"] == 1
    deal.refresh_from_db()
    assert deal.status == DealStatus.OPEN


def test_a_closed_deal_cannot_move(api_client, rep, deal, stages):
    client = api_client(rep)
    assert client.post(f"/api/deals/{deal.id}/win/", {"version": 1}, format="json").status_code == 200

    response = _move(client, deal, stages[1], version=2)

    assert response.status_code == 400
    assert _history(deal) == [stages[0].id]


def test_rep_cannot_close_another_reps_deal(api_client, other_rep, deal):
    client = api_client(other_rep)

    assert client.post(f"/api/deals/{deal.id}/win/", {"version": 1}, format="json").status_code == 403
    assert (
        client.post(f"/api/deals/{deal.id}/lose/", {"version": 1, "reason": "x"}, format="json").status_code
        == 403
    )
    deal.refresh_from_db()
    assert deal.status == DealStatus.OPEN


def test_criteria_status_lists_the_current_stage(api_client, rep, deal, gates):
    response = api_client(rep).get(f"/api/deals/{deal.id}/criteria/")

    assert response.status_code == 200
    assert [(c["label"], c["importance"], c["met"]) for c in response.json()] == [
        ("Budget known", "mandatory", False),
        ("Pain stated", "mandatory", False),
        ("Close date", "optional", False),
    ]


def test_answers_are_set_and_cleared(api_client, rep, deal, gates):
    client = api_client(rep)
    url = f"/api/deals/{deal.id}/answers/"

    set_ = client.post(url, {"criterion": gates["pain"].id, "text": "Slow quotes"}, format="json")
    met = {c["label"]: c["met"] for c in client.get(f"/api/deals/{deal.id}/criteria/").json()}
    cleared = client.post(url, {"criterion": gates["pain"].id, "text": ""}, format="json")

    assert set_.status_code == 200 and set_.json()["text"] == "Slow quotes"
    assert met["Pain stated"] is True
    assert cleared.status_code == 200 and cleared.json()["text"] == ""
    assert not deal.answers.exists()


def test_answer_to_a_criterion_that_is_not_a_question_is_400(api_client, rep, deal, gates):
    response = api_client(rep).post(
        f"/api/deals/{deal.id}/answers/", {"criterion": gates["budget"].id, "text": "Yes"}, format="json"
    )

    assert response.status_code == 400
    assert "criterion" in response.json()
    assert not deal.answers.exists()


def test_rep_cannot_answer_on_another_reps_deal(api_client, other_rep, deal, gates):
    response = api_client(other_rep).post(
        f"/api/deals/{deal.id}/answers/", {"criterion": gates["pain"].id, "text": "Mine"}, format="json"
    )

    assert response.status_code == 403
    assert not deal.answers.exists()


def test_move_counts_stakeholder_criteria(
    api_client, manager, rep, process, stages, account, contact, critical_gate
):
    deal = deal_create(by=rep, process=process, name="Buyer deal", account=account)
    client = api_client(rep)
    added = client.post(
        f"/api/deals/{deal.id}/stakeholders/",
        {"contact": contact.id, "role": "economic_buyer"},
        format="json",
    )
    assert added.status_code == 201

    response = _move(client, deal, stages[1])

    assert response.status_code == 200
    assert DealStakeholder.objects.filter(deal=deal).count() == 1
