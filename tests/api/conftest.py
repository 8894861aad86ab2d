"""API test helpers: clients signed in with a member's token, and a process with exit criteria."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from salesproc.services import criterion_add


@pytest.fixture
def api_client():
    """`api_client(membership)`: an APIClient sending that member's token (`org=` adds X-Organization)."""

    def make(membership=None, *, org=None) -> APIClient:
        client = APIClient()
        if membership is not None:
            token, _ = Token.objects.get_or_create(user=membership.user)
            headers = {"HTTP_AUTHORIZATION": f"Token {token.key}"}
            if org is not None:
                headers["HTTP_X_ORGANIZATION"] = org.slug
            client.credentials(**headers)
        return client

    return make


@pytest.fixture
def gates(stages):
    """Exit criteria on the first stage (Qualify): the budget (mandatory), a question (mandatory) and
    the expected close date (optional, never blocks)."""
    qualify = stages[0]
    return {
        "budget": criterion_add(
            stage=qualify, by=None, kind="field", label="Budget known", field_name="budget"
        ),
        "pain": criterion_add(
            stage=qualify,
            by=None,
            kind="answer",
            label="Pain stated",
            question="What hurts today?",
        ),
        "close": criterion_add(
            stage=qualify,
            by=None,
            kind="field",
            label="Close date",
            field_name="expected_close",
            importance="optional",
        ),
    }


@pytest.fixture
def critical_gate(stages):
    """A critical criterion on Qualify: nobody may move past it unmet."""
    return criterion_add(
        stage=stages[0],
        by=None,
        kind="stakeholder_role",
        label="Economic buyer on the deal",
        role="economic_buyer",
        importance="critical",
    )
