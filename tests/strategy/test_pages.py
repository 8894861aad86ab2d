"""The deal page's strategy section (edited in place with htmx), its comments, and the notifications
page with the top bar's unread badge."""

import re
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from strategy.models import DealComment, DealStrategy, Notification, StrategyRevision
from strategy.selectors import SECTION_COMMENTS
from strategy.services import comment_add, strategy_update

HTMX = {"HX-Request": "true"}
FIELDS = {
    "situation": "Quotes take three weeks",
    "desired_result": "Quotes in a day",
    "our_perspective": "Configure-price-quote with approvals",
    "risks": "Budget freeze",
    "next_moves": "Book the CFO",
}
# session, user with memberships + the deal + the strategy + its latest revisions + the latest comments.
SECTION_QUERIES = 6
# session, user with memberships + the unread badge + one page of notifications with deal, comment, actor.
NOTIFICATIONS_PAGE_QUERIES = 4


def text(response) -> str:
    return unescape(response.content.decode())


def save(client, deal, version, **fields):
    return client.post(reverse("deal_strategy", args=[deal.id]), {"version": version, **fields}, headers=HTMX)


def comment(client, deal, body):
    return client.post(reverse("deal_strategy_comments", args=[deal.id]), {"body": body}, headers=HTMX)


# ---- the section on the deal page


def test_the_deal_page_shows_an_empty_strategy_the_rep_can_write(client, rep, deal):
    client.force_login(rep.user)

    html = text(client.get(reverse("deal_detail", args=[deal.id])))

    assert 'id="deal-strategy"' in html and 'data-testid="strategy-empty"' in html
    assert 'data-testid="strategy-form"' in html and 'name="version" value="0"' in html
    assert 'data-testid="comment-form"' in html
    assert "@mara.lopez" in html  # the mention hint


def test_another_rep_reads_the_strategy_and_comments_without_forms(client, rep, other_rep, deal):
    strategy_update(deal=deal, by=rep, expected_version=0, **FIELDS)
    comment_add(deal=deal, by=rep, body="Sent the deck")
    client.force_login(other_rep.user)

    html = text(client.get(reverse("deal_detail", args=[deal.id])))

    assert "Budget freeze" in html and "Configure-price-quote with approvals" in html
    assert "Sent the deck" in html
    assert 'data-testid="strategy-form"' not in html and 'data-testid="comment-form"' not in html
    assert 'data-testid="comments-read-only"' in html


def test_the_rep_saves_in_place_and_the_panel_says_so(client, rep, deal):
    client.force_login(rep.user)

    response = save(client, deal, 0, **FIELDS)

    assert response.status_code == 200
    html = text(response)
    assert html.lstrip().startswith('<div id="strategy-panel"')  # the panel alone, swapped in place
    assert 'data-testid="strategy-saved"' in html and "Saved." in html
    assert "Quotes in a day" in html and 'name="version" value="1"' in html
    stored = DealStrategy.objects.get(deal=deal)
    assert (stored.version, stored.risks, stored.updated_by) == (1, "Budget freeze", rep.user)


def test_the_manager_edits_next_and_the_history_says_who_changed_what(client, named, deal):
    strategy_update(deal=deal, by=named["rep"], expected_version=0, **FIELDS)
    client.force_login(named["manager"].user)

    response = save(client, deal, 1, **{**FIELDS, "risks": "Budget freeze until Q3"})

    assert response.status_code == 200
    html = text(response)
    revisions = re.findall(r'data-testid="strategy-revision">(.*?)</li>', html, re.S)
    assert len(revisions) == 2
    latest = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", revisions[0]))
    assert re.search(r"Mara Lopez changed Risks · \w{3} \d{1,2}, \d{2}:\d{2}", latest)
    assert re.search(r"Budget freeze<ins[^>]*> until Q3</ins>", revisions[0])
    assert "Riley Chen changed Situation, Desired result, Our perspective, Risks and Next moves" in re.sub(
        r"\s+", " ", re.sub(r"<[^>]+>", " ", revisions[1])
    )
    assert StrategyRevision.objects.filter(by=named["manager"].user, version=2).exists()


def test_a_stale_save_is_a_conflict_that_keeps_the_writers_text_and_writes_nothing(
    client, rep, manager, deal
):
    strategy_update(deal=deal, by=rep, expected_version=0, risks="Budget freeze")
    strategy_update(deal=deal, by=manager, expected_version=1, risks="Budget freeze until Q3")
    client.force_login(rep.user)

    # Typed over version 1: every field, the risks differently from the manager.
    response = save(client, deal, 1, **{**FIELDS, "risks": "Legal review"})

    assert response.status_code == 409
    html = text(response)
    assert 'data-testid="strategy-conflict"' in html and "Someone else saved this strategy" in html
    assert "You both changed Risks" in html
    assert ">Legal review</textarea>" in html  # the writer's text is still in the form
    assert ">Quotes in a day</textarea>" in html  # and so are the fields only they changed
    saved = re.findall(r'data-testid="saved-meanwhile">(.*?)</div>', html, re.S)
    assert len(saved) == 1 and "Budget freeze until Q3" in saved[0]
    assert 'name="version" value="2"' in html  # saving again keeps what the form holds
    stored = DealStrategy.objects.get(deal=deal)
    assert (stored.version, stored.risks, stored.situation) == (2, "Budget freeze until Q3", "")
    assert StrategyRevision.objects.count() == 2


def test_a_stale_save_of_other_fields_comes_back_merged(client, rep, manager, deal):
    strategy_update(deal=deal, by=rep, expected_version=0, situation="Slow quotes", risks="Budget")
    client.force_login(manager.user)
    page = text(client.get(reverse("deal_strategy", args=[deal.id]), headers=HTMX))
    assert 'name="version" value="1"' in page
    strategy_update(deal=deal, by=rep, expected_version=1, risks="Budget freeze")

    # The manager's form, opened at version 1, changes the next moves only.
    stale = {"situation": "Slow quotes", "risks": "Budget", "next_moves": "Book the CFO"}
    response = save(client, deal, 1, **stale)

    assert response.status_code == 409
    html = text(response)
    assert "Nothing clashes: save again to keep both." in html
    assert 'data-testid="saved-meanwhile"' not in html
    assert ">Budget freeze</textarea>" in html and ">Book the CFO</textarea>" in html

    fields = dict(re.findall(r'name="(\w+)" rows="3"[^>]*>([^<]*)</textarea>', html))
    again = save(client, deal, 2, **fields)

    assert again.status_code == 200
    stored = DealStrategy.objects.get(deal=deal)
    assert (stored.risks, stored.next_moves, stored.situation) == (
        "Budget freeze",
        "Book the CFO",
        "Slow quotes",
    )


def test_another_rep_cannot_save_and_nothing_is_written(client, other_rep, deal):
    client.force_login(other_rep.user)

    response = save(client, deal, 0, **FIELDS)

    assert response.status_code == 403
    assert "only its owner, their manager and admins change it" in text(response)
    assert not DealStrategy.objects.exists()


def test_text_too_long_is_refused_on_its_field(client, rep, deal):
    client.force_login(rep.user)

    response = save(client, deal, 0, risks="x" * 10001)

    assert response.status_code == 422
    assert 'id="strategy-risks"' in text(response) and "is-invalid" in text(response)
    assert not DealStrategy.objects.exists()


def test_without_htmx_a_save_goes_back_to_the_deal_page(client, rep, deal):
    client.force_login(rep.user)

    response = client.post(reverse("deal_strategy", args=[deal.id]), {"version": 0, **FIELDS})

    assert response.status_code == 302
    assert response["Location"] == reverse("deal_detail", args=[deal.id]) + "#deal-strategy"
    assert DealStrategy.objects.get(deal=deal).version == 1


def test_the_section_alone_answers_htmx_and_sends_browsers_to_the_page(client, rep, deal):
    client.force_login(rep.user)
    url = reverse("deal_strategy", args=[deal.id])

    assert 'id="deal-strategy"' in text(client.get(url, headers=HTMX))
    assert client.get(url)["Location"].endswith("#deal-strategy")


@pytest.mark.parametrize("name", ["deal_strategy", "deal_strategy_comments"])
def test_another_orgs_deal_is_404_whatever_the_method(client, admin, other_org_world, name):
    client.force_login(admin.user)
    url = reverse(name, args=[other_org_world["deal"].id])

    assert client.get(url, headers=HTMX).status_code == 404
    assert client.post(url, {"version": 0, "risks": "x", "body": "x"}, headers=HTMX).status_code == 404
    assert client.put(url).status_code == 404
    assert not DealStrategy.objects.exists() and not DealComment.objects.exists()


# ---- comments


def test_a_comment_with_mentions_is_posted_in_place_and_says_whom_it_notified(
    client, named, deal, mailoutbox, django_capture_on_commit_callbacks
):
    client.force_login(named["manager"].user)

    with django_capture_on_commit_callbacks(execute=True):
        response = comment(client, deal, "@riley lead with the audit finding; cc @sam.ortiz and @bob")

    assert response.status_code == 200
    html = text(response)
    assert html.lstrip().startswith('<div id="strategy-comments"')
    assert 'data-testid="coaching"' in html
    assert "Notified Riley Chen and Sam Ortiz." in html
    assert "Nobody in the team goes by @bob" in html
    assert re.search(r'<span class="mention[^"]*">@riley</span> lead with the audit finding', html)
    assert "@bob" in html and not re.search(r'<span class="mention[^"]*">@bob</span>', html)
    assert Notification.objects.count() == 2 and len(mailoutbox) == 2


def test_comments_are_escaped(client, rep, deal):
    client.force_login(rep.user)

    response = comment(client, deal, "<script>alert(1)</script>\nsecond line")

    html = response.content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;<br>second line" in html


def test_another_rep_cannot_comment_and_nothing_is_written(client, named, deal, mailoutbox):
    client.force_login(named["other_rep"].user)

    response = comment(client, deal, "@riley hello")

    assert response.status_code == 403
    assert not DealComment.objects.exists() and not Notification.objects.exists() and mailoutbox == []


def test_an_empty_comment_is_refused_in_place(client, rep, deal):
    client.force_login(rep.user)

    response = comment(client, deal, "  ")

    assert response.status_code == 422
    assert "Write something first." in text(response)
    assert not DealComment.objects.exists()


# ---- notifications


@pytest.fixture
def mentioned(named, deal):
    """Two notifications for the manager: one read, then one unread."""
    first = comment_add(deal=deal, by=named["rep"], body="@mara first").comment
    Notification.objects.filter(comment=first).update(read_at="2026-01-01T00:00:00Z")
    comment_add(deal=deal, by=named["rep"], body="@mara second, unread")
    return named["manager"]


def test_the_badge_counts_unread_notifications_on_every_page(client, mentioned, deal):
    client.force_login(mentioned.user)

    html = text(client.get(reverse("deal_list")))

    assert re.search(r'data-testid="unread-count"[^>]*>1</span>', html)
    assert "Notifications, 1 unread" in html


def test_no_badge_count_without_unread_notifications(client, rep):
    client.force_login(rep.user)

    html = text(client.get(reverse("deal_list")))

    assert 'data-testid="notifications-link"' in html and 'data-testid="unread-count"' not in html


def test_the_notifications_page_lists_unread_first(client, mentioned, deal):
    client.force_login(mentioned.user)

    html = text(client.get(reverse("notification_list")))

    rows = re.findall(r'data-testid="notification">(.*?)</li>', html, re.S)
    assert len(rows) == 2
    assert "second, unread" in rows[0] and 'data-testid="unread"' in rows[0]
    assert "first" in rows[1] and 'data-testid="unread"' not in rows[1]
    assert "Riley Chen" in rows[0] and "Globex rollout" in rows[0]


def test_marking_read_in_place_updates_the_row_and_the_badge(client, mentioned):
    unread = Notification.objects.get(read_at__isnull=True)
    client.force_login(mentioned.user)

    response = client.post(reverse("notification_read", args=[unread.id]), headers=HTMX)

    assert response.status_code == 200
    html = text(response)
    assert f'id="notification-{unread.id}"' in html and 'data-testid="unread"' not in html
    assert 'id="notifications-badge"' in html and 'hx-swap-oob="true"' in html
    assert 'data-testid="unread-count"' not in html
    unread.refresh_from_db()
    assert unread.read_at is not None


def test_opening_a_notification_marks_it_read_and_goes_to_the_comment(client, mentioned, deal):
    unread = Notification.objects.get(read_at__isnull=True)
    client.force_login(mentioned.user)
    target = reverse("deal_detail", args=[deal.id]) + f"#comment-{unread.comment_id}"

    response = client.post(reverse("notification_read", args=[unread.id]), {"next": target})

    assert response.status_code == 302 and response["Location"] == target
    assert Notification.objects.filter(read_at__isnull=True).count() == 0


def test_an_outside_next_link_is_not_followed(client, mentioned):
    unread = Notification.objects.get(read_at__isnull=True)
    client.force_login(mentioned.user)

    response = client.post(reverse("notification_read", args=[unread.id]), {"next": "https://evil.test/"})

    assert response.status_code == 302 and response["Location"] == reverse("notification_list")


def test_someone_elses_notification_is_404_and_stays_unread(client, mentioned, rep):
    unread = Notification.objects.get(read_at__isnull=True)
    client.force_login(rep.user)

    assert client.post(reverse("notification_read", args=[unread.id]), headers=HTMX).status_code == 404
    assert client.get(reverse("notification_read", args=[unread.id])).status_code == 404
    unread.refresh_from_db()
    assert unread.read_at is None


def test_mark_all_read(client, mentioned):
    client.force_login(mentioned.user)

    response = client.post(reverse("notifications_read_all"), headers=HTMX)

    assert response.status_code == 200
    assert "Marked 1 as read." in text(response)
    assert not Notification.objects.filter(read_at__isnull=True).exists()


def test_the_notifications_page_is_for_members_only(client, db):
    response = client.get(reverse("notification_list"))

    assert response.status_code == 302 and "login" in response["Location"]


# ---- query counts


@pytest.mark.parametrize("n", [1, 25])
def test_section_query_count_does_not_grow_with_revisions_and_comments(
    client, django_assert_num_queries, named, deal, n
):
    for i in range(n):
        strategy_update(deal=deal, by=named["rep"], expected_version=i, risks=f"Risk {i}")
        comment_add(deal=deal, by=named["manager"], body=f"Coaching {i} for @riley")
    client.force_login(named["rep"].user)

    with django_assert_num_queries(SECTION_QUERIES):
        response = client.get(reverse("deal_strategy", args=[deal.id]), headers=HTMX)

    html = response.content.decode()
    assert html.count('data-testid="strategy-revision"') == min(n, 20)
    assert html.count('data-testid="comment"') == min(n, SECTION_COMMENTS)


def test_a_managers_section_reads_their_team_once_more(client, django_assert_num_queries, rep, manager, deal):
    strategy_update(deal=deal, by=rep, expected_version=0, risks="Budget freeze")
    client.force_login(manager.user)

    # Whether the deal's owner reports to them decides whether they may edit.
    with django_assert_num_queries(SECTION_QUERIES + 1):
        response = client.get(reverse("deal_strategy", args=[deal.id]), headers=HTMX)

    assert 'data-testid="strategy-form"' in response.content.decode()


def test_before_the_first_save_there_is_no_history_to_read(client, django_assert_num_queries, rep, deal):
    client.force_login(rep.user)

    with django_assert_num_queries(SECTION_QUERIES - 1):
        client.get(reverse("deal_strategy", args=[deal.id]), headers=HTMX)


@pytest.mark.parametrize("n", [1, 12])
def test_the_deal_page_with_a_strategy_reads_its_history_in_one_more_query(client, rep, manager, deal, n):
    client.force_login(rep.user)
    url = reverse("deal_detail", args=[deal.id])
    client.get(url)  # warm the session
    with CaptureQueriesContext(connection) as before:
        client.get(url)
    for i in range(n):
        strategy_update(deal=deal, by=rep, expected_version=i, risks=f"Risk {i}")
        comment_add(deal=deal, by=rep, body=f"Note {i} for @manager")

    with CaptureQueriesContext(connection) as after:
        response = client.get(url)

    assert response.status_code == 200
    assert len(after.captured_queries) == len(before.captured_queries) + 1


@pytest.mark.parametrize("n", [1, 30])
def test_notifications_page_query_count_does_not_grow(client, django_assert_num_queries, named, deal, n):
    for i in range(n):
        comment_add(deal=deal, by=named["rep"], body=f"@mara look at {i}")
    client.force_login(named["manager"].user)

    with django_assert_num_queries(NOTIFICATIONS_PAGE_QUERIES):
        response = client.get(reverse("notification_list"))

    assert response.content.decode().count('data-testid="notification"') == n
