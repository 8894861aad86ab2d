"""Fixtures of the upstream tests: a Healthcare deal against Globex with a custom step, and a playbook."""

import pytest

from deals.services import deal_create, step_add
from playbooks.services import playbook_create


@pytest.fixture
def hc_deal(rep, process, account):
    """An open Healthcare deal of `rep`, against Globex, in the first stage."""
    return deal_create(
        by=rep,
        process=process,
        name="Mercy Hospital",
        account=account,
        amount="50000",
        industry="Healthcare",
        competitors=["Globex"],
    )


@pytest.fixture
def custom_step(hc_deal, rep):
    return step_add(deal=hc_deal, by=rep, title="Security review with IT", description="Their CISO signs off")


@pytest.fixture
def playbook(org, process):
    return playbook_create(org=org, by=None, name="Enterprise", process=process)


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


@pytest.fixture
def proposed(custom_step, rep):
    """The custom step proposed by its owner as a play, with a note."""
    from upstream.services import promotion_propose_from_step

    promotion, _ = promotion_propose_from_step(
        step=custom_step, by=rep, target="play", note="Saved us a month"
    )
    return promotion
