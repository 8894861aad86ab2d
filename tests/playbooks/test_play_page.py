"""A play's page: every member reads what the play says; where it is attached now and was before, in
keyset pages; whether it works, for managers, ops and admins; another organization's play is a 404;
names are escaped; the query count does not grow with the attachments."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from deals.services import deal_create, deal_win
from playbooks.models import DealPlay, PlayResource
from playbooks.views.play_page import ATTACHMENTS_PAGE, comparison_for_people
from tests.factories import PlaybookFactory, PlayFactory, PlayQuestionFactory, PlayStepFactory

HTMX = {"HX-Request": "true"}
# session, user with memberships + the play with its playbook, process and target stage + its
# questions, resources and steps + the stages its condition names (one more if it names owners) + a
# page of deals it is attached to + a page of its history + the unread notifications badge of the top
# bar (strategy: one COUNT).
PLAY_PAGE_QUERIES = 10
# The same + play_effectiveness (the play again, the target stage's conversion, the attach stages, the
# win rate), for managers, ops and admins.
PLAY_PAGE_QUERIES_WITH_EFFECTIVENESS = PLAY_PAGE_QUERIES + 4
# session, user with memberships + the play + the next page of attachments.
MORE_QUERIES = 4


@pytest.fixture
def play(org, process, stages):
    playbook = PlaybookFactory(organization=org, process=process, name="Enterprise")
    play = PlayFactory(
        playbook=playbook,
        name="Beat Globex in healthcare",
        condition={
            "all": [
                {"field": "industry", "op": "eq", "value": "Healthcare"},
                {"field": "stage", "op": "eq", "value": stages[1].id},
            ]
        },
        talk_track="**Lead with** the audit trail.",
        target_stage=stages[2],
    )
    PlayQuestionFactory(play=play, text="Who owns compliance?")
    PlayStepFactory(play=play, title="Send the HIPAA pack", stage=stages[1])
    PlayResource.objects.create(
        organization=org, play=play, title="Battle card", url="https://example.test/bc"
    )
    return play


def attach(play, deal, *, at=None, detached_at=None, why=("industry is Healthcare",)):
    return DealPlay.objects.create(
        organization=play.organization,
        deal=deal,
        play=play,
        attached_at=at or timezone.now(),
        detached_at=detached_at,
        why=list(why),
    )


def make_deals(rep, process, account, n, prefix="Deal"):
    return [
        deal_create(by=rep, process=process, name=f"{prefix} {i}", account=account, amount="1000")
        for i in range(n)
    ]


def url(play) -> str:
    return reverse("play_detail", args=[play.id])


# ---------------------------------------------------------------------------------------------------
# Who sees what


def test_a_rep_reads_the_play_without_the_effectiveness(client, rep, play, deal, stages):
    attach(play, deal, why=["industry is Healthcare", f"stage is {stages[1].name}"])
    client.force_login(rep.user)

    response = client.get(url(play))

    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1" in html and "Beat Globex in healthcare" in html
    assert 'data-testid="play-status">Active' in html and "Enterprise" in html
    assert f"<strong>industry is Healthcare and stage is {stages[1].name}</strong>" in html
    assert "<strong>Lead with</strong> the audit trail." in html
    assert "Who owns compliance?" in html and "Send the HIPAA pack" in html
    assert re.search(
        r'<a href="https://example.test/bc" target="_blank" rel="noopener[^"]*">Battle card', html
    )
    assert f'meant to get deals through <strong class="text-body">{stages[2].name}' in html
    assert "Does it work?" not in html
    assert 'data-testid="edit-play"' not in html


@pytest.mark.parametrize("role", ["manager", "ops", "admin"])
def test_managers_ops_and_admins_see_whether_it_works(request, client, role, play, rep, process, account):
    member = request.getfixturevalue(role)
    won = make_deals(rep, process, account, 1, prefix="Won")[0]
    attach(play, won, at=timezone.now() - timedelta(days=3))
    deal_win(deal=won, by=rep, expected_version=won.version)
    client.force_login(member.user)

    html = client.get(url(play)).content.decode()

    assert "Does it work?" in html
    assert 'data-testid="play-verdict">not enough data yet' in html
    assert f"Conversion of {play.target_stage.name}" in html and "Win rate" in html
    assert 'data-testid="treated-rate">100%' in html
    assert "1 of 1" in html and "small sample" in html
    assert "more closed deals needed" in html


def test_the_verdicts_read_for_people():
    side = {"n": 120, "successes": 60, "rate": 0.5, "ci": [0.4111, 0.5889], "small_sample": False}
    raw = {
        "treated": side,
        "comparison": {**side, "successes": 36, "rate": 0.3, "ci": [0.2247, 0.3878]},
        "difference": 0.2,
        "difference_ci": [0.0783, 0.3123],
        "p_value": 0.0014,
        "verdict": "helps",
        "more_needed": None,
    }

    helps = comparison_for_people(raw, label="Win rate", counts="closed deals")
    hurts = comparison_for_people(
        {**raw, "difference": -0.2, "difference_ci": [-0.31, -0.08], "verdict": "hurts"},
        label="Win rate",
        counts="closed deals",
    )
    no_effect = comparison_for_people({**raw, "verdict": "no measurable effect"}, label="", counts="")

    assert (helps["badge"], helps["difference"], helps["difference_ci"]) == (
        "text-bg-success",
        "+20 pts",
        "+8 to +31 pts",
    )
    assert (helps["treated"]["rate"], helps["treated"]["ci"]) == ("50%", "41–59%")
    assert (hurts["badge"], hurts["difference"], hurts["difference_ci"]) == (
        "text-bg-danger",
        "−20 pts",
        "−31 to −8 pts",
    )
    assert no_effect["badge"] == "text-bg-secondary"


def test_ops_get_a_link_to_edit_the_play_when_the_editor_is_there(client, ops, play):
    client.force_login(ops.user)
    html = client.get(url(play)).content.decode()
    try:
        edit_url = reverse("play_edit", args=[play.id])
    except Exception:  # the editor's pages are not in the URL map: no link then
        assert 'data-testid="edit-play"' not in html
    else:
        assert f'href="{edit_url}" data-testid="edit-play"' in html


def test_an_inactive_play_says_so(client, rep, play):
    play.active = False
    play.save()
    client.force_login(rep.user)

    html = client.get(url(play)).content.decode()

    assert 'data-testid="play-status">Inactive' in html and "This play is inactive" in html


def test_a_condition_that_no_longer_parses_says_so(client, rep, play):
    play.condition = {"field": "shoe_size", "op": "eq", "value": 9}
    play.save()
    client.force_login(rep.user)

    html = client.get(url(play)).content.decode()

    assert "its condition can no longer be read" in html


def test_another_orgs_play_is_404_and_post_is_405(client, rep, play, other_org_world):
    foreign = PlayFactory(playbook=PlaybookFactory(organization=other_org_world["deal"].organization))
    client.force_login(rep.user)

    assert client.get(url(foreign)).status_code == 404
    assert client.post(url(foreign)).status_code == 404
    assert client.get(url(foreign) + "?attached_before=1_1", headers=HTMX).status_code == 404
    assert client.get(reverse("play_detail", args=[10**15])).status_code == 404
    assert client.post(url(play)).status_code == 405


def test_anonymous_is_sent_to_sign_in(client, play):
    response = client.get(url(play))
    assert response.status_code == 302 and "login" in response.url


def test_names_are_escaped(client, rep, org, process, account):
    playbook = PlaybookFactory(organization=org, process=process, name="<u>Book</u>")
    play = PlayFactory(
        playbook=playbook,
        name="<script>alert('play')</script>",
        talk_track="<script>alert('tt')</script> [x](javascript:alert(1))",
        description="<b>desc</b>",
    )
    PlayQuestionFactory(play=play, text="<img src=x onerror=alert(1)>")
    deal = deal_create(by=rep, process=process, name="<i>Deal</i>", account=account, amount="1")
    attach(play, deal, why=["industry is <b>Med</b>"])
    client.force_login(rep.user)

    html = client.get(url(play)).content.decode()

    assert "<script>alert" not in html and "javascript:" not in html and "<img" not in html
    assert "<u>Book" not in html and "<i>Deal" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(&#x27;play&#x27;)&lt;/script&gt;" in html
    assert "&lt;i&gt;Deal&lt;/i&gt;" in html and "industry is &lt;b&gt;Med&lt;/b&gt;" in html


# ---------------------------------------------------------------------------------------------------
# Attached now and history


def test_attached_now_lists_the_deals_with_stage_owner_since_and_why(client, rep, play, deal, stages):
    attach(
        play,
        deal,
        at=timezone.now() - timedelta(days=2),
        why=["industry is Healthcare", "amount is at least 1"],
    )
    client.force_login(rep.user)

    html = client.get(url(play)).content.decode()

    row = re.search(r'<tr data-testid="attached-deal">.*?</tr>', html, re.S).group(0)
    assert f'<a href="{reverse("deal_detail", args=[deal.id])}">Globex rollout</a>' in row
    assert stages[0].name in row and rep.user.display_name in row
    assert "industry is Healthcare and amount is at least 1" in row
    assert 'data-testid="no-history"' in html


def test_history_lists_detached_attachments_with_their_dates(client, rep, play, deal):
    start = timezone.now() - timedelta(days=30)
    attach(play, deal, at=start, detached_at=start + timedelta(days=10))
    client.force_login(rep.user)

    html = client.get(url(play)).content.decode()

    row = re.search(r'<tr data-testid="history-deal">.*?</tr>', html, re.S).group(0)
    assert "Globex rollout" in row
    assert start.strftime("%b") in row and (start + timedelta(days=10)).strftime("%-d, %Y") in row
    assert 'data-testid="no-attached"' in html and "No open deal has this play now." in html


def test_attached_deals_come_in_keyset_pages_without_duplicates(client, rep, play, process, account):
    deals = make_deals(rep, process, account, ATTACHMENTS_PAGE + 5)
    same_time = timezone.now() - timedelta(days=1)
    # Rows attached at the same instant must still page cleanly (the cursor carries the id too).
    for i, d in enumerate(deals):
        attach(play, d, at=same_time if i % 2 else same_time - timedelta(minutes=i))
    client.force_login(rep.user)

    html = client.get(url(play)).content.decode()
    first = re.findall(r'<tr data-testid="attached-deal">\s*<td><a href="/deals/(\d+)/"', html)
    assert len(first) == ATTACHMENTS_PAGE
    more = re.search(r'hx-get="([^"]*\?attached_before=[^"]*)"', html).group(1)

    rest = client.get(more, headers=HTMX)
    assert rest.status_code == 200
    rest_html = rest.content.decode()
    second = re.findall(r'<tr data-testid="attached-deal">\s*<td><a href="/deals/(\d+)/"', rest_html)
    assert len(second) == 5 and "attached-more" not in rest_html and "<h1" not in rest_html
    assert sorted(map(int, first + second)) == sorted(d.id for d in deals)

    # Without htmx the cursor opens the page from that point, with a way back.
    paged = client.get(more).content.decode()
    assert paged.count('data-testid="attached-deal"') == 5 and "Back to the newest" in paged


def test_history_pages_too(client, rep, play, deal):
    start = timezone.now() - timedelta(days=300)
    for i in range(ATTACHMENTS_PAGE + 2):
        at = start + timedelta(days=i)
        attach(play, deal, at=at, detached_at=at + timedelta(hours=1))
    client.force_login(rep.user)

    html = client.get(url(play)).content.decode()
    assert html.count('data-testid="history-deal"') == ATTACHMENTS_PAGE
    more = re.search(r'hx-get="([^"]*\?history_before=[^"]*)"', html).group(1)

    rest = client.get(more, headers=HTMX).content.decode()
    assert rest.count('data-testid="history-deal"') == 2


def test_an_unreadable_cursor_is_the_first_page(client, rep, play, deal):
    attach(play, deal)
    client.force_login(rep.user)
    for cursor in ("x", "1_", "_5", "99999999999999999999999999_1", "5_-1"):
        response = client.get(url(play) + f"?attached_before={cursor}")
        assert response.status_code == 200 and 'data-testid="attached-deal"' in response.content.decode()


# ---------------------------------------------------------------------------------------------------
# Query counts


@pytest.mark.parametrize("n", [2, 60])
def test_play_page_query_count_does_not_grow_with_attachments(
    client, django_assert_num_queries, rep, manager, play, process, account, n
):
    deals = make_deals(rep, process, account, n)
    now = timezone.now()
    for i, d in enumerate(deals):
        attach(play, d, at=now - timedelta(days=i))
        attach(play, d, at=now - timedelta(days=400 + i), detached_at=now - timedelta(days=300 + i))
    client.force_login(rep.user)

    with django_assert_num_queries(PLAY_PAGE_QUERIES):
        response = client.get(url(play))
    assert response.content.decode().count('data-testid="attached-deal"') == min(n, ATTACHMENTS_PAGE)

    client.force_login(manager.user)
    with django_assert_num_queries(PLAY_PAGE_QUERIES_WITH_EFFECTIVENESS):
        response = client.get(url(play))
    html = response.content.decode()
    assert "Does it work?" in html

    if n > ATTACHMENTS_PAGE:
        more = re.search(r'hx-get="([^"]*\?attached_before=[^"]*)"', html).group(1)
        with django_assert_num_queries(MORE_QUERIES):
            client.get(more, headers=HTMX)
