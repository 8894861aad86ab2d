"""The deal list's query count is part of its contract: the same for 3 deals as for 40. And its
cursor pages walk every deal once, without a COUNT."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from deals.services import activity_log, deal_create, deal_move, stakeholder_add, step_add
from salesproc.services import criterion_add, process_import
from tests.factories import AccountFactory, ContactFactory
from tests.fixtures import SIMPLE_PROCESS

# token + membership + one page of deals (with account, owner, stage) + their competitors/objections.
DEAL_LIST_QUERIES_TOKEN = 4
# session + user with memberships + the page + the tags.
DEAL_LIST_QUERIES_SESSION = 4


def build_deals(n, *, owners, process, stages, org):
    start = timezone.now() - timedelta(days=30)
    for i in range(n):
        owner = owners[i % len(owners)]
        account = AccountFactory(organization=org, name=f"Account {i}")
        deal = deal_create(
            by=owner,
            process=process,
            name=f"Deal {i}",
            account=account,
            amount=1000 + i,
            competitors=[f"Rival {i}", "Initech"],
            objections=["Price"] if i % 2 else [],
            at=start + timedelta(hours=i),
        )
        stage = stages[i % len(stages)]
        if stage.id != deal.stage_id:
            deal_move(
                deal=deal,
                to_stage=stage,
                by=owner,
                expected_version=1,
                at=start + timedelta(hours=i, minutes=5),
            )


@pytest.mark.parametrize("n", [3, 40])
def test_deal_list_query_count_does_not_grow_with_deals(
    api_client, django_assert_num_queries, rep, other_rep, process, stages, n
):
    build_deals(n, owners=[rep, other_rep], process=process, stages=stages, org=rep.organization)
    client = api_client(rep)

    with django_assert_num_queries(DEAL_LIST_QUERIES_TOKEN):
        response = client.get("/api/deals/")

    results = response.json()["results"]
    assert len(results) == n
    assert {r["stage"]["name"] for r in results} == {s.name for s in stages[:n]}
    assert all("Initech" in r["competitors"] for r in results)
    assert {tuple(r["objections"]) for r in results} == {(), ("Price",)}
    assert "count" not in response.json()


@pytest.mark.parametrize("n", [3, 40])
def test_filtered_deal_list_query_count_does_not_grow(
    api_client, django_assert_num_queries, rep, other_rep, process, stages, n
):
    build_deals(n, owners=[rep, other_rep], process=process, stages=stages, org=rep.organization)
    client = api_client(rep)

    with django_assert_num_queries(DEAL_LIST_QUERIES_TOKEN):
        response = client.get(
            "/api/deals/", {"owner": "me", "status": "open", "process": process.id, "search": "deal"}
        )

    assert len(response.json()["results"]) == (n + 1) // 2


def test_deal_list_over_a_session_query_count(django_assert_num_queries, rep, other_rep, process, stages):
    build_deals(12, owners=[rep, other_rep], process=process, stages=stages, org=rep.organization)
    client = APIClient()
    client.force_login(rep.user)

    with django_assert_num_queries(DEAL_LIST_QUERIES_SESSION):
        response = client.get("/api/deals/")

    assert len(response.json()["results"]) == 12


def test_later_cursor_pages_cost_the_same(
    api_client, django_assert_num_queries, rep, other_rep, process, stages
):
    build_deals(10, owners=[rep, other_rep], process=process, stages=stages, org=rep.organization)
    client = api_client(rep)
    next_url = client.get("/api/deals/", {"page_size": 4}).json()["next"]

    with django_assert_num_queries(DEAL_LIST_QUERIES_TOKEN):
        response = client.get(next_url)

    assert len(response.json()["results"]) == 4


def test_cursor_pages_walk_every_deal_once(api_client, rep, other_rep, process, stages):
    build_deals(11, owners=[rep, other_rep], process=process, stages=stages, org=rep.organization)
    client = api_client(rep)
    expected = [d["id"] for d in client.get("/api/deals/", {"page_size": 100}).json()["results"]]

    seen: list[int] = []
    url = "/api/deals/?page_size=3"
    pages = 0
    while url:
        body = client.get(url).json()
        seen += [d["id"] for d in body["results"]]
        if pages == 1:
            # A deal created mid-walk is newer than the cursor: it neither shifts nor repeats a page.
            deal_create(
                by=rep, process=process, name="Late", account=AccountFactory(organization=rep.organization)
            )
        url = body["next"]
        pages += 1

    assert seen == expected
    assert len(seen) == len(set(seen)) == 11
    assert pages == 4
    assert seen == sorted(seen, reverse=True)


# token + membership (+ the deal, for lists under a deal) + the page: whatever the number of rows.
OTHER_LIST_QUERIES = {
    "/api/accounts/": 3,
    "/api/contacts/": 3,
    "/api/processes/": 3,
    "/api/deals/{deal}/activities/": 4,
    "/api/deals/{deal}/steps/": 4,
    "/api/deals/{deal}/stakeholders/": 4,
    # ... + the process, its stages, their criteria.
    "/api/processes/{process}/": 5,
}


@pytest.fixture
def filled(rep, process, deal, request):
    """`n` of everything the other lists show."""
    n = request.param
    for i in range(n):
        contact = ContactFactory(organization=rep.organization, account=deal.account)
        stakeholder_add(deal=deal, by=rep, contact=contact, role="influencer")
        activity_log(deal=deal, by=rep, kind="note", subject=f"Note {i}")
        step_add(deal=deal, by=rep, title=f"Step {i}", assignee=rep.user_id)
        AccountFactory(organization=rep.organization)
        process_import(org=rep.organization, data={**SIMPLE_PROCESS, "name": f"Process {i}"}, by=None)
        criterion_add(stage=process.stages.first(), by=None, kind="step", label=f"Criterion {i}")
    return n


@pytest.mark.parametrize("filled", [2, 15], indirect=True)
@pytest.mark.parametrize("path", list(OTHER_LIST_QUERIES))
def test_other_list_query_counts_do_not_grow(
    api_client, django_assert_num_queries, rep, process, deal, filled, path
):
    client = api_client(rep)

    with django_assert_num_queries(OTHER_LIST_QUERIES[path]):
        response = client.get(path.format(deal=deal.id, process=process.id))

    assert response.status_code == 200
    body = response.json()
    rows = body["results"] if "results" in body else body["stages"][0]["criteria"]
    assert len(rows) >= filled
