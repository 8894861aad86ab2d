"""Reads behind the strategy section, the comments and the notifications. Each runs a fixed number of
queries whatever the number of revisions, comments or notifications (pinned in tests/strategy)."""

from dataclasses import dataclass

from django.db.models import Case, IntegerField, QuerySet, Value, When

from deals.models import Deal
from orgs.models import Membership
from orgs.selectors import can_edit_deal
from strategy.mentions import Person
from strategy.models import STRATEGY_FIELDS, DealComment, DealStrategy, Notification, StrategyRevision

SECTION_REVISIONS = 20
SECTION_COMMENTS = 50
NOTIFICATIONS_PAGE = 100
# The badge says "99+" beyond this: the COUNT reads at most this many index entries.
UNREAD_BADGE_CAP = 100


def can_edit_strategy(membership: Membership, deal: Deal) -> bool:
    """The deal's owner, the managers above them and the org's admins write its strategy and comment
    on it (the same people who may edit the deal); every other member reads."""
    return can_edit_deal(membership, deal)


def deal_strategy(deal: Deal) -> DealStrategy:
    """The deal's strategy with who last saved it (one query). A deal nobody has written a strategy
    for gets a blank, unsaved one at version 0: the version a first save names."""
    strategy = DealStrategy.objects.select_related("updated_by").filter(deal_id=deal.pk).first()
    if strategy is None:
        strategy = DealStrategy(organization_id=deal.organization_id, deal=deal, version=0)
    return strategy


def strategy_revisions(deal: Deal) -> QuerySet[StrategyRevision]:
    """The deal's strategy revisions, newest first, with their authors."""
    return StrategyRevision.objects.filter(
        organization_id=deal.organization_id, strategy__deal_id=deal.pk
    ).select_related("by")


def deal_comments(deal: Deal) -> QuerySet[DealComment]:
    """The deal's comments, newest first, with their authors."""
    return DealComment.objects.filter(organization_id=deal.organization_id, deal_id=deal.pk).select_related(
        "author"
    )


@dataclass
class CommentsSection:
    comments: list[DealComment]  # oldest first: a conversation reads down
    more: bool  # older comments than these exist


def section_comments(deal: Deal) -> CommentsSection:
    """The deal's latest SECTION_COMMENTS comments with their authors, oldest first (one query)."""
    rows = list(deal_comments(deal).order_by("-id")[: SECTION_COMMENTS + 1])
    return CommentsSection(comments=rows[:SECTION_COMMENTS][::-1], more=len(rows) > SECTION_COMMENTS)


@dataclass
class StrategySection:
    strategy: DealStrategy
    revisions: list[StrategyRevision]  # newest first
    comments: CommentsSection
    can_edit: bool


def strategy_section(*, membership: Membership, deal: Deal) -> StrategySection:
    """What the deal page's strategy section shows: the strategy, its latest SECTION_REVISIONS
    revisions and the latest comments. Three queries (two before the first save) whatever their
    numbers, plus the member's team for a manager when the page has not read it already."""
    strategy = deal_strategy(deal)
    return StrategySection(
        strategy=strategy,
        revisions=list(strategy_revisions(deal)[:SECTION_REVISIONS]) if strategy.pk else [],
        comments=section_comments(deal),
        can_edit=can_edit_strategy(membership, deal),
    )


def strategy_texts_at(strategy: DealStrategy, version: int) -> dict[str, str]:
    """The strategy's text as it was at `version` (blank at 0): the text now, with the revisions
    since then undone, newest first. One query (none for a blank or current version)."""
    if version <= 0 or strategy.pk is None:
        return dict.fromkeys(STRATEGY_FIELDS, "")
    texts = {name: getattr(strategy, name) for name in STRATEGY_FIELDS}
    if version >= strategy.version:
        return texts
    newer = StrategyRevision.objects.filter(strategy_id=strategy.pk, version__gt=version).order_by("-version")
    for revision in newer:
        for change in revision.changes:
            texts[change["field"]] = change["before"]
    return texts


@dataclass
class StrategyMerge:
    texts: dict[str, str]  # the writer's text merged with what was saved meanwhile
    conflicting: list[str]  # the fields both changed, each differently


def strategy_merge(strategy: DealStrategy, *, base_version: int, mine: dict[str, str]) -> StrategyMerge:
    """Merge a writer's text, typed over `base_version`, with the strategy saved since (a three-way
    merge per field): a field only they changed keeps theirs, a field only the others changed takes
    the saved text, a field both changed differently is a conflict for the writer to settle. Fields
    missing from `mine` take the saved text. One query (strategy_texts_at)."""
    base = strategy_texts_at(strategy, base_version)
    texts: dict[str, str] = {}
    conflicting: list[str] = []
    for name in STRATEGY_FIELDS:
        saved = getattr(strategy, name)
        typed = mine.get(name, base[name])
        if typed == base[name] or typed == saved:
            texts[name] = saved
        elif saved == base[name]:
            texts[name] = typed
        else:
            texts[name] = typed
            conflicting.append(name)
    return StrategyMerge(texts=texts, conflicting=conflicting)


def mention_people(organization_id: int) -> list[Person]:
    """The org's active members as a handle may name them (one query)."""
    rows = (
        Membership.objects.filter(organization_id=organization_id, is_active=True, user__is_active=True)
        .order_by("id")
        .values_list("user_id", "user__email", "user__full_name")
    )
    return [Person(user_id=uid, email=email, full_name=name or "") for uid, email, name in rows]


def member_notifications(membership: Membership) -> QuerySet[Notification]:
    """The member's notifications in their current organization, with the deal, comment (a strategy
    comment, or a plan step's with its step) and actor."""
    return Notification.objects.filter(
        organization_id=membership.organization_id, recipient_id=membership.user_id
    ).select_related("deal", "comment", "step_comment__step", "actor")


def notifications_page(membership: Membership) -> list[Notification]:
    """The notifications page: unread first, each group newest first; the latest NOTIFICATIONS_PAGE.
    One query."""
    unread_first = Case(
        When(read_at__isnull=True, then=Value(0)), default=Value(1), output_field=IntegerField()
    )
    return list(member_notifications(membership).order_by(unread_first, "-id")[:NOTIFICATIONS_PAGE])


def unread_notification_count(membership: Membership) -> int:
    """How many notifications the member has not read, up to UNREAD_BADGE_CAP: one COUNT over the
    partial index of unread rows, bounded so a neglected inbox costs no more than a tidy one."""
    return (
        Notification.objects.filter(
            organization_id=membership.organization_id,
            recipient_id=membership.user_id,
            read_at__isnull=True,
        )
        .order_by()[:UNREAD_BADGE_CAP]
        .count()
    )
