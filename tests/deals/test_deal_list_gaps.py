"""The deal list page's stakeholder gap filter: one gap or any, combined with the other filters, kept
across pages, an unknown gap ignored and said so, and a query count that does not grow with the deals."""

import re

import pytest
from django.urls import reverse

from deals.services import deal_create, stakeholder_add
from tests.factories import ContactFactory


def _stakeholder(deal, by, role):
    contact = ContactFactory(organization=deal.organization, account=deal.account)
    return stakeholder_add(deal=deal, by=by, contact=contact, role=role)


def _names(html: str) -> list[str]:
    return re.findall(r'<td><a href="/deals/\d+/">([^<]*)</a></td>', html)


@pytest.fixture
def deals(rep, other_rep, process, account):
    covered = deal_create(by=rep, process=process, name="Covered", account=account)
    _stakeholder(covered, rep, "economic_buyer")
    _stakeholder(covered, rep, "champion")
    lacking = deal_create(by=rep, process=process, name="Lacking", account=account)
    _stakeholder(lacking, rep, "economic_buyer")
    deal_create(by=other_rep, process=process, name="Theirs", account=account)


def test_the_gap_filter_keeps_the_deals_with_that_gap(client, rep, deals):
    client.force_login(rep.user)

    html = client.get(reverse("deal_list") + "?gap=no_champion").content.decode()

    assert _names(html) == ["Theirs", "Lacking"]
    assert '<option value="no_champion" selected>No champion</option>' in html
    assert 'href="/deals/">Clear</a>' in html


def test_any_gap_combined_with_the_owner(client, rep, deals):
    client.force_login(rep.user)

    assert _names(client.get(reverse("deal_list") + "?gap=any").content.decode()) == ["Theirs", "Lacking"]
    assert _names(client.get(reverse("deal_list") + "?gap=any&owner=me").content.decode()) == ["Lacking"]
    assert _names(client.get(reverse("deal_list") + "?gap=no_economic_buyer").content.decode()) == ["Theirs"]


def test_an_unknown_gap_is_ignored_and_said_so_keeping_the_other_filters(client, rep, deals):
    client.force_login(rep.user)

    response = client.get(reverse("deal_list") + "?gap=no_budget&owner=me")

    assert response.status_code == 200
    html = response.content.decode()
    assert (
        'data-testid="gap-filter-error"' in html and "Unknown stakeholder gap &quot;no_budget&quot;" in html
    )
    assert "procurement_in_decision" in html
    assert _names(html) == ["Lacking", "Covered"]


def test_the_next_page_keeps_the_gap_filter(client, rep, process, account):
    for i in range(52):
        deal = deal_create(by=rep, process=process, name=f"Deal {i}", account=account)
        if i % 10 == 0:
            _stakeholder(deal, rep, "champion")
    client.force_login(rep.user)

    first = client.get(reverse("deal_list") + "?gap=no_champion").content.decode()
    next_url = re.search(r'href="(\?[^"]*before=\d+[^"]*)" data-testid="next-page"', first)

    assert len(_names(first)) == 46  # 52 less the six with a champion: 46 fit on the first page
    assert next_url is None
    few = client.get(reverse("deal_list") + "?gap=no_economic_buyer").content.decode()
    next_url = re.search(r'href="(\?[^"]*before=\d+[^"]*)" data-testid="next-page"', few).group(1)
    assert "gap=no_economic_buyer" in next_url
    second = client.get(reverse("deal_list") + next_url.replace("&amp;", "&")).content.decode()
    assert len(_names(few)) == 50 and len(_names(second)) == 2


@pytest.mark.parametrize("n", [3, 40])
def test_the_gap_filtered_list_query_count_does_not_grow(
    client, django_assert_num_queries, rep, process, account, n
):
    for i in range(n):
        deal = deal_create(by=rep, process=process, name=f"Deal {i}", account=account)
        if i % 2:
            _stakeholder(deal, rep, "champion")
    client.force_login(rep.user)

    # session, user with memberships + one page of deals (the gap conditions are subqueries of it) +
    # processes and members for the filters + the notifications badge.
    with django_assert_num_queries(6):
        response = client.get(reverse("deal_list") + "?gap=no_champion,single_threaded&status=open")

    assert len(_names(response.content.decode())) == (n + 1) // 2
