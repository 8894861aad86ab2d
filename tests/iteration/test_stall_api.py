"""The stall API: the caller's flags, snoozing one, and a stage's stall rules."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from deals.services import deal_create
from iteration.models import StallFlag, StallRule
from iteration.stalls import stall_flags_refresh

PROPOSE, NEGOTIATE = 2, 3
# user and token + membership + one page of flags with deal, account, owner and stage (+ the team for
# a manager).
LIST_QUERIES = 3


@pytest.fixture
def api_client():
    """`api_client(membership)`: an APIClient sending that member's token."""

    def make(membership) -> APIClient:
        client = APIClient()
        token, _ = Token.objects.get_or_create(user=membership.user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return make


def deal_in(member, process, account, stage, *, days, name):
    return deal_create(
        by=member,
        process=process,
        stage=stage,
        name=name,
        account=account,
        amount="1000",
        at=timezone.now() - timedelta(days=days),
    )


@pytest.fixture
def flags(org, rep, other_rep, process, stages, account):
    """One no-activity flag per deal (Negotiate has no threshold): rep's 40 (red flag), 25 (warning),
    18 (advice) days; other_rep's 50 (red flag)."""
    deals = [
        deal_in(rep, process, account, stages[NEGOTIATE], days=40, name="Rep red"),
        deal_in(rep, process, account, stages[NEGOTIATE], days=25, name="Rep warning"),
        deal_in(rep, process, account, stages[NEGOTIATE], days=18, name="Rep advice"),
        deal_in(other_rep, process, account, stages[NEGOTIATE], days=50, name="Other red"),
    ]
    stall_flags_refresh(organization=org)
    return {d.name: StallFlag.objects.get(deal=d) for d in deals}


def names(response) -> list[str]:
    return [f["deal"]["name"] for f in response.json()["results"]]


# ---- GET /api/stalls/


def test_a_rep_lists_their_flags_worst_first(api_client, rep, flags):
    response = api_client(rep).get("/api/stalls/")
    assert response.status_code == 200
    assert names(response) == ["Rep red", "Rep warning", "Rep advice"]
    first = response.json()["results"][0]
    assert first == {
        "id": flags["Rep red"].id,
        "deal": {
            "id": flags["Rep red"].deal_id,
            "name": "Rep red",
            "external_id": None,
            "account": {"id": flags["Rep red"].deal.account_id, "name": "Globex"},
            "owner": {"id": rep.user_id, "name": rep.user.display_name},
        },
        "stage": {"id": flags["Rep red"].stage_id, "name": "Negotiate"},
        "rule": "no_activity",
        "level": "red_flag",
        "days": 40,
        "threshold": 30.0,
        "reason": "No activity or stage change for 40 days, past the 30-day red flag limit",
        "since": first["since"],
        "updated_at": first["updated_at"],
        "snoozed_until": None,
        "snooze_reason": "",
        "snoozed_by": None,
    }


def test_managers_see_their_team_and_ops_the_organization(api_client, manager, ops, flags):
    assert names(api_client(manager).get("/api/stalls/")) == ["Rep red", "Rep warning", "Rep advice"]
    assert names(api_client(ops).get("/api/stalls/")) == ["Other red", "Rep red", "Rep warning", "Rep advice"]


def test_the_list_filters_by_level_rule_and_owner(api_client, ops, rep, other_rep, flags):
    client = api_client(ops)
    assert names(client.get("/api/stalls/", {"level": "red_flag"})) == ["Other red", "Rep red"]
    assert names(client.get("/api/stalls/", {"rule": "stalled"})) == []
    assert names(client.get("/api/stalls/", {"owner": other_rep.user_id})) == ["Other red"]
    assert names(api_client(rep).get("/api/stalls/", {"owner": "me", "level": "advice"})) == ["Rep advice"]


@pytest.mark.parametrize(
    "params", [{"level": "purple"}, {"rule": "late"}, {"owner": "someone"}, {"page_size": 0}]
)
def test_bad_filters_are_a_400_naming_them(api_client, rep, flags, params):
    response = api_client(rep).get("/api/stalls/", params)
    assert response.status_code == 400
    assert set(response.json()) == set(params)


def test_the_list_pages_by_cursor(api_client, ops, flags):
    client = api_client(ops)
    seen = []
    response = client.get("/api/stalls/", {"page_size": 3})
    seen += names(response)
    assert response.json()["next"]
    response = client.get(response.json()["next"])
    seen += names(response)
    assert response.json()["next"] is None
    assert seen == ["Other red", "Rep red", "Rep warning", "Rep advice"]


def test_snoozed_flags_are_left_out_unless_asked(api_client, rep, flags):
    client = api_client(rep)
    until = (timezone.localdate() + timedelta(days=5)).isoformat()
    client.post(
        f"/api/stalls/{flags['Rep warning'].id}/snooze/", {"reason": "Later", "until": until}, format="json"
    )
    assert names(client.get("/api/stalls/")) == ["Rep red", "Rep advice"]
    assert "Rep warning" in names(client.get("/api/stalls/", {"include_snoozed": "true"}))


@pytest.mark.parametrize("extra", [0, 5])
def test_the_list_query_count_does_not_grow(
    api_client, rep, org, process, stages, account, flags, django_assert_num_queries, extra
):
    for i in range(extra):
        deal_in(rep, process, account, stages[NEGOTIATE], days=20 + i, name=f"More {i}")
    stall_flags_refresh(organization=org)
    client = api_client(rep)
    with django_assert_num_queries(LIST_QUERIES):
        assert len(names(client.get("/api/stalls/"))) == 3 + extra


# ---- POST /api/stalls/{id}/snooze/


def test_a_rep_snoozes_their_flag(api_client, rep, flags):
    flag = flags["Rep red"]
    until = timezone.localdate() + timedelta(days=10)
    response = api_client(rep).post(
        f"/api/stalls/{flag.id}/snooze/",
        {"reason": "Budget round in May", "until": until.isoformat()},
        format="json",
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["snoozed_until"], body["snooze_reason"]) == (until.isoformat(), "Budget round in May")
    assert body["snoozed_by"]["id"] == rep.user_id
    flag.refresh_from_db()
    assert flag.snoozed_until == until


def test_a_past_date_is_a_400_and_nothing_is_written(api_client, rep, flags):
    flag = flags["Rep red"]
    response = api_client(rep).post(
        f"/api/stalls/{flag.id}/snooze/",
        {"reason": "Later", "until": timezone.localdate().isoformat()},
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == {"until": ["The resume date must be in the future."]}
    flag.refresh_from_db()
    assert flag.snoozed_until is None


def test_another_reps_flag_is_a_403_and_nothing_is_written(api_client, rep, flags):
    flag = flags["Other red"]
    response = api_client(rep).post(
        f"/api/stalls/{flag.id}/snooze/",
        {"reason": "Mine now", "until": (timezone.localdate() + timedelta(days=2)).isoformat()},
        format="json",
    )
    assert response.status_code == 403
    assert response.json()["code"] == "not_allowed"
    flag.refresh_from_db()
    assert flag.snoozed_until is None


def test_another_orgs_flag_is_a_404(api_client, rep, flags, other_org_world):
    other = other_org_world["deal"]
    foreign = StallFlag.objects.create(
        organization=other.organization,
        deal=other,
        stage=other.stage,
        rule="age",
        level="advice",
        days=40,
        threshold=30,
        reason="Old",
    )
    until = (timezone.localdate() + timedelta(days=2)).isoformat()
    response = api_client(rep).post(
        f"/api/stalls/{foreign.id}/snooze/", {"reason": "x", "until": until}, format="json"
    )
    assert response.status_code == 404
    foreign.refresh_from_db()
    assert foreign.snoozed_until is None


# ---- GET, PUT /api/stages/{id}/stall-rules/


def test_a_stages_rules_show_what_applies(api_client, rep, stages):
    response = api_client(rep).get(f"/api/stages/{stages[PROPOSE].id}/stall-rules/")
    assert response.status_code == 200
    assert response.json() == {
        "stage": {"id": stages[PROPOSE].id, "name": "Propose"},
        "threshold": {"days": 21.0, "source": "expected_days", "advanced": 0},
        "rules": [
            {
                "rule": "age",
                "enabled": True,
                "advice_days": None,
                "warning_days": None,
                "red_flag_days": None,
                "custom": False,
                "levels": {"advice": None, "warning": None, "red_flag": None},
            },
            {
                "rule": "stalled",
                "enabled": True,
                "advice_days": None,
                "warning_days": None,
                "red_flag_days": None,
                "custom": False,
                "levels": {"advice": 21.0, "warning": 31.5, "red_flag": 42.0},
            },
            {
                "rule": "no_activity",
                "enabled": True,
                "advice_days": 14,
                "warning_days": 21,
                "red_flag_days": 30,
                "custom": False,
                "levels": {"advice": 14.0, "warning": 21.0, "red_flag": 30.0},
            },
        ],
    }


def test_ops_put_a_stages_rules(api_client, ops, stages):
    url = f"/api/stages/{stages[PROPOSE].id}/stall-rules/"
    body = {
        "rules": [
            {"rule": "age", "advice_days": 60, "warning_days": 90, "red_flag_days": 120},
            {"rule": "stalled", "red_flag_days": 35},
        ]
    }
    response = api_client(ops).put(url, body, format="json")
    assert response.status_code == 200
    rules = {r["rule"]: r for r in response.json()["rules"]}
    assert rules["age"]["levels"] == {"advice": 60.0, "warning": 90.0, "red_flag": 120.0}
    assert rules["stalled"]["levels"] == {"advice": 21.0, "warning": 31.5, "red_flag": 35.0}
    assert rules["stalled"]["custom"] and not rules["no_activity"]["custom"]
    # What GET returns, PUT back, changes nothing.
    again = api_client(ops).put(url, {"rules": response.json()["rules"]}, format="json")
    assert again.json() == response.json()
    assert StallRule.objects.count() == 2


def test_out_of_order_days_are_a_400_and_nothing_is_written(api_client, ops, stages):
    response = api_client(ops).put(
        f"/api/stages/{stages[PROPOSE].id}/stall-rules/",
        {
            "rules": [
                {"rule": "age", "advice_days": 30},
                {"rule": "stalled", "advice_days": 40, "warning_days": 20},
            ]
        },
        format="json",
    )
    assert response.status_code == 400
    assert "warning_days" in response.json()
    assert not StallRule.objects.exists()  # the age rule was rolled back with the rest


@pytest.mark.parametrize("who", ["rep", "manager"])
def test_only_ops_and_admins_put_rules(api_client, request, stages, who):
    response = api_client(request.getfixturevalue(who)).put(
        f"/api/stages/{stages[PROPOSE].id}/stall-rules/",
        {"rules": [{"rule": "age", "advice_days": 30}]},
        format="json",
    )
    assert response.status_code == 403
    assert not StallRule.objects.exists()


def test_another_orgs_stage_is_a_404(api_client, ops, stages, other_org_world):
    foreign = other_org_world["process"].stages.first()
    assert api_client(ops).get(f"/api/stages/{foreign.id}/stall-rules/").status_code == 404
    response = api_client(ops).put(
        f"/api/stages/{foreign.id}/stall-rules/",
        {"rules": [{"rule": "age", "advice_days": 30}]},
        format="json",
    )
    assert response.status_code == 404
    assert not StallRule.objects.exists()


def test_the_schema_documents_the_stall_endpoints(api_client, rep):
    schema = api_client(rep).get("/api/schema/", {"format": "json"}).json()
    assert {"/api/stalls/", "/api/stalls/{flag_id}/snooze/", "/api/stages/{stage_id}/stall-rules/"} <= set(
        schema["paths"]
    )
