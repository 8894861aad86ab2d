"""A won deal with two stakeholders, and an API client per member."""

import pytest

from deals.services import deal_win, stakeholder_add
from tests.factories import ContactFactory


@pytest.fixture
def stakeholders(org, account, deal, rep):
    champion = stakeholder_add(
        deal=deal,
        by=rep,
        contact=ContactFactory(organization=org, account=account, name="Ada"),
        role="champion",
    )
    buyer = stakeholder_add(
        deal=deal,
        by=rep,
        contact=ContactFactory(organization=org, account=account, name="Bert"),
        role="economic_buyer",
    )
    return champion, buyer


@pytest.fixture
def won_deal(deal, stakeholders, rep):
    deal.refresh_from_db()
    return deal_win(deal=deal, by=rep, expected_version=deal.version)


@pytest.fixture
def api_as():
    """`api_as(membership)`: an APIClient sending that member's token."""
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    def make(membership) -> APIClient:
        client = APIClient()
        token, _ = Token.objects.get_or_create(user=membership.user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return make
