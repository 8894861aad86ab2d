"""Emails for notifications: each one claimed before it goes out, so it is sent at most once."""

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.utils import timezone

from strategy.models import Notification

EXCERPT_CHARS = 600


def _excerpt(text: str) -> str:
    text = text.strip()
    if len(text) > EXCERPT_CHARS:
        text = text[:EXCERPT_CHARS].rstrip() + " …"
    return "\n".join(f"  > {line}" for line in text.splitlines())


def mention_message(notification: Notification) -> EmailMessage:
    """The plain-text email telling someone they were mentioned in a comment."""
    deal = notification.deal
    actor = notification.actor.display_name if notification.actor else "Someone"
    org = notification.organization
    comment = notification.comment
    step_comment = notification.step_comment
    if step_comment is not None:
        # A comment in the thread of one step of the deal's plan (deals.StepComment).
        url = f"{settings.SITE_URL}/deals/{deal.pk}/#step-{step_comment.step_id}"
        where = f"on the step “{step_comment.step.title}” of the plan of {deal.name}"
        body = step_comment.body
    else:
        url = f"{settings.SITE_URL}/deals/{deal.pk}/#comment-{comment.pk if comment else ''}"
        where = f"on the strategy of {deal.name}"
        body = comment.body if comment else ""
    lines = [
        f"Hello {notification.recipient.display_name},",
        "",
        f"{actor} mentioned you in a comment {where}:",
        "",
        _excerpt(body),
        "",
        f"Open the deal: {url}",
        "",
        f"You get this email because you are a member of {org.name} on Salesproc.",
        "",
    ]
    return EmailMessage(
        subject=f"[{org.name}] {actor} mentioned you on {deal.name}",
        body="\n".join(lines),
        to=[notification.recipient.email],
    )


def mention_emails_send(*, notification_ids: list[int]) -> int:
    """Email the given notifications' recipients; returns how many emails this call sent.

    Idempotent: each notification is claimed (its `emailed_at` set where it was empty) before its
    email goes out, so a redelivered task sends nothing twice. An email that fails releases its claim
    and the ones not yet tried, and the error propagates for the task to retry exactly those.
    Inactive recipients are skipped (and claimed: they will not want it later either)."""
    rows = list(
        Notification.objects.filter(pk__in=sorted(set(notification_ids)), emailed_at__isnull=True)
        .select_related("deal", "comment", "step_comment__step", "actor", "recipient", "organization")
        .order_by("pk")
    )
    claimed: list[Notification] = []
    for row in rows:
        # One conditional UPDATE per row: a concurrent run claims each row at most once.
        if Notification.objects.filter(pk=row.pk, emailed_at__isnull=True).update(emailed_at=timezone.now()):
            claimed.append(row)
    to_send = [n for n in claimed if n.recipient.is_active and n.recipient.email]
    sent: set[int] = set()
    try:
        # Slow I/O, outside any transaction; one connection for the batch.
        with get_connection() as connection:
            for notification in to_send:
                connection.send_messages([mention_message(notification)])
                sent.add(notification.pk)
    finally:
        unsent = [n.pk for n in to_send if n.pk not in sent]
        if unsent:
            Notification.objects.filter(pk__in=unsent).update(emailed_at=None)
    return len(sent)
