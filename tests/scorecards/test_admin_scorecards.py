"""The Django admin keeps the stored scores exact: an edit there recomputes every deal."""

from decimal import Decimal

import pytest
from django.urls import reverse

from orgs.models import User
from scorecards.models import DealScorecard
from scorecards.services import AnswerInput, deal_scorecard_answers_set


@pytest.fixture
def staff_client(client, db):
    client.force_login(User.objects.create_superuser("root@example.test", "pass-word-123"))
    return client


def test_a_weight_edited_in_the_admin_recomputes_the_deals(staff_client, deal, rep, criteria):
    budget, pain, champion = criteria
    deal_scorecard_answers_set(deal=deal, by=rep, answers=[AnswerInput(budget, 1), AnswerInput(pain, 0)])
    assert DealScorecard.objects.get().score == Decimal("60.00")  # (3 + 0) / 5
    response = staff_client.post(
        reverse("admin:scorecards_scorecardcriterion_change", args=[pain.pk]),
        {
            "label": "Pain",
            "help_text": "",
            "weight": "7",
            "order": pain.order,
            "scale": "points",
            "max_points": "3",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert DealScorecard.objects.get().score == Decimal("30.00")  # (3 + 0) / 10


def test_a_weight_outside_1_to_10_is_refused_in_the_admin(staff_client, criteria):
    pain = criteria[1]
    response = staff_client.post(
        reverse("admin:scorecards_scorecardcriterion_change", args=[pain.pk]),
        {
            "label": "Pain",
            "help_text": "",
            "weight": "11",
            "order": pain.order,
            "scale": "points",
            "max_points": "3",
        },
    )
    assert response.status_code == 200
    pain.refresh_from_db()
    assert pain.weight == 2


def test_deal_scorecards_are_read_only_in_the_admin(staff_client, deal, rep, criteria):
    deal_scorecard_answers_set(deal=deal, by=rep, answers=[AnswerInput(criteria[0], 1)])
    card = DealScorecard.objects.get()
    response = staff_client.post(
        reverse("admin:scorecards_dealscorecard_change", args=[card.pk]), {"score": "1", "result": "go"}
    )
    assert response.status_code == 403
    card.refresh_from_db()
    assert (card.score, card.result) == (Decimal("100.00"), "incomplete")
