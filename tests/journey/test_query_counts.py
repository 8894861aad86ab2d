"""Query counts of the journey's sections do not grow with stakeholders, conversations or deals.

Full pages include the three queries every signed-in page makes (session, user with memberships, the
notifications badge). An open deal's page is pinned by tests/deals/test_query_counts.py: the section
adds no query there (its links load with the section's own request)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from deals.services import deal_create, deal_win, stakeholder_add
from journey.services import value_confirmation_record, value_plan_create
from tests.factories import ContactFactory

HTMX = {"HTTP_HX_REQUEST": "true"}


def _won_deal_with(n, *, rep, org, process, account, name="Big"):
    deal = deal_create(by=rep, process=process, name=name, account=account)
    for _ in range(n):
        stakeholder_add(
            deal=deal, by=rep, contact=ContactFactory(organization=org, account=account), role="user"
        )
    deal = deal_win(deal=deal, by=rep, expected_version=deal.version)
    for i, c in enumerate(value_plan_create(deal=deal, by=rep)):
        value_confirmation_record(
            confirmation=c,
            by=rep,
            held_at=timezone.localdate() - timedelta(days=i),
            confirmed_value=f"Value {i}",
            metric_name="Hours saved",
            metric_value=i,
            next_opportunity=f"Next {i}",
        )
    return deal


# The won deal's page, whatever the number of stakeholders and conversations. Four are the journey
# section's: the links, the stakeholders with their contacts, the conversations, and the processes for
# the expansion form (a closed deal's page makes fewer criteria queries than an open one's).
WON_DEAL_PAGE_QUERIES = 18


@pytest.mark.parametrize("n", [2, 12])
def test_won_deal_page_query_count_does_not_grow(client, rep, org, process, account, n):
    deal = _won_deal_with(n, rep=rep, org=org, process=process, account=account)
    client.force_login(rep.user)
    client.get(reverse("deal_detail", args=[deal.id]))
    with CaptureQueriesContext(connection) as page:
        response = client.get(reverse("deal_detail", args=[deal.id]))
    assert response.content.decode().count('data-testid="value-row"') == n
    with CaptureQueriesContext(connection) as section:
        client.get(reverse("deal_journey", args=[deal.id]), **HTMX)
    # session, user + the deal + links + stakeholders + conversations + processes
    assert len(section.captured_queries) == 7
    assert len(page.captured_queries) == WON_DEAL_PAGE_QUERIES, [q["sql"][:80] for q in page.captured_queries]


def test_an_open_deals_section_is_four_queries(client, rep, deal, django_assert_num_queries):
    client.force_login(rep.user)
    client.get(reverse("deal_journey", args=[deal.id]), **HTMX)
    # session, user + the deal + its links
    with django_assert_num_queries(4):
        client.get(reverse("deal_journey", args=[deal.id]), **HTMX)


@pytest.mark.parametrize("n", [1, 10])
def test_account_page_with_confirmed_value_query_count(
    client, rep, org, process, account, n, django_assert_num_queries
):
    for d in range(2):
        _won_deal_with(n, rep=rep, org=org, process=process, account=account, name=f"Won {d}")
    client.force_login(rep.user)
    client.get(reverse("account_detail", args=[account.id]))
    # The account page's six (tests/deals/test_people_pages.py) + the held conversations.
    with django_assert_num_queries(7):
        response = client.get(reverse("account_detail", args=[account.id]))
    assert response.content.decode().count('data-testid="confirmed-value-row"') == 2 * n


@pytest.mark.parametrize("n", [1, 10])
def test_value_confirmations_api_query_count(
    api_as, rep, org, process, account, n, django_assert_num_queries
):
    deal = _won_deal_with(n, rep=rep, org=org, process=process, account=account)
    api = api_as(rep)
    api.get(f"/api/deals/{deal.id}/value-confirmations/")
    # token auth with the user + membership + the deal with its stage + the conversations with contacts
    with django_assert_num_queries(4):
        response = api.get(f"/api/deals/{deal.id}/value-confirmations/")
    assert len(response.json()["confirmations"]) == n
