"""A scorecard on the shared process: three criteria whose weights make hand computation easy."""

import pytest

from scorecards.services import scorecard_create, scorecard_criterion_add


@pytest.fixture
def scorecard(process, ops):
    return scorecard_create(process=process, by=ops, name="MEDDIC lite", threshold=60)


@pytest.fixture
def criteria(scorecard, ops):
    """Budget (yes / no, weight 3), Pain (0–3, weight 2), Champion (0–5, weight 5): total weight 10."""
    budget = scorecard_criterion_add(
        scorecard=scorecard, by=ops, label="Budget confirmed", weight=3, scale="yes_no"
    )
    pain = scorecard_criterion_add(
        scorecard=scorecard, by=ops, label="Pain", weight=2, scale="points", max_points=3
    )
    champion = scorecard_criterion_add(
        scorecard=scorecard, by=ops, label="Champion", weight=5, scale="points", max_points=5
    )
    return budget, pain, champion


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
