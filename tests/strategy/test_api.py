"""The strategy API: the strategy with its version lock and history, comments, notifications."""

import pytest

from strategy.models import DealComment, DealStrategy, Notification, StrategyRevision
from strategy.services import comment_add, strategy_update

# token + membership + the deal + the strategy.
STRATEGY_QUERIES = 4
# token + membership + the deal + one page of rows with their users.
DEAL_LIST_QUERIES = 4
# token + membership + one page of notifications with deal, comment and actor.
NOTIFICATION_LIST_QUERIES = 3


def strategy_url(deal, tail=""):
    return f"/api/deals/{deal.id}/strategy/{tail}"


def test_a_deal_without_a_strategy_reads_blank_at_version_0(api, rep, deal):
    response = api(rep).get(strategy_url(deal))

    assert response.status_code == 200
    assert response.json() == {
        "deal": deal.id,
        "situation": "",
        "desired_result": "",
        "our_perspective": "",
        "risks": "",
        "next_moves": "",
        "version": 0,
        "updated_at": None,
        "updated_by": None,
        "can_edit": True,
    }


def test_put_saves_the_fields_sent_and_bumps_the_version(api, named, deal):
    client = api(named["manager"])

    first = client.put(strategy_url(deal), {"version": 0, "risks": "Budget", "situation": "Slow quotes"})
    second = client.put(strategy_url(deal), {"version": 1, "risks": "Budget freeze"}, format="json")

    assert first.status_code == 200 and second.status_code == 200, second.json()
    body = second.json()
    assert (body["version"], body["risks"], body["situation"]) == (2, "Budget freeze", "Slow quotes")
    assert body["updated_by"] == {"id": named["manager"].user_id, "name": "Mara Lopez"}
    assert body["updated_at"] is not None


def test_a_stale_put_is_409_with_the_current_version_and_writes_nothing(api, rep, manager, deal):
    strategy_update(deal=deal, by=manager, expected_version=0, risks="Manager's")

    response = api(rep).put(strategy_url(deal), {"version": 0, "risks": "Mine"}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "stale_version" and response.json()["current_version"] == 1
    stored = DealStrategy.objects.get(deal=deal)
    assert (stored.version, stored.risks) == (1, "Manager's")
    assert StrategyRevision.objects.count() == 1


def test_put_without_a_version_is_400(api, rep, deal):
    response = api(rep).put(strategy_url(deal), {"risks": "x"}, format="json")

    assert response.status_code == 400 and "version" in response.json()
    assert not DealStrategy.objects.exists()


def test_another_rep_reads_but_cannot_put_or_comment(api, rep, other_rep, deal):
    strategy_update(deal=deal, by=rep, expected_version=0, risks="Budget")
    client = api(other_rep)

    read = client.get(strategy_url(deal))
    put = client.put(strategy_url(deal), {"version": 1, "risks": "Not mine"}, format="json")
    posted = client.post(f"/api/deals/{deal.id}/comments/", {"body": "hi"}, format="json")

    assert read.status_code == 200 and read.json()["can_edit"] is False and read.json()["risks"] == "Budget"
    assert put.status_code == 403 and put.json()["code"] == "not_allowed"
    assert posted.status_code == 403
    assert DealStrategy.objects.get(deal=deal).version == 1 and not DealComment.objects.exists()


@pytest.mark.parametrize(
    "method, tail, data",
    [
        ("get", "strategy/", None),
        ("put", "strategy/", {"version": 0, "risks": "x"}),
        ("get", "strategy/history/", None),
        ("get", "comments/", None),
        ("post", "comments/", {"body": "hi"}),
    ],
)
def test_another_orgs_deal_is_404(api, admin, other_org_world, method, tail, data):
    deal = other_org_world["deal"]

    response = getattr(api(admin), method)(f"/api/deals/{deal.id}/{tail}", data, format="json")

    assert response.status_code == 404
    assert not DealStrategy.objects.exists() and not DealComment.objects.exists()


def test_history_lists_who_changed_what_newest_first(api, named, deal):
    strategy_update(deal=deal, by=named["rep"], expected_version=0, risks="Budget", next_moves="Call")
    strategy_update(deal=deal, by=named["manager"], expected_version=1, risks="Budget freeze")

    results = api(named["rep"]).get(strategy_url(deal, "history/")).json()["results"]

    assert [(r["version"], r["by"]["name"]) for r in results] == [(2, "Mara Lopez"), (1, "Riley Chen")]
    assert results[0]["changes"] == [
        {"field": "risks", "label": "Risks", "before": "Budget", "after": "Budget freeze"}
    ]
    assert [c["field"] for c in results[1]["changes"]] == ["risks", "next_moves"]


def test_posting_a_comment_notifies_the_mentioned_after_the_commit(
    api, named, deal, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api(named["manager"]).post(
            f"/api/deals/{deal.id}/comments/", {"body": "@riley and @nobody: call the CFO"}, format="json"
        )

    assert response.status_code == 201
    body = response.json()
    assert body["is_coaching"] is True and body["author"]["name"] == "Mara Lopez"
    assert body["notified"] == [{"id": named["rep"].user_id, "name": "Riley Chen"}]
    assert body["unresolved_mentions"] == ["@nobody"]
    assert body["mentions"] == [{"start": 0, "end": 6, "user": named["rep"].user_id}]
    assert [m.to for m in mailoutbox] == [["rep@acme.test"]]
    assert Notification.objects.get().recipient_id == named["rep"].user_id


def test_an_empty_comment_is_400(api, rep, deal):
    response = api(rep).post(f"/api/deals/{deal.id}/comments/", {"body": ""}, format="json")

    assert response.status_code == 400 and "body" in response.json()
    assert not DealComment.objects.exists()


def test_notifications_are_the_callers_own_newest_first_and_filter_by_unread(api, named, deal):
    comment_add(deal=deal, by=named["rep"], body="@mara first")
    comment_add(deal=deal, by=named["rep"], body="@mara second")
    comment_add(deal=deal, by=named["manager"], body="@riley yours")
    first = Notification.objects.filter(recipient=named["manager"].user).order_by("id").first()
    Notification.objects.filter(pk=first.pk).update(read_at="2026-01-01T00:00:00Z")
    client = api(named["manager"])

    everything = client.get("/api/notifications/").json()["results"]
    unread = client.get("/api/notifications/?unread=true").json()["results"]
    read = client.get("/api/notifications/?unread=false").json()["results"]

    assert [n["excerpt"] for n in everything] == ["@mara second", "@mara first"]
    assert everything[0]["deal"] == {"id": deal.id, "name": "Globex rollout"}
    assert everything[0]["actor"]["name"] == "Riley Chen" and everything[0]["kind"] == "mention"
    assert [n["excerpt"] for n in unread] == ["@mara second"]
    assert [n["excerpt"] for n in read] == ["@mara first"]


def test_marking_a_notification_read(api, named, deal):
    comment_add(deal=deal, by=named["rep"], body="@mara look")
    notification = Notification.objects.get()

    response = api(named["manager"]).post(f"/api/notifications/{notification.id}/read/")

    assert response.status_code == 200 and response.json()["read_at"] is not None
    notification.refresh_from_db()
    assert notification.read_at is not None


def test_someone_elses_notification_is_404_and_stays_unread(api, named, deal, other_org_world):
    comment_add(deal=deal, by=named["rep"], body="@mara look")
    notification = Notification.objects.get()

    for member in (named["rep"], other_org_world["member"]):
        response = api(member).post(f"/api/notifications/{notification.id}/read/")
        assert response.status_code == 404

    notification.refresh_from_db()
    assert notification.read_at is None


# ---- query counts


@pytest.mark.parametrize("n", [1, 20])
def test_strategy_query_count_does_not_grow_with_revisions(api, django_assert_num_queries, rep, deal, n):
    for i in range(n):
        strategy_update(deal=deal, by=rep, expected_version=i, risks=f"Risk {i}")
    client = api(rep)

    with django_assert_num_queries(STRATEGY_QUERIES):
        assert client.get(strategy_url(deal)).json()["version"] == n


@pytest.mark.parametrize("n", [2, 30])
def test_history_and_comments_query_counts_do_not_grow(api, django_assert_num_queries, named, deal, n):
    for i in range(n):
        strategy_update(deal=deal, by=named["rep"], expected_version=i, risks=f"Risk {i}")
        comment_add(deal=deal, by=named["manager"], body=f"@riley note {i}")
    client = api(named["rep"])

    with django_assert_num_queries(DEAL_LIST_QUERIES):
        history = client.get(strategy_url(deal, "history/")).json()["results"]
    with django_assert_num_queries(DEAL_LIST_QUERIES):
        comments = client.get(f"/api/deals/{deal.id}/comments/").json()["results"]

    assert len(history) == len(comments) == n


@pytest.mark.parametrize("n", [2, 30])
def test_notification_list_query_count_does_not_grow(api, django_assert_num_queries, named, deal, n):
    for i in range(n):
        comment_add(deal=deal, by=named["rep"], body=f"@mara look {i}")
    client = api(named["manager"])

    with django_assert_num_queries(NOTIFICATION_LIST_QUERIES):
        results = client.get("/api/notifications/").json()["results"]

    assert len(results) == n
