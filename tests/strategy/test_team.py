"""The manager's team page: each member's open deals, stalls, plan progress and last coaching comment,
sorted as asked, with their deals worst stall first; only managers and admins; a fixed query count."""

from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from deals.models import DealStep
from deals.services import deal_create, step_add, step_set_done
from iteration.models import StallFlag
from strategy.services import comment_add
from strategy.team import team_overview

pytestmark = pytest.mark.django_db


def _flag(deal, level, **extra):
    return StallFlag.objects.create(
        organization=deal.organization,
        deal=deal,
        stage=deal.stage,
        rule="stalled",
        level=level,
        days=30,
        threshold=10,
        reason="Stalled",
        **extra,
    )


@pytest.fixture
def team(rep, manager, other_rep, process, account):
    calm = deal_create(by=rep, process=process, name="Calm", account=account, amount="1000")
    stuck = deal_create(by=rep, process=process, name="Stuck", account=account, amount="5000")
    _flag(stuck, "red_flag")
    _flag(calm, "warning", snoozed_until=date.today() + timedelta(days=3))  # snoozed: not counted
    step = step_add(deal=calm, by=rep, title="Call the CFO")
    step_add(deal=calm, by=rep, title="Send the proposal")
    step_set_done(step=step, by=rep, done=True)
    comment_add(deal=stuck, by=manager, body="Who else did you talk to?")
    deal_create(by=other_rep, process=process, name="Not in the team", account=account, amount="9")
    return calm, stuck


def test_a_manager_sees_each_member_with_numbers_worked_out_by_hand(manager, rep, team):
    calm, stuck = team

    rows = {row.membership.id: row for row in team_overview(manager=manager)}

    assert set(rows) == {manager.id, rep.id}  # the other rep reports to nobody
    row = rows[rep.id]
    assert (row.open_deals, row.pipeline) == (2, 6000)
    assert (row.red_flags, row.warnings, row.advice) == (1, 0, 0)
    assert (row.steps_done, row.steps_total) == (1, DealStep.objects.filter(deal__in=team).count())
    assert row.last_comment.body == "Who else did you talk to?"
    assert [d.name for d in row.deals] == ["Stuck", "Calm"]  # worst stall first
    assert rows[manager.id].open_deals == 0 and rows[manager.id].last_comment is None


def test_sorting_by_name_and_by_stalls(manager, rep, team):
    by_stalls = [r.membership.id for r in team_overview(manager=manager, sort="stalls")]
    by_name = [r.name for r in team_overview(manager=manager, sort="name")]

    assert by_stalls[0] == rep.id
    assert by_name == sorted(by_name, key=str.lower)


def test_the_page_is_for_managers_and_admins(client, rep, manager, admin, team):
    client.force_login(rep.user)
    assert client.get(reverse("team")).status_code == 403

    client.force_login(manager.user)
    html = client.get(reverse("team"), {"sort": "bogus"}).content.decode()
    assert html.count('data-testid="team-member"') == 2 and "Stuck" in html and "Not in the team" not in html
    assert "Who else did you talk to?" in html and "1 red flag" in html


def test_the_query_count_does_not_grow_with_the_team_or_its_deals(
    client, manager, rep, process, account, team
):
    from orgs.models import Role
    from tests.factories import MembershipFactory

    client.force_login(manager.user)
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("team"))
    for i in range(3):
        member = MembershipFactory(organization=manager.organization, role=Role.REP, manager=manager)
        for j in range(3):
            deal = deal_create(by=member, process=process, name=f"D{i}{j}", account=account, amount="10")
            _flag(deal, "advice")
    with CaptureQueriesContext(connection) as many:
        client.get(reverse("team"))

    assert len(many.captured_queries) == len(few.captured_queries)
