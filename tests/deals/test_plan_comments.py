"""Comments on the steps of a deal's plan: who may write and delete them, and the notifications and
emails their @mentions create (the same as the strategy's comments)."""

import pytest

from deals.models import StepComment
from deals.services import step_add, step_comment_add, step_comment_delete
from salesproc.lib.errors import InvalidInput, NotAllowed
from strategy.models import Notification
from strategy.selectors import notifications_page


@pytest.fixture
def named(rep, manager, other_rep, admin):
    """People a comment can @mention: the rep Riley Chen, their manager Mara Lopez, the other rep Sam
    Ortiz, the admin Ada Admin."""
    for membership, name in [
        (rep, "Riley Chen"),
        (manager, "Mara Lopez"),
        (other_rep, "Sam Ortiz"),
        (admin, "Ada Admin"),
    ]:
        membership.user.full_name = name
        membership.user.save(update_fields=["full_name"])
    return {"rep": rep, "manager": manager, "other_rep": other_rep, "admin": admin}


@pytest.fixture
def step(deal, rep):
    return step_add(deal=deal, by=rep, title="Book the CFO meeting")


@pytest.mark.parametrize("role", ["rep", "manager", "admin", "ops", "other_rep"])
def test_anyone_who_reads_the_deal_comments_on_its_steps(request, step, role):
    author = request.getfixturevalue(role)

    posted = step_comment_add(step=step, by=author, body="  Ask about the Q3 freeze.  ")

    comment = StepComment.objects.get()
    assert comment == posted.comment
    assert (comment.step, comment.author, comment.body) == (step, author.user, "Ask about the Q3 freeze.")
    assert comment.organization_id == step.organization_id


def test_a_member_of_another_org_cannot_comment(step, other_org_world):
    with pytest.raises(NotAllowed):
        step_comment_add(step=step, by=other_org_world["member"], body="Hello")

    assert not StepComment.objects.exists()


@pytest.mark.parametrize("body", ["   ", "x" * 5001])
def test_an_empty_or_too_long_comment_is_refused(step, rep, body):
    with pytest.raises(InvalidInput) as caught:
        step_comment_add(step=step, by=rep, body=body)

    assert "body" in caught.value.errors
    assert not StepComment.objects.exists() and not Notification.objects.exists()


def test_each_member_mentioned_gets_one_notification_linked_to_the_step_comment(step, deal, named):
    manager, rep, other_rep = named["manager"], named["rep"], named["other_rep"]

    posted = step_comment_add(
        step=step, by=manager, body="@riley, pair with @sam.ortiz; @Riley again, @nobody."
    )

    rows = {
        (n.recipient_id, n.kind, n.deal_id, n.step_comment_id, n.comment_id, n.actor_id)
        for n in Notification.objects.all()
    }
    assert rows == {
        (rep.user_id, "mention", deal.id, posted.comment.id, None, manager.user_id),
        (other_rep.user_id, "mention", deal.id, posted.comment.id, None, manager.user_id),
    }
    assert [p.user_id for p in posted.notified] == [rep.user_id, other_rep.user_id]
    assert posted.unresolved == ["@nobody"]
    body = posted.comment.body
    assert [body[m["start"] : m["end"]] for m in posted.comment.mentions] == [
        "@riley",
        "@sam.ortiz",
        "@Riley",
    ]


def test_mentioning_yourself_notifies_nobody(step, named, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        posted = step_comment_add(step=step, by=named["rep"], body="Note for @riley: bring the deck")

    assert posted.notified == [] and callbacks == [] and mailoutbox == []
    assert not Notification.objects.exists()


def test_the_mentioned_are_emailed_once_after_the_commit_with_the_step(
    step, deal, named, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        step_comment_add(step=step, by=named["rep"], body="@mara can you join this one?")
        assert mailoutbox == []

    assert len(callbacks) == 1
    callbacks[0]()
    [email] = mailoutbox
    assert email.to == ["manager@acme.test"]
    assert email.subject == "[Acme Sales] Riley Chen mentioned you on Globex rollout"
    assert (
        "mentioned you in a comment on the step “Book the CFO meeting” of the plan of Globex rollout"
        in email.body
    )
    assert "> @mara can you join this one?" in email.body
    assert f"/deals/{deal.id}/#step-{step.id}" in email.body
    callbacks[0]()  # a redelivered task sends nothing twice
    assert len(mailoutbox) == 1


def test_the_notification_shows_on_the_notifications_page(client, step, named):
    step_comment_add(step=step, by=named["manager"], body="@riley start with the CFO's agenda")
    client.force_login(named["rep"].user)

    html = client.get("/notifications/").content.decode()

    assert "in the plan step" in html and "Book the CFO meeting" in html
    assert "start with the CFO&#x27;s agenda" in html
    assert f"#step-{step.id}" in html
    assert len(notifications_page(named["rep"])) == 1


def test_only_the_author_deletes_a_comment_and_its_notifications_go_with_it(step, named):
    rep, manager, admin = named["rep"], named["manager"], named["admin"]
    posted = step_comment_add(step=step, by=rep, body="@mara thoughts?")

    for other in (manager, admin):
        with pytest.raises(NotAllowed, match="Only the comment's author"):
            step_comment_delete(comment=posted.comment, by=other)
    assert StepComment.objects.exists() and Notification.objects.count() == 1

    step_comment_delete(comment=posted.comment, by=rep)
    assert not StepComment.objects.exists()
    assert not Notification.objects.exists()
