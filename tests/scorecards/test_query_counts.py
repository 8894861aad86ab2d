"""Query counts of the scorecard pages and endpoints do not grow with criteria, answers or deals.

Fragments (the deal section alone) make two queries before their own: the session, and the user with
their memberships. Full pages make what the layout needs besides (PAGE_QUERIES, read off the board's
pin so a change of the layout is counted once). API counts start with the token and the memberships."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from deals.services import deal_create, deal_lose, deal_win
from scorecards.services import AnswerInput, deal_scorecard_answers_set, scorecard_criterion_add
from tests.deals.test_query_counts import BOARD_QUERIES_REP

# Every signed-in page's own: the board's pin less the board's three (people, stages, first cards).
PAGE_QUERIES = BOARD_QUERIES_REP - 3
# + the process with its scorecard + the criteria with how many deals answered each + the win rates by
# band (one statement).
SCORECARD_PAGE_QUERIES = PAGE_QUERIES + 3
# session, user with memberships + the deal (with its process's scorecard) + the criteria + the deal's
# answers with its stored score.
DEAL_SECTION_QUERIES = 5
# What the section adds to the deal page: the criteria and the answers (none for a process without a
# scorecard: tests/deals/test_query_counts.py pins that page).
DEAL_PAGE_SECTION_QUERIES = 2
# token, memberships + the process with its scorecard + the criteria.
API_CRITERIA_QUERIES = 4
# token, memberships + the deal with its process's scorecard + the criteria + the answers.
API_DEAL_SCORECARD_QUERIES = 5


def _world(n, *, rep, ops, process, account, scorecard):
    criteria = [
        scorecard_criterion_add(scorecard=scorecard, by=ops, label=f"Criterion {i}", weight=1 + i % 10)
        for i in range(n)
    ]
    deals = []
    for i in range(n):
        deal = deal_create(by=rep, process=process, name=f"Deal {i}", account=account)
        deal_scorecard_answers_set(deal=deal, by=rep, answers=[AnswerInput(c, i % 4) for c in criteria])
        deal.refresh_from_db()
        if i % 3 == 1:
            deal_win(deal=deal, by=rep, expected_version=deal.version)
        elif i % 3 == 2:
            deal_lose(deal=deal, by=rep, expected_version=deal.version, reason="Lost")
        deals.append(deal)
    return criteria, deals


@pytest.mark.parametrize("n", [2, 12])
def test_scorecard_page(client, django_assert_num_queries, ops, rep, process, account, scorecard, n):
    _world(n, rep=rep, ops=ops, process=process, account=account, scorecard=scorecard)
    client.force_login(ops.user)
    with django_assert_num_queries(SCORECARD_PAGE_QUERIES):
        response = client.get(reverse("process_scorecard", args=[process.id]))
    assert response.status_code == 200
    assert response.content.decode().count('data-testid="scorecard-criterion-row"') == n


@pytest.mark.parametrize("n", [2, 12])
def test_deal_section_alone(client, django_assert_num_queries, ops, rep, process, account, scorecard, n):
    _, deals = _world(n, rep=rep, ops=ops, process=process, account=account, scorecard=scorecard)
    client.force_login(rep.user)
    with django_assert_num_queries(DEAL_SECTION_QUERIES):
        response = client.get(reverse("deal_scorecard", args=[deals[0].id]), HTTP_HX_REQUEST="true")
    assert response.content.decode().count('data-testid="scorecard-criterion"') == n


@pytest.mark.parametrize("n", [2, 12])
def test_deal_page_with_a_scorecard(client, ops, rep, process, account, n):
    from scorecards.services import scorecard_create

    deal = deal_create(by=rep, process=process, name="Globex rollout", account=account)
    client.force_login(rep.user)
    url = reverse("deal_detail", args=[deal.id])
    with CaptureQueriesContext(connection) as without:
        client.get(url)
    scorecard = scorecard_create(process=process, by=ops)
    criteria = [
        scorecard_criterion_add(scorecard=scorecard, by=ops, label=f"Criterion {i}") for i in range(n)
    ]
    deal_scorecard_answers_set(deal=deal, by=rep, answers=[AnswerInput(c, 2) for c in criteria])
    with CaptureQueriesContext(connection) as with_scorecard:
        response = client.get(url)
    assert response.content.decode().count('data-testid="scorecard-criterion"') == n
    assert len(with_scorecard.captured_queries) == len(without.captured_queries) + DEAL_PAGE_SECTION_QUERIES


@pytest.mark.parametrize("n", [2, 12])
def test_api_criteria_list(api_as, django_assert_num_queries, ops, rep, process, account, scorecard, n):
    _world(n, rep=rep, ops=ops, process=process, account=account, scorecard=scorecard)
    client = api_as(rep)
    with django_assert_num_queries(API_CRITERIA_QUERIES):
        response = client.get(f"/api/processes/{process.id}/scorecard/criteria/")
    assert len(response.json()) == n


@pytest.mark.parametrize("n", [2, 12])
def test_api_deal_scorecard(api_as, django_assert_num_queries, ops, rep, process, account, scorecard, n):
    _, deals = _world(n, rep=rep, ops=ops, process=process, account=account, scorecard=scorecard)
    client = api_as(rep)
    with django_assert_num_queries(API_DEAL_SCORECARD_QUERIES):
        response = client.get(f"/api/deals/{deals[0].id}/scorecard/")
    assert response.json()["answered"] == n


@pytest.mark.parametrize("n", [3, 30])
@pytest.mark.parametrize("result", ["go", "not_scored"])
def test_board_with_the_scorecard_filter_keeps_the_boards_count(
    client, django_assert_num_queries, ops, rep, process, account, scorecard, n, result
):
    criterion = scorecard_criterion_add(scorecard=scorecard, by=ops, label="Budget", scale="yes_no")
    for i in range(n):
        deal = deal_create(by=rep, process=process, name=f"Deal {i}", account=account)
        if i % 2:
            deal_scorecard_answers_set(deal=deal, by=rep, answers=[AnswerInput(criterion, 1)])
    client.force_login(rep.user)
    with django_assert_num_queries(BOARD_QUERIES_REP):
        response = client.get(reverse("board", args=[process.id]), {"scorecard": result})
    assert response.status_code == 200
    assert response.content.decode().count('class="deal-card') == min(
        n // 2 + (n % 2 if result == "not_scored" else 0), 25
    )
