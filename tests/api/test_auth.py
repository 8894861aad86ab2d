"""Who may call the API: token and session authentication, the organization header, the token endpoint."""

from rest_framework.test import APIClient

from orgs.models import Role
from tests.factories import MembershipFactory
from tests.fixtures import PASSWORD


def test_token_authenticates(api_client, rep):
    response = api_client(rep).get("/api/me/")

    assert response.status_code == 200
    assert response.json()["email"] == "rep@acme.test"
    assert response.json()["role"] == "rep"
    assert response.json()["organization"]["slug"] == "acme"


def test_session_authenticates(rep):
    client = APIClient()
    client.force_login(rep.user)

    response = client.get("/api/me/")

    assert response.status_code == 200
    assert response.json()["id"] == rep.user_id


def test_session_writes_need_the_csrf_token(rep):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(rep.user)

    response = client.post("/api/accounts/", {"name": "Hooli"}, format="json")

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


def test_unauthenticated_is_401(db):
    response = APIClient().get("/api/deals/")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_wrong_token_is_401(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    assert client.get("/api/deals/").status_code == 401


def test_user_without_a_membership_is_403(api_client, org):
    stranger = MembershipFactory(organization=org, role=Role.REP, is_active=False)

    response = api_client(stranger).get("/api/deals/")

    assert response.status_code == 403


def test_organization_header_chooses_among_several(api_client, rep, deal, other_org_world):
    other_org = other_org_world["deal"].organization
    MembershipFactory(organization=other_org, user=rep.user, role=Role.REP)

    acme = api_client(rep, org=rep.organization).get("/api/deals/").json()["results"]
    other = api_client(rep, org=other_org).get("/api/deals/").json()["results"]
    default = api_client(rep).get("/api/deals/").json()["results"]

    assert [d["id"] for d in acme] == [deal.id]
    assert [d["id"] for d in other] == [other_org_world["deal"].id]
    # Without the header: the user's first organization by name ("Acme Sales").
    assert [d["id"] for d in default] == [deal.id]


def test_organization_header_for_an_org_the_user_is_not_in_is_403(api_client, rep, other_org):
    response = api_client(rep, org=other_org).get("/api/deals/")

    assert response.status_code == 403


def test_token_endpoint_gives_a_working_token(rep):
    response = APIClient().post(
        "/api/auth/token/", {"email": "REP@acme.test", "password": PASSWORD}, format="json"
    )

    assert response.status_code == 200
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    assert client.get("/api/me/").json()["email"] == "rep@acme.test"


def test_token_endpoint_refuses_a_wrong_password(rep):
    response = APIClient().post(
        "/api/auth/token/", {"email": "rep@acme.test", "password": "guess"}, format="json"
    )

    assert response.status_code == 400
    assert "token" not in response.json()
