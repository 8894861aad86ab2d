"""The scorecards API: reads for every member, writes by role, field errors, another org's ids 404."""

import pytest

from scorecards.models import DealScorecard, DealScorecardAnswer, Scorecard, ScorecardCriterion
from scorecards.services import AnswerInput, deal_scorecard_answers_set


def _url(kind: str, *ids) -> str:
    return {
        "scorecard": "/api/processes/{}/scorecard/",
        "criteria": "/api/processes/{}/scorecard/criteria/",
        "order": "/api/processes/{}/scorecard/criteria/order/",
        "win_rates": "/api/processes/{}/scorecard/win-rates/",
        "criterion": "/api/scorecard-criteria/{}/",
        "deal": "/api/deals/{}/scorecard/",
    }[kind].format(*ids)


# ---- the scorecard


def test_every_member_reads_the_scorecard(api_as, rep, process, criteria):
    response = api_as(rep).get(_url("scorecard", process.id))
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["threshold"], body["active"]) == ("MEDDIC lite", 60, True)
    assert [(c["label"], c["weight"], c["scale"], c["max_points"]) for c in body["criteria"]] == [
        ("Budget confirmed", 3, "yes_no", 1),
        ("Pain", 2, "points", 3),
        ("Champion", 5, "points", 5),
    ]


def test_a_process_without_a_scorecard_is_404(api_as, rep, process):
    response = api_as(rep).get(_url("scorecard", process.id))
    assert response.status_code == 404


def test_ops_put_creates_then_updates_the_scorecard(api_as, ops, process):
    client = api_as(ops)
    created = client.put(_url("scorecard", process.id), {"name": "Qualify", "threshold": 70}, format="json")
    assert created.status_code == 201 and created.json()["threshold"] == 70
    updated = client.put(_url("scorecard", process.id), {"threshold": 50, "active": False}, format="json")
    assert updated.status_code == 200
    assert (updated.json()["threshold"], updated.json()["active"]) == (50, False)
    assert Scorecard.objects.get().name == "Qualify"


def test_a_threshold_put_recomputes_results(api_as, ops, rep, deal, process, criteria):
    deal_scorecard_answers_set(
        deal=deal, by=rep, answers=[AnswerInput(c, v) for c, v in zip(criteria, [1, 0, 3], strict=True)]
    )
    response = api_as(ops).put(_url("scorecard", process.id), {"threshold": 61}, format="json")
    assert response.status_code == 200
    assert DealScorecard.objects.get().result == "no_go"


@pytest.mark.parametrize("threshold", [101, -1, "abc"])
def test_a_bad_threshold_is_a_400_naming_it(api_as, ops, process, scorecard, threshold):
    response = api_as(ops).put(_url("scorecard", process.id), {"threshold": threshold}, format="json")
    assert response.status_code == 400
    assert response.json() == {"threshold": ["A whole number from 0 to 100."]}
    assert Scorecard.objects.get().threshold == 60


@pytest.mark.parametrize("role", ["rep", "manager"])
def test_reps_and_managers_cannot_write_the_scorecard(request, api_as, process, scorecard, criteria, role):
    client = api_as(request.getfixturevalue(role))
    assert client.put(_url("scorecard", process.id), {"threshold": 1}, format="json").status_code == 403
    assert client.post(_url("criteria", process.id), {"label": "X"}, format="json").status_code == 403
    assert client.patch(_url("criterion", criteria[0].id), {"weight": 9}, format="json").status_code == 403
    assert client.delete(_url("criterion", criteria[0].id)).status_code == 403
    ids = [c.id for c in criteria][::-1]
    assert client.post(_url("order", process.id), {"criterion_ids": ids}, format="json").status_code == 403
    assert Scorecard.objects.get().threshold == 60
    assert list(ScorecardCriterion.objects.order_by("order").values_list("label", "weight")) == [
        ("Budget confirmed", 3),
        ("Pain", 2),
        ("Champion", 5),
    ]


# ---- criteria


def test_criteria_crud(api_as, ops, rep, process, scorecard):
    client = api_as(ops)
    made = client.post(
        _url("criteria", process.id), {"label": "Budget", "weight": 4, "scale": "yes_no"}, format="json"
    )
    assert made.status_code == 201 and made.json()["max_points"] == 1
    other = client.post(
        _url("criteria", process.id), {"label": "Pain", "max_points": 4}, format="json"
    ).json()
    assert (other["scale"], other["weight"], other["max_points"]) == ("points", 1, 4)

    listed = api_as(rep).get(_url("criteria", process.id))
    assert [c["label"] for c in listed.json()] == ["Budget", "Pain"]

    patched = client.patch(
        _url("criterion", other["id"]), {"weight": 7, "help_text": "Quantified"}, format="json"
    )
    assert patched.status_code == 200 and (patched.json()["weight"], patched.json()["help_text"]) == (
        7,
        "Quantified",
    )

    ordered = client.post(
        _url("order", process.id), {"criterion_ids": [other["id"], made.json()["id"]]}, format="json"
    )
    assert [c["label"] for c in ordered.json()] == ["Pain", "Budget"]

    assert client.delete(_url("criterion", made.json()["id"])).status_code == 204
    assert list(ScorecardCriterion.objects.values_list("label", flat=True)) == ["Pain"]


@pytest.mark.parametrize("weight", [0, 11, "text"])
def test_a_bad_weight_is_a_400_and_nothing_is_written(api_as, ops, process, scorecard, criteria, weight):
    client = api_as(ops)
    response = client.post(
        _url("criteria", process.id), {"label": "Timeline", "weight": weight}, format="json"
    )
    assert response.status_code == 400 and response.json() == {"weight": ["A whole number from 1 to 10."]}
    response = client.patch(_url("criterion", criteria[1].id), {"weight": weight}, format="json")
    assert response.status_code == 400 and response.json() == {"weight": ["A whole number from 1 to 10."]}
    assert (
        ScorecardCriterion.objects.count() == 3
        and ScorecardCriterion.objects.get(pk=criteria[1].pk).weight == 2
    )


def test_a_yes_no_criterion_with_points_is_a_400(api_as, ops, process, scorecard):
    response = api_as(ops).post(
        _url("criteria", process.id), {"label": "Budget", "scale": "yes_no", "max_points": 3}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"max_points": ["A yes / no answer is worth 0 or 1 point."]}
    assert not ScorecardCriterion.objects.exists()


# ---- a deal's answers


def test_the_rep_puts_answers_and_reads_the_score(api_as, rep, deal, criteria):
    budget, pain, champion = criteria
    client = api_as(rep)
    response = client.put(
        _url("deal", deal.id),
        {
            "answers": [
                {"criterion": budget.id, "value": True, "note": "CFO"},
                {"criterion": pain.id, "value": 2},
            ]
        },
        format="json",
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["score"], body["result"], body["answered"]) == ("86.67", "incomplete", 2)
    assert body["criteria"][0]["answer"]["value"] == 1 and body["criteria"][0]["answer"]["note"] == "CFO"
    assert body["criteria"][2]["answer"] is None

    response = client.put(
        _url("deal", deal.id), {"answers": [{"criterion": champion.id, "value": 3}]}, format="json"
    )
    assert (response.json()["score"], response.json()["result"]) == (
        "73.33",
        "go",
    )  # (3 + 2 × 2/3 + 5 × 3/5) / 10

    cleared = client.put(
        _url("deal", deal.id),
        {"answers": [{"criterion": c.id, "value": None} for c in criteria]},
        format="json",
    )
    assert (cleared.json()["score"], cleared.json()["result"]) == (None, "not_scored")
    assert not DealScorecard.objects.exists()


def test_the_managers_answer_and_another_rep_only_reads(api_as, manager, other_rep, deal, criteria):
    url = _url("deal", deal.id)
    body = {"answers": [{"criterion": criteria[0].id, "value": "yes"}]}
    assert api_as(manager).put(url, body, format="json").status_code == 200
    assert api_as(other_rep).get(url).json()["criteria"][0]["answer"]["value"] == 1
    refused = api_as(other_rep).put(
        url, {"answers": [{"criterion": criteria[0].id, "value": 0}]}, format="json"
    )
    assert refused.status_code == 403
    assert DealScorecardAnswer.objects.get().value == 1


@pytest.mark.parametrize(
    ("answer", "errors"),
    [
        (
            {"criterion": 987654321, "value": 1},
            {"answers.0.criterion": ["Unknown criterion: not one of this deal's scorecard."]},
        ),
        ({"criterion": "pain", "value": 4}, {"answers.0.value": ["A whole number from 0 to 3."]}),
        ({"criterion": "pain", "value": "a lot"}, {"answers.0.value": ["A whole number from 0 to 3."]}),
        ({"criterion": "budget", "value": 2}, {"answers.0.value": ["Answer yes or no."]}),
    ],
)
def test_bad_answers_are_a_400_naming_them_and_nothing_is_written(
    api_as, rep, deal, criteria, answer, errors
):
    named = {"budget": criteria[0].id, "pain": criteria[1].id}
    answer = {**answer, "criterion": named.get(answer["criterion"], answer["criterion"])}
    good = {"criterion": criteria[2].id, "value": 5}
    response = api_as(rep).put(_url("deal", deal.id), {"answers": [answer, good]}, format="json")
    assert response.status_code == 400 and response.json() == errors
    assert not DealScorecard.objects.exists() and not DealScorecardAnswer.objects.exists()


def test_a_deal_of_a_process_without_a_scorecard_is_404(api_as, rep, deal):
    assert api_as(rep).get(_url("deal", deal.id)).status_code == 404


# ---- win rates


def test_win_rates_for_managers_and_not_reps(api_as, manager, rep, process, criteria):
    response = api_as(manager).get(
        _url("win_rates", process.id), {"edges": "0,50,101", "complete_only": "true"}
    )
    assert response.status_code == 200
    body = response.json()
    assert [b["label"] for b in body["bands"]] == ["0–50", "50–100"] and body["complete_only"] is True
    assert api_as(rep).get(_url("win_rates", process.id)).status_code == 403


@pytest.mark.parametrize("edges", ["0", "50,40", "a,b", "-5,10"])
def test_bad_band_edges_are_a_400(api_as, manager, process, scorecard, edges):
    response = api_as(manager).get(_url("win_rates", process.id), {"edges": edges})
    assert response.status_code == 400 and "edges" in response.json()


# ---- tenancy


def test_another_orgs_scorecard_criteria_and_deal_are_404(api_as, admin, ops, other_org_world):
    from scorecards.services import scorecard_create, scorecard_criterion_add

    foreign_process = other_org_world["process"]
    foreign = scorecard_criterion_add(
        scorecard=scorecard_create(process=foreign_process, by=None), by=None, label="Theirs"
    )
    client = api_as(admin)
    for url in (
        _url("scorecard", foreign_process.id),
        _url("criteria", foreign_process.id),
        _url("win_rates", foreign_process.id),
        _url("criterion", foreign.id),
        _url("deal", other_org_world["deal"].id),
    ):
        assert client.get(url).status_code == 404, url
        assert client.put(url, {"threshold": 1}, format="json").status_code == 404, url
        assert client.patch(url, {"weight": 1}, format="json").status_code == 404, url
        assert client.delete(url).status_code == 404, url
    assert ScorecardCriterion.objects.get().weight == 1 and ScorecardCriterion.objects.count() == 1
    assert Scorecard.objects.get().threshold == 60


def test_the_schema_documents_the_scorecard_endpoints(client, db):
    paths = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()["paths"]
    assert {
        "/api/processes/{process_id}/scorecard/",
        "/api/processes/{process_id}/scorecard/criteria/",
        "/api/processes/{process_id}/scorecard/win-rates/",
        "/api/scorecard-criteria/{scorecard_criterion_id}/",
        "/api/deals/{deal_id}/scorecard/",
    } <= set(paths)
