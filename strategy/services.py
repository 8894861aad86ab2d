"""Every write of the strategy pillar: the strategy's saves, comments with their @mentions, and
notifications read. Pages and the API call these; nothing else writes these rows."""

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from deals.models import Deal
from deals.services.common import clean_text, raise_if
from orgs.models import Membership
from salesproc.lib.errors import InvalidInput, NotAllowed, ServiceError, StaleVersion
from strategy.lock_objects import strategy_for_update
from strategy.mentions import (
    MentionDirectory,
    Person,
    find_mentions,
    mentioned_user_ids,
    unresolved_handles,
)
from strategy.models import (
    STRATEGY_FIELDS,
    STRATEGY_TEXT_MAX,
    DealComment,
    DealStrategy,
    Notification,
    NotificationKind,
    StrategyRevision,
)
from strategy.selectors import can_edit_strategy, deal_strategy, mention_people
from strategy.tasks import send_mention_emails

COMMENT_MAX = 5000
# More people than a comment reasonably addresses; the rest of the names stay plain text.
MAX_MENTIONED = 20


class StaleStrategy(StaleVersion):
    """Someone saved the strategy since the caller read it (a 409 with the current version)."""

    def __init__(self, current_version: int):
        ServiceError.__init__(
            self,
            f"Someone else saved this strategy since you opened it (it is now at version "
            f"{current_version}). Your text was not saved.",
        )
        self.current_version = current_version


def require_strategy_editor(by: Membership, deal: Deal) -> None:
    if not can_edit_strategy(by, deal):
        raise NotAllowed(
            "You can read this deal's strategy; only its owner, their manager and admins change it."
        )


@transaction.atomic
def strategy_update(*, deal: Deal, by: Membership, expected_version: int, **fields) -> DealStrategy:
    """Save some of the deal's strategy fields (the others keep their text). `expected_version` is
    the version the writer saw (0 before the first save); a stale one raises StaleStrategy and writes
    nothing. A save that changes text bumps the version and records one StrategyRevision with who,
    when and each changed field's text before and after; a save that changes nothing writes nothing.
    The rep who owns the deal, the managers above them and admins may save; others get NotAllowed."""
    require_strategy_editor(by, deal)
    unknown = sorted(set(fields) - set(STRATEGY_FIELDS))
    if unknown:
        raise InvalidInput({name: ["Not a field of the strategy."] for name in unknown})
    if isinstance(expected_version, bool) or not isinstance(expected_version, int) or expected_version < 0:
        raise InvalidInput({"version": ["The version you read is required (0 before the first save)."]})
    errors: dict = {}
    cleaned = {
        name: clean_text(fields[name], name, errors, max_length=STRATEGY_TEXT_MAX)
        for name in STRATEGY_FIELDS
        if name in fields
    }
    raise_if(errors)

    strategy = strategy_for_update(deal.pk)
    current_version = strategy.version if strategy is not None else 0
    if current_version != expected_version:
        raise StaleStrategy(current_version)
    changes = [
        {"field": name, "before": getattr(strategy, name) if strategy else "", "after": cleaned[name]}
        for name in STRATEGY_FIELDS
        if name in cleaned and cleaned[name] != (getattr(strategy, name) if strategy else "")
    ]
    if not changes:
        return strategy if strategy is not None else deal_strategy(deal)

    now = timezone.now()
    values = {c["field"]: c["after"] for c in changes}
    if strategy is None:
        try:
            with transaction.atomic():
                strategy = DealStrategy.objects.create(
                    organization_id=deal.organization_id,
                    deal=deal,
                    version=1,
                    updated_by_id=by.user_id,
                    created_at=now,
                    updated_at=now,
                    **values,
                )
        except IntegrityError:
            # Another first save won the race (the one-per-deal key): stale, like any other.
            current = DealStrategy.objects.filter(deal_id=deal.pk).values_list("version", flat=True).first()
            raise StaleStrategy(current or 0) from None
    else:
        # Guarded by the version as well as the row lock: SQLite takes no row locks.
        updated = DealStrategy.objects.filter(pk=strategy.pk, version=expected_version).update(
            version=F("version") + 1, updated_by_id=by.user_id, updated_at=now, **values
        )
        if updated != 1:
            current = DealStrategy.objects.filter(pk=strategy.pk).values_list("version", flat=True).first()
            raise StaleStrategy(current or 0)
        for name, value in values.items():
            setattr(strategy, name, value)
        strategy.version = expected_version + 1
        strategy.updated_by_id = by.user_id
        strategy.updated_at = now
    StrategyRevision.objects.create(
        organization_id=deal.organization_id,
        strategy=strategy,
        version=strategy.version,
        by_id=by.user_id,
        at=now,
        changes=changes,
    )
    return strategy


@dataclass(frozen=True)
class Mentioned:
    """The @mentions of a comment's text, resolved once: what to store with the comment, who to notify
    (never the author, at most MAX_MENTIONED) and the handles that named nobody."""

    stored: list[dict]
    recipients: list[int]
    notified: list[Person]
    unresolved: list[str]


def mentions_resolve(*, organization_id: int, body: str, author_id: int) -> Mentioned:
    """Resolve the @mentions of `body` among the organization's active members (one query)."""
    people = mention_people(organization_id)
    mentions = find_mentions(body, MentionDirectory(people))
    recipients = [uid for uid in mentioned_user_ids(mentions) if uid != author_id][:MAX_MENTIONED]
    kept = {author_id, *recipients}
    by_id = {p.user_id: p for p in people}
    return Mentioned(
        stored=[
            {"start": m.start, "end": m.end, "user_id": m.user_id}
            for m in mentions
            if m.user_id is not None and m.user_id in kept
        ],
        recipients=recipients,
        notified=[by_id[uid] for uid in recipients],
        unresolved=unresolved_handles(mentions),
    )


def mentions_notify(mentioned: Mentioned, *, deal: Deal, by: Membership, at, **target) -> None:
    """One in-app notification per person mentioned, pointing at `target` (`comment=` a deal comment or
    `step_comment=` a plan step's), and their emails after commit."""
    notifications = Notification.objects.bulk_create(
        [
            Notification(
                organization_id=deal.organization_id,
                recipient_id=user_id,
                kind=NotificationKind.MENTION,
                deal=deal,
                actor_id=by.user_id,
                created_at=at,
                **target,
            )
            for user_id in mentioned.recipients
        ]
    )
    if notifications:
        send_mention_emails.delay_on_commit([n.pk for n in notifications])


@dataclass(frozen=True)
class CommentPosted:
    """A new comment, the people its @mentions notified and the handles that named nobody."""

    comment: DealComment
    notified: list[Person]
    unresolved: list[str]


@transaction.atomic
def comment_add(*, deal: Deal, by: Membership, body: str) -> CommentPosted:
    """Comment on the deal's strategy. Anyone who may edit the deal comments; a manager's or admin's
    comment on someone else's deal is flagged as coaching. Each member the text @mentions (see
    strategy.mentions) gets one Notification, except the author; their emails are queued after the
    commit, so a rolled-back comment emails nobody."""
    require_strategy_editor(by, deal)
    errors: dict = {}
    body = clean_text(body, "body", errors, max_length=COMMENT_MAX, required=True)
    raise_if(errors)
    mentioned = mentions_resolve(organization_id=deal.organization_id, body=body, author_id=by.user_id)
    now = timezone.now()
    comment = DealComment.objects.create(
        organization_id=deal.organization_id,
        deal=deal,
        author_id=by.user_id,
        body=body,
        is_coaching=by.is_manager and deal.owner_id != by.user_id,
        mentions=mentioned.stored,
        created_at=now,
    )
    mentions_notify(mentioned, deal=deal, by=by, at=now, comment=comment)
    return CommentPosted(comment=comment, notified=mentioned.notified, unresolved=mentioned.unresolved)


def notification_mark_read(*, notification: Notification, by: Membership) -> Notification:
    """Mark one of the member's own notifications read (already read: unchanged)."""
    if notification.recipient_id != by.user_id or notification.organization_id != by.organization_id:
        raise NotAllowed("This notification is not yours.")
    if notification.read_at is None:
        now = timezone.now()
        Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(read_at=now)
        notification.read_at = now
    return notification


def notifications_mark_all_read(*, by: Membership) -> int:
    """Mark every unread notification of the member in their current org read; returns how many."""
    return Notification.objects.filter(
        organization_id=by.organization_id, recipient_id=by.user_id, read_at__isnull=True
    ).update(read_at=timezone.now())
