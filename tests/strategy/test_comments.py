"""Comments on a deal's strategy: who may write them, coaching, and the notifications and emails their
@mentions create."""

import pytest
from django.db import transaction

from orgs.models import Role
from salesproc.lib.errors import InvalidInput, NotAllowed
from strategy.emails import mention_emails_send
from strategy.models import DealComment, Notification
from strategy.services import MAX_MENTIONED, comment_add
from tests.factories import MembershipFactory


def test_the_rep_comments_and_it_is_not_coaching(deal, rep):
    posted = comment_add(deal=deal, by=rep, body="  Sent the ROI model.  ")

    comment = DealComment.objects.get()
    assert comment == posted.comment
    assert (comment.body, comment.author, comment.is_coaching) == ("Sent the ROI model.", rep.user, False)
    assert comment.organization_id == deal.organization_id


@pytest.mark.parametrize("role", ["manager", "admin"])
def test_a_managers_comment_on_a_reps_deal_is_coaching(request, deal, role):
    posted = comment_add(deal=deal, by=request.getfixturevalue(role), body="Lead with the audit finding.")

    assert posted.comment.is_coaching


def test_a_manager_commenting_on_their_own_deal_is_not_coaching(manager, process, account):
    from deals.services import deal_create

    own = deal_create(by=manager, process=process, name="Manager's own", account=account)

    assert not comment_add(deal=own, by=manager, body="Note to self").comment.is_coaching


@pytest.mark.parametrize("role", ["other_rep", "ops", "other_manager"])
def test_members_who_may_not_edit_the_deal_cannot_comment(request, deal, named, role):
    with pytest.raises(NotAllowed):
        comment_add(deal=deal, by=request.getfixturevalue(role), body="@riley hello")

    assert not DealComment.objects.exists() and not Notification.objects.exists()


def test_an_empty_comment_is_refused(deal, rep):
    with pytest.raises(InvalidInput) as caught:
        comment_add(deal=deal, by=rep, body="   ")

    assert "body" in caught.value.errors
    assert not DealComment.objects.exists()


def test_each_member_mentioned_gets_one_notification(deal, named):
    manager, rep, other_rep = named["manager"], named["rep"], named["other_rep"]

    posted = comment_add(deal=deal, by=manager, body="@riley, loop in @sam.ortiz; @Riley again and @nobody.")

    notifications = Notification.objects.order_by("recipient_id")
    assert {(n.recipient_id, n.kind, n.deal_id, n.comment_id, n.actor_id) for n in notifications} == {
        (rep.user_id, "mention", deal.id, posted.comment.id, manager.user_id),
        (other_rep.user_id, "mention", deal.id, posted.comment.id, manager.user_id),
    }
    assert all(n.read_at is None and n.organization_id == deal.organization_id for n in notifications)
    assert [p.user_id for p in posted.notified] == [rep.user_id, other_rep.user_id]
    assert posted.unresolved == ["@nobody"]
    # The resolved spans are kept with the comment, so the page highlights them without a lookup.
    body = posted.comment.body
    assert [body[m["start"] : m["end"]] for m in posted.comment.mentions] == [
        "@riley",
        "@sam.ortiz",
        "@Riley",
    ]


def test_mentioning_yourself_notifies_nobody(deal, named, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        posted = comment_add(deal=deal, by=named["rep"], body="Reminder for @riley: send the deck")

    assert posted.notified == []
    assert not Notification.objects.exists()
    assert callbacks == [] and mailoutbox == []


def test_the_mentioned_are_emailed_once_after_the_commit(
    deal, named, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        comment_add(deal=deal, by=named["rep"], body="@mara can you join Friday's call?")
        assert mailoutbox == []  # nothing leaves before the commit

    assert len(callbacks) == 1
    callbacks[0]()
    [email] = mailoutbox
    assert email.to == ["manager@acme.test"]
    assert email.subject == "[Acme Sales] Riley Chen mentioned you on Globex rollout"
    assert "Riley Chen mentioned you in a comment on the strategy of Globex rollout" in email.body
    assert "> @mara can you join Friday's call?" in email.body
    comment = DealComment.objects.get()
    assert f"/deals/{deal.id}/#comment-{comment.id}" in email.body
    assert Notification.objects.get().emailed_at is not None

    # A redelivered task finds the email claimed and sends nothing twice.
    callbacks[0]()
    assert len(mailoutbox) == 1


def test_a_rolled_back_comment_emails_nobody(deal, named, mailoutbox, django_capture_on_commit_callbacks):
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        comment_add(deal=deal, by=named["rep"], body="@mara look")
        raise RuntimeError("the request failed after the comment")

    assert mailoutbox == []
    assert not Notification.objects.exists() and not DealComment.objects.exists()


def test_a_failed_email_releases_its_claim_for_the_retry(deal, named, mailoutbox, monkeypatch):
    comment_add(deal=deal, by=named["rep"], body="@mara @sam.ortiz look")
    ids = list(Notification.objects.order_by("id").values_list("id", flat=True))
    calls = []

    def fail_second(self, messages):
        calls.append(messages[0].to)
        if len(calls) == 2:
            raise ConnectionError("SMTP went away")
        mailoutbox.extend(messages)
        return 1

    monkeypatch.setattr("django.core.mail.backends.locmem.EmailBackend.send_messages", fail_second)
    with pytest.raises(ConnectionError):
        mention_emails_send(notification_ids=ids)
    monkeypatch.undo()

    sent_first = Notification.objects.filter(emailed_at__isnull=False).values_list("id", flat=True)
    assert list(sent_first) == [ids[0]]
    assert mention_emails_send(notification_ids=ids) == 1  # the retry sends only the failed one
    assert [m.to for m in mailoutbox] == [["manager@acme.test"], ["rep2@acme.test"]]
    assert Notification.objects.filter(emailed_at__isnull=True).count() == 0


def test_members_of_another_org_and_inactive_members_are_not_mentionable(deal, named, other_org_world):
    inactive = MembershipFactory(
        organization=deal.organization, role=Role.REP, is_active=False, user__email="gone@acme.test"
    )

    posted = comment_add(deal=deal, by=named["rep"], body="@admin@other.test and @gone, see this")

    assert posted.notified == [] and not Notification.objects.exists()
    assert posted.unresolved == ["@admin@other.test", "@gone"]
    assert inactive.user_id not in [m["user_id"] for m in posted.comment.mentions]


def test_a_comment_notifies_at_most_max_mentioned_people(deal, rep):
    people = [
        MembershipFactory(organization=deal.organization, user__email=f"p{i}@acme.test")
        for i in range(MAX_MENTIONED + 3)
    ]

    comment_add(deal=deal, by=rep, body=" ".join(f"@p{i}" for i in range(len(people))))

    assert Notification.objects.count() == MAX_MENTIONED
