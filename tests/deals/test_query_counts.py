"""Query counts of the deal pages are part of their contract: they do not grow with the data.

Each full page count includes the three queries every signed-in page makes: the session, the user with
their memberships (orgs.backends), and the unread notifications badge of the top bar (strategy: one
COUNT). Fragments (the board's next cards) make only the first two."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from deals.services import activity_log, deal_create, deal_move, stakeholder_add, step_add, step_comment_add
from salesproc.services import criterion_add
from tests.factories import ContactFactory
from upstream.services import promotion_propose_from_step

# session, user with memberships + the org's people (the owner filter, and a manager's team) + stages
# with counts and sums from the rollups (also the process switcher) + the first cards of every column.
BOARD_QUERIES_REP = 6
# The same for a manager: the team (the ?team=1 filter and which cards they may move) comes with the
# people, and a search's capped totals with the stages.
BOARD_QUERIES_MANAGER = 6
# session, user with memberships + the process's stages (the column's among them) + the page of cards.
LOAD_MORE_QUERIES = 4
# session, user with memberships + the deal + stages + exit criteria + their status (one per kind
# present: step, stakeholder role, activity kind, answer) + answers + plan + stakeholders + activities
# + tags (the plan is one query: its steps with who added, completed and is assigned to each, their
# stakeholder and their comment counts) + the plays attached now (none here; with plays, four more whatever their number: their
# questions, resources, steps and this deal's answers — tests/playbooks/test_deal_plays_pages.py)
# + the strategy section: the strategy and the latest comments (once a strategy is saved, one more for
# its history — tests/strategy/test_pages.py) + the notifications badge + which custom steps were sent
# upstream (upstream's promote slot: one query for the whole plan, none when it has no custom step).
DEAL_PAGE_QUERIES = 20  # includes the stall flags section
# session, user with memberships + one page of deals + processes and members for the filters.
DEAL_LIST_QUERIES = 6


def build_deals(n, *, owners, process, stages, account):
    start = timezone.now() - timedelta(days=40)
    for i in range(n):
        owner = owners[i % len(owners)]
        at = start + timedelta(hours=i)
        deal = deal_create(
            by=owner, process=process, name=f"Deal {i}", account=account, amount=1000 + i, at=at
        )
        stage = stages[i % len(stages)]
        if stage.id != deal.stage_id:
            deal_move(deal=deal, to_stage=stage, by=owner, expected_version=deal.version, at=at)


@pytest.mark.parametrize("n", [3, 60])
def test_board_query_count_does_not_grow_with_deals(
    client, django_assert_num_queries, rep, other_rep, process, stages, account, n
):
    build_deals(n, owners=[rep, other_rep], process=process, stages=stages, account=account)
    client.force_login(rep.user)
    url = reverse("board", args=[process.id])

    with django_assert_num_queries(BOARD_QUERIES_REP):
        response = client.get(url)

    assert response.status_code == 200
    assert len(re.findall(r'class="deal-card', response.content.decode())) == min(n, 25 * len(stages))


@pytest.mark.parametrize("n", [3, 60])
def test_filtered_board_query_count_does_not_grow_with_deals(
    client, django_assert_num_queries, manager, rep, other_rep, process, stages, account, n
):
    build_deals(n, owners=[rep, other_rep, manager], process=process, stages=stages, account=account)
    client.force_login(manager.user)
    url = reverse("board", args=[process.id]) + "?team=1&q=Deal"

    with django_assert_num_queries(BOARD_QUERIES_MANAGER):
        response = client.get(url)

    assert response.status_code == 200


@pytest.mark.parametrize("n", [30, 80])
def test_load_more_query_count_does_not_grow_with_deals(
    client, django_assert_num_queries, rep, process, stages, account, n
):
    build_deals(n, owners=[rep], process=process, stages=stages[:1], account=account)
    client.force_login(rep.user)
    html = client.get(reverse("board", args=[process.id])).content.decode()
    more = re.search(r'hx-get="([^"]*/cards/[^"]*)"', html).group(1).replace("&amp;", "&")

    with django_assert_num_queries(LOAD_MORE_QUERIES):
        response = client.get(more, headers={"HX-Request": "true"})

    assert response.status_code == 200


@pytest.mark.parametrize("n", [2, 40])
def test_deal_page_query_count_does_not_grow_with_activity_steps_and_stakeholders(
    client, django_assert_num_queries, rep, ops, org, process, stages, account, n
):
    for kind, extra in [
        ("step", {}),
        ("stakeholder_role", {"role": "champion"}),
        ("activity_kind", {"activity_kind": "meeting"}),
        ("answer", {"question": "Why now?"}),
    ]:
        criterion_add(
            stage=stages[0], by=ops, kind=kind, label=f"Needs {kind}", importance="mandatory", **extra
        )
    deal = deal_create(by=rep, process=process, name="Big deal", account=account, competitors="Initrode")
    for i in range(n):
        contact = ContactFactory(organization=org, account=account)
        stakeholder = stakeholder_add(deal=deal, by=rep, contact=contact, role="user")
        # Each step names a stakeholder, has an assignee and a thread: shown without a query per step.
        step = step_add(deal=deal, by=rep, title=f"Step {i}", stakeholder=stakeholder, assignee=rep.user_id)
        for j in range(i % 3):
            step_comment_add(step=step, by=rep, body=f"Comment {j}")
        if i % 2:
            promotion_propose_from_step(step=step, by=rep)
        activity_log(deal=deal, by=rep, kind="call", subject=f"Call {i}", stakeholder=stakeholder)
    client.force_login(rep.user)

    with django_assert_num_queries(DEAL_PAGE_QUERIES):
        response = client.get(reverse("deal_detail", args=[deal.id]))

    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('data-testid="stakeholder"') == n
    assert html.count('data-testid="step-stakeholder"') == n
    assert html.count('data-testid="step-comment-count"') == sum(1 for i in range(n) if i % 3)
    assert html.count('data-testid="step-promotion-state"') == n // 2


@pytest.mark.parametrize("n", [3, 60])
def test_deal_list_query_count_does_not_grow_with_deals(
    client, django_assert_num_queries, rep, process, stages, account, n
):
    build_deals(n, owners=[rep], process=process, stages=stages, account=account)
    client.force_login(rep.user)

    with django_assert_num_queries(DEAL_LIST_QUERIES):
        response = client.get(reverse("deal_list") + "?q=Deal&status=open")

    assert response.status_code == 200
