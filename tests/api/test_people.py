"""Accounts and contacts over the API: lists with search and filters, create, detail, edit."""

import pytest

from deals.models import Account, Contact
from tests.factories import AccountFactory, ContactFactory


def test_account_list_searches_by_name(api_client, rep, account, other_org_world):
    AccountFactory(organization=rep.organization, name="Hooli")

    everything = api_client(rep).get("/api/accounts/").json()["results"]
    found = api_client(rep).get("/api/accounts/", {"search": "glo"}).json()["results"]

    assert sorted(a["name"] for a in everything) == ["Globex", "Hooli"]
    assert [a["name"] for a in found] == ["Globex"]


def test_rep_creates_an_account_in_their_org(api_client, rep, other_org):
    response = api_client(rep).post(
        "/api/accounts/",
        {"name": "Hooli", "website": "hooli.example", "organization": other_org.id, "id": 999},
        format="json",
    )

    assert response.status_code == 201
    account = Account.objects.get(pk=response.json()["id"])
    assert account.organization == rep.organization
    assert account.website == "https://hooli.example"
    assert account.id != 999


def test_account_update_changes_only_the_fields_sent(api_client, rep, account):
    response = api_client(rep).patch(f"/api/accounts/{account.id}/", {"notes": "Big fish"}, format="json")

    assert response.status_code == 200
    account.refresh_from_db()
    assert (account.name, account.notes) == ("Globex", "Big fish")


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "A", "website": "nope"}, "website"),
    ],
)
def test_bad_account_input_is_400_naming_the_field(api_client, rep, body, field):
    response = api_client(rep).post("/api/accounts/", body, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not Account.objects.exists()


def test_another_orgs_account_is_404(api_client, rep, other_org_world):
    account = other_org_world["account"]
    client = api_client(rep)

    assert client.get(f"/api/accounts/{account.id}/").status_code == 404
    assert client.patch(f"/api/accounts/{account.id}/", {"name": "Mine"}, format="json").status_code == 404
    account.refresh_from_db()
    assert account.name == "Initech"


def test_contact_list_filters_by_account_and_searches(api_client, rep, account, contact):
    other = AccountFactory(organization=rep.organization, name="Hooli")
    ContactFactory(organization=rep.organization, account=other, name="Gavin Belson")
    client = api_client(rep)

    by_account = client.get("/api/contacts/", {"account": account.id}).json()["results"]
    searched = client.get("/api/contacts/", {"search": "gavin"}).json()["results"]

    assert [c["name"] for c in by_account] == ["Hank Scorpio"]
    assert by_account[0]["account"] == {"id": account.id, "name": "Globex"}
    assert [c["name"] for c in searched] == ["Gavin Belson"]


def test_contact_list_with_a_non_numeric_account_is_400(api_client, rep):
    response = api_client(rep).get("/api/contacts/", {"account": "globex"})

    assert response.status_code == 400
    assert "account" in response.json()


def test_contact_create_and_update(api_client, rep, account):
    client = api_client(rep)

    created = client.post(
        "/api/contacts/",
        {"name": "Jian Yang", "email": "jian@hooli.example", "account": account.id},
        format="json",
    )
    assert created.status_code == 201
    contact_id = created.json()["id"]
    updated = client.patch(f"/api/contacts/{contact_id}/", {"title": "CTO", "account": None}, format="json")

    assert updated.status_code == 200
    contact = Contact.objects.get(pk=contact_id)
    assert (contact.title, contact.account_id, contact.organization_id) == ("CTO", None, rep.organization_id)


def test_contact_with_another_orgs_account_is_400(api_client, rep, other_org_world):
    response = api_client(rep).post(
        "/api/contacts/", {"name": "Spy", "account": other_org_world["account"].id}, format="json"
    )

    assert response.status_code == 400
    assert "account" in response.json()
    assert not Contact.objects.filter(name="Spy").exists()


def test_contact_with_a_bad_email_is_400(api_client, rep):
    response = api_client(rep).post("/api/contacts/", {"name": "Ann", "email": "ann@"}, format="json")

    assert response.status_code == 400
    assert "email" in response.json()
    assert not Contact.objects.exists()


def test_another_orgs_contact_is_404(api_client, rep, other_org_world):
    contact = other_org_world["contact"]
    client = api_client(rep)

    assert client.get(f"/api/contacts/{contact.id}/").status_code == 404
    assert client.patch(f"/api/contacts/{contact.id}/", {"name": "Mine"}, format="json").status_code == 404
