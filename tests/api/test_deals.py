"""Deals over the API: create, list with filters, detail, edit; read-only fields and bad input."""

import pytest

from deals.models import Deal, DealStatus, StageChange
from deals.services import deal_create, deal_lose, stakeholder_add
from salesproc.services import process_import
from tests.factories import AccountFactory, ContactFactory
from tests.fixtures import SIMPLE_PROCESS


def _create(client, **body):
    return client.post("/api/deals/", body, format="json")


def test_create_enters_the_first_stage(api_client, rep, process, stages, account):
    response = _create(
        api_client(rep),
        process=process.id,
        name="Hooli expansion",
        account=account.id,
        amount="25000.50",
        competitors=["Initech", "Umbrella"],
        expected_close="2030-01-31",
    )

    assert response.status_code == 201
    body = response.json()
    assert body["stage"] == {"id": stages[0].id, "name": "Qualify"}
    assert body["owner"]["id"] == rep.user_id
    assert body["amount"] == "25000.50"
    assert body["competitors"] == ["Initech", "Umbrella"]
    assert body["version"] == 1
    deal = Deal.objects.get(pk=body["id"])
    assert StageChange.objects.filter(deal=deal, to_stage=stages[0]).count() == 1


def test_create_ignores_read_only_fields(api_client, rep, process, stages, account, other_org):
    response = _create(
        api_client(rep),
        process=process.id,
        name="Sneaky",
        account=account.id,
        organization=other_org.id,
        stage=stages[3].id,
        status="won",
        version=7,
        closed_at="2020-01-01T00:00:00Z",
        created_at="2020-01-01T00:00:00Z",
    )

    assert response.status_code == 201
    deal = Deal.objects.get(pk=response.json()["id"])
    assert deal.organization_id == rep.organization_id
    assert (deal.stage_id, deal.status, deal.version, deal.closed_at) == (stages[0].id, "open", 1, None)
    assert deal.created_at.year > 2020


def test_rep_naming_another_owner_on_create_is_400(api_client, rep, other_rep, process, account):
    response = _create(
        api_client(rep), process=process.id, name="Gift", account=account.id, owner=other_rep.user_id
    )

    assert response.status_code == 400
    assert "owner" in response.json()
    assert not Deal.objects.filter(name="Gift").exists()


def test_manager_assigns_a_new_deal_to_their_rep(api_client, manager, rep, process, account):
    response = _create(
        api_client(manager), process=process.id, name="For rep", account=account.id, owner=rep.user_id
    )

    assert response.status_code == 201
    assert Deal.objects.get(pk=response.json()["id"]).owner_id == rep.user_id


@pytest.mark.parametrize(
    "change, field",
    [
        ({"amount": "lots"}, "amount"),
        ({"amount": "-5"}, "amount"),
        ({"name": ""}, "name"),
        ({"name": None}, "name"),
        ({"account": None}, "account"),
        ({"account": "abc"}, "account"),
        ({"account": 999999}, "account"),
        ({"process": 999999}, "process"),
        ({"expected_close": "next week"}, "expected_close"),
        ({"currency": "dollars"}, "currency"),
        ({"competitors": "Initech"}, "competitors"),
        ({"competitors": [["nested"]]}, "competitors"),
    ],
)
def test_bad_create_input_is_400_naming_the_field(api_client, rep, process, account, change, field):
    body = {"process": process.id, "name": "Bad", "account": account.id, **change}

    response = api_client(rep).post("/api/deals/", body, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not Deal.objects.exists()


@pytest.mark.parametrize("missing", ["process", "name", "account"])
def test_create_without_a_required_field_is_400(api_client, rep, process, account, missing):
    body = {"process": process.id, "name": "Incomplete", "account": account.id}
    del body[missing]

    response = api_client(rep).post("/api/deals/", body, format="json")

    assert response.status_code == 400
    assert response.json()[missing] == ["This field is required."]
    assert not Deal.objects.exists()


def test_create_with_another_orgs_process_or_account_is_400(
    api_client, rep, process, account, other_org_world
):
    client = api_client(rep)

    foreign_process = _create(client, process=other_org_world["process"].id, name="X", account=account.id)
    foreign_account = _create(client, process=process.id, name="X", account=other_org_world["account"].id)

    assert foreign_process.status_code == 400 and "process" in foreign_process.json()
    assert foreign_account.status_code == 400 and "account" in foreign_account.json()
    assert not Deal.objects.filter(organization=rep.organization).exists()


@pytest.mark.parametrize(
    "body", ['{"name": "Broken", ', "[1, 2]", '"just a string"'], ids=["truncated", "list", "string"]
)
def test_malformed_body_is_400(api_client, rep, body):
    response = api_client(rep).post("/api/deals/", data=body, content_type="application/json")

    assert response.status_code == 400
    assert not Deal.objects.exists()


def test_retrieve_shows_the_deal(api_client, manager, deal):
    response = api_client(manager).get(f"/api/deals/{deal.id}/")

    assert response.status_code == 200
    assert response.json()["name"] == "Globex rollout"
    assert response.json()["account"]["name"] == "Globex"


def test_another_orgs_deal_is_404(api_client, rep, other_org_world):
    deal = other_org_world["deal"]
    client = api_client(rep)

    assert client.get(f"/api/deals/{deal.id}/").status_code == 404
    assert (
        client.patch(f"/api/deals/{deal.id}/", {"name": "Mine", "version": 1}, format="json").status_code
        == 404
    )
    deal.refresh_from_db()
    assert (deal.name, deal.version) == ("Initech deal", 1)


def test_a_huge_id_is_404_not_500(api_client, rep):
    assert api_client(rep).get(f"/api/deals/{2**70}/").status_code == 404


# ---- list


@pytest.fixture
def many(rep, other_rep, process, stages, account):
    """Deals of two owners, two processes, every status."""
    second, _ = process_import(org=rep.organization, data={**SIMPLE_PROCESS, "name": "Renewals"}, by=None)
    hooli = AccountFactory(organization=rep.organization, name="Hooli")
    made = {
        "mine": deal_create(by=rep, process=process, name="Alpha", account=account),
        "theirs": deal_create(by=other_rep, process=process, name="Beta", account=hooli),
        "renewal": deal_create(by=rep, process=second, name="Gamma", account=account),
        "lost": deal_create(by=other_rep, process=process, name="Delta", account=account),
    }
    deal_lose(deal=made["lost"], by=other_rep, expected_version=1, reason="No budget")
    return made


def _names(client, **params):
    response = client.get("/api/deals/", params)
    assert response.status_code == 200, response.json()
    return sorted(d["name"] for d in response.json()["results"])


def test_list_filters(api_client, rep, other_rep, many, other_org_world):
    client = api_client(rep)

    assert _names(client) == ["Alpha", "Beta", "Delta", "Gamma"]
    assert _names(client, owner="me") == ["Alpha", "Gamma"]
    assert _names(client, owner=other_rep.user_id) == ["Beta", "Delta"]
    assert _names(client, process=many["renewal"].process_id) == ["Gamma"]
    assert _names(client, stage=many["renewal"].stage_id) == ["Gamma"]
    assert _names(client, status="lost") == ["Delta"]
    assert _names(client, search="hoo") == ["Beta"]  # the account's name
    assert _names(client, search="alp") == ["Alpha"]
    assert _names(client, search="initech") == []  # another org's account and deal
    assert _names(client, owner="me", status="open", process=many["mine"].process_id) == ["Alpha"]


@pytest.mark.parametrize(
    "params, field",
    [
        ({"stage": "first"}, "stage"),
        ({"process": "1.5"}, "process"),
        ({"owner": "someone"}, "owner"),
        ({"status": "pending"}, "status"),
    ],
)
def test_bad_list_filter_is_400_naming_it(api_client, rep, params, field):
    response = api_client(rep).get("/api/deals/", params)

    assert response.status_code == 400
    assert field in response.json()


def test_list_shows_the_lean_fields(api_client, rep, deal):
    row = api_client(rep).get("/api/deals/").json()["results"][0]

    assert row["stage"]["name"] == "Qualify"
    assert row["owner"] == {"id": rep.user_id, "name": rep.user.display_name}
    assert row["account"] == {"id": deal.account_id, "name": "Globex"}
    assert "description" not in row


# ---- edit


def test_patch_edits_fields_and_bumps_the_version(api_client, rep, deal):
    response = api_client(rep).patch(
        f"/api/deals/{deal.id}/",
        {"version": 1, "amount": "15000", "objections": ["Price"], "budget": "20000"},
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["version"] == 2
    assert response.json()["objections"] == ["Price"]
    deal.refresh_from_db()
    assert (str(deal.amount), str(deal.budget), deal.version) == ("15000.00", "20000.00", 2)


def test_patch_without_a_version_is_400(api_client, rep, deal):
    response = api_client(rep).patch(f"/api/deals/{deal.id}/", {"amount": "1"}, format="json")

    assert response.status_code == 400
    assert response.json()["version"] == ["This field is required."]
    deal.refresh_from_db()
    assert deal.version == 1


def test_patch_with_a_stale_version_is_409_and_writes_nothing(api_client, rep, deal):
    client = api_client(rep)
    assert (
        client.patch(f"/api/deals/{deal.id}/", {"version": 1, "name": "First"}, format="json").status_code
        == 200
    )

    response = client.patch(f"/api/deals/{deal.id}/", {"version": 1, "name": "Second"}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "stale_version"
    assert response.json()["current_version"] == 2
    deal.refresh_from_db()
    assert (deal.name, deal.version) == ("First", 2)


@pytest.mark.parametrize(
    "field, value",
    [
        ("stage", 2),
        ("status", "won"),
        ("organization", 2),
        ("closed_at", "2030-01-01T00:00:00Z"),
        ("process", 2),
        ("created_at", "2020-01-01T00:00:00Z"),
        ("id", 5),
    ],
)
def test_patch_naming_a_read_only_field_is_400_and_writes_nothing(api_client, rep, deal, field, value):
    response = api_client(rep).patch(
        f"/api/deals/{deal.id}/", {"version": 1, "name": "Changed", field: value}, format="json"
    )

    assert response.status_code == 400
    assert field in response.json()
    deal.refresh_from_db()
    assert (deal.name, deal.version, deal.status) == ("Globex rollout", 1, DealStatus.OPEN)


def test_rep_cannot_edit_another_reps_deal(api_client, other_rep, deal):
    response = api_client(other_rep).patch(
        f"/api/deals/{deal.id}/", {"version": 1, "name": "Mine"}, format="json"
    )

    assert response.status_code == 403
    assert response.json()["code"] == "not_allowed"
    deal.refresh_from_db()
    assert (deal.name, deal.version) == ("Globex rollout", 1)


def test_rep_cannot_reassign_their_deal(api_client, rep, other_rep, deal):
    response = api_client(rep).patch(
        f"/api/deals/{deal.id}/", {"version": 1, "owner": other_rep.user_id}, format="json"
    )

    assert response.status_code == 400
    assert "owner" in response.json()
    deal.refresh_from_db()
    assert (deal.owner_id, deal.version) == (rep.user_id, 1)


def test_manager_edits_and_reassigns_a_team_deal(api_client, manager, rep, deal):
    response = api_client(manager).patch(
        f"/api/deals/{deal.id}/",
        {"version": 1, "owner": manager.user_id, "lead_source": "Event"},
        format="json",
    )

    assert response.status_code == 200
    deal.refresh_from_db()
    assert (deal.owner_id, deal.lead_source) == (manager.user_id, "Event")


def test_patch_with_another_orgs_account_is_400(api_client, rep, deal, other_org_world):
    response = api_client(rep).patch(
        f"/api/deals/{deal.id}/", {"version": 1, "account": other_org_world["account"].id}, format="json"
    )

    assert response.status_code == 400
    assert "account" in response.json()
    deal.refresh_from_db()
    assert deal.account.organization_id == rep.organization_id


# ---- the stakeholder gap filter


def _stakeholder(deal, by, role):
    contact = ContactFactory(organization=deal.organization, account=deal.account)
    return stakeholder_add(deal=deal, by=by, contact=contact, role=role)


@pytest.fixture
def gapped(rep, other_rep, process, account):
    """Alpha has both roles; Beta lacks a champion; Gamma (another owner) has nobody; Delta (lost) lacks
    an economic buyer."""
    alpha = deal_create(by=rep, process=process, name="Alpha", account=account)
    _stakeholder(alpha, rep, "economic_buyer")
    _stakeholder(alpha, rep, "champion")
    beta = deal_create(by=rep, process=process, name="Beta", account=account)
    _stakeholder(beta, rep, "economic_buyer")
    deal_create(by=other_rep, process=process, name="Gamma", account=account)
    delta = deal_create(by=rep, process=process, name="Delta", account=account)
    _stakeholder(delta, rep, "champion")
    deal_lose(deal=delta, by=rep, expected_version=1, reason="No budget")


def test_gap_filter(api_client, rep, gapped, other_org_world):
    client = api_client(rep)

    assert _names(client, gap="no_champion") == ["Beta", "Gamma"]
    assert _names(client, gap="no_economic_buyer") == ["Delta", "Gamma"]
    assert _names(client, gap="opponent_high_influence") == []
    assert _names(client, gap="any") == ["Beta", "Delta", "Gamma"]
    # Several gaps, repeated or as a comma list: deals with any of them.
    assert _names(client, gap="no_champion,no_economic_buyer") == ["Beta", "Delta", "Gamma"]
    assert _names(client, gap=["no_champion", "no_economic_buyer"]) == ["Beta", "Delta", "Gamma"]
    # Combined with the other filters.
    assert _names(client, gap="any", owner="me", status="open") == ["Beta"]
    assert _names(client, gap="") == ["Alpha", "Beta", "Delta", "Gamma"]


@pytest.mark.parametrize("gap", ["no_budget", "no_champion,nope", "NO_CHAMPION", "x" * 500])
def test_an_unknown_gap_is_400_naming_the_valid_ones(api_client, rep, gapped, gap):
    response = api_client(rep).get("/api/deals/", {"gap": gap})

    assert response.status_code == 400
    [message] = response.json()["gap"]
    assert message.startswith("Unknown stakeholder gap") or message.startswith("Too many")
    if "Unknown" in message:
        assert (
            "no_economic_buyer, no_champion, single_threaded, opponent_high_influence, procurement_in_decision"
            in message
        )


@pytest.mark.parametrize("n", [3, 30])
def test_the_gap_filtered_list_query_count_does_not_grow(
    api_client, django_assert_num_queries, rep, process, account, n
):
    for i in range(n):
        deal = deal_create(by=rep, process=process, name=f"Deal {i}", account=account)
        if i % 2:
            _stakeholder(deal, rep, "champion")
    client = api_client(rep)

    # token + membership + one page of deals (the gap conditions are subqueries of it) + their tags.
    with django_assert_num_queries(4):
        response = client.get("/api/deals/", {"gap": "no_champion,single_threaded", "owner": "me"})

    assert len(response.json()["results"]) == (n + 1) // 2


def test_the_schema_documents_the_gap_filter(api_client, rep):
    schema = api_client(rep).get("/api/schema/", {"format": "json"}).json()
    [param] = [p for p in schema["paths"]["/api/deals/"]["get"]["parameters"] if p["name"] == "gap"]

    assert param["schema"]["type"] == "array"
    assert set(param["schema"]["items"]["enum"]) == {
        "no_economic_buyer",
        "no_champion",
        "single_threaded",
        "opponent_high_influence",
        "procurement_in_decision",
        "any",
    }
    assert "400" in param["description"]
