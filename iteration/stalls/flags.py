"""Stall flags for people: snoozing one, and the reads behind the board's badges, the deal page, the
stalled list, the API and the digest (worst first, snoozed flags left out unless asked)."""

from collections.abc import Iterable
from datetime import date, timedelta

from django.db import transaction
from django.db.models import Case, IntegerField, Q, QuerySet, Value, When
from django.utils import timezone

from deals.models import Deal, DealStatus
from iteration.models import STALL_LEVEL_RANK, StallFlag
from iteration.stalls.rules import MAX_SNOOZE_DAYS
from orgs.models import Membership, Organization, Role
from orgs.selectors import can_edit_deal, team_user_ids
from salesproc.lib.errors import InvalidInput, NotAllowed


@transaction.atomic
def stall_flag_snooze(
    *, flag: StallFlag, by: Membership, until: date | str | None, reason: str, today: date | None = None
) -> StallFlag:
    """Hide a flag until a future date, with a reason: reps on their own deals, managers on their team's
    (`can_edit_deal`). The flag shows again on `until`; if the flag clears first the snooze ends with it."""
    if by.organization_id != flag.organization_id:
        raise InvalidInput({"__all__": ["Not found."]})
    deal = flag.deal
    if not can_edit_deal(by, deal):
        raise NotAllowed("Only the deal's owner or their manager can snooze its flags.")
    today = today or timezone.localdate()
    errors: dict[str, list[str]] = {}
    if isinstance(until, str):
        try:
            until = date.fromisoformat(until.strip())
        except ValueError:
            errors["until"] = [f'"{until}" is not a date (use YYYY-MM-DD).']
            until = None
    if until is None and "until" not in errors:
        errors["until"] = ["Say when the flag should show again."]
    elif isinstance(until, date):
        if until <= today:
            errors["until"] = ["The resume date must be in the future."]
        elif until > today + timedelta(days=MAX_SNOOZE_DAYS):
            errors["until"] = [f"At most {MAX_SNOOZE_DAYS} days ahead."]
    reason = (reason or "").strip()
    if not reason:
        errors["reason"] = ["Say why the flag can wait."]
    elif len(reason) > 300:
        errors["reason"] = ["At most 300 characters."]
    if errors:
        raise InvalidInput(errors)
    updated = StallFlag.objects.filter(pk=flag.pk).update(
        snoozed_until=until, snooze_reason=reason, snoozed_by_id=by.user_id
    )
    if not updated:
        raise InvalidInput({"__all__": ["This flag has cleared meanwhile: nothing to snooze."]})
    flag.snoozed_until, flag.snooze_reason, flag.snoozed_by_id = until, reason, by.user_id
    return flag


# ---- selectors


def with_level_rank(qs: QuerySet[StallFlag]) -> QuerySet[StallFlag]:
    """Annotate `level_rank` (3 red flag, 2 warning, 1 advice) for worst-first ordering."""
    return qs.annotate(
        level_rank=Case(
            *[When(level=level, then=Value(rank)) for level, rank in STALL_LEVEL_RANK.items()],
            default=Value(0),
            output_field=IntegerField(),
        )
    )


def _unsnoozed(today: date) -> Q:
    return Q(snoozed_until__isnull=True) | Q(snoozed_until__lte=today)


def flags_by_deal(
    organization: Organization,
    deal_ids: Iterable[int],
    *,
    include_snoozed: bool = False,
    today: date | None = None,
) -> dict[int, list[StallFlag]]:
    """{deal id: its flags, worst first} for the board's badges: one query, snoozed flags left out
    unless asked. Deals without flags are absent."""
    ids = list(deal_ids)
    if not ids:
        return {}
    qs = StallFlag.objects.for_org(organization).filter(deal_id__in=ids)
    if not include_snoozed:
        qs = qs.filter(_unsnoozed(today or timezone.localdate()))
    out: dict[int, list[StallFlag]] = {}
    for flag in with_level_rank(qs).order_by("deal_id", "-level_rank", "-days", "rule"):
        out.setdefault(flag.deal_id, []).append(flag)
    return out


def deal_stall_flags(deal: Deal) -> list[StallFlag]:
    """One deal's flags, snoozed ones included (the deal page shows them muted), worst first."""
    qs = StallFlag.objects.filter(organization_id=deal.organization_id, deal_id=deal.pk)
    return list(with_level_rank(qs).select_related("snoozed_by").order_by("-level_rank", "-days", "rule"))


def visible_flags(
    *,
    membership: Membership,
    level: str | None = None,
    rule: str | None = None,
    owner_id: int | None = None,
    include_snoozed: bool = False,
    today: date | None = None,
) -> QuerySet[StallFlag]:
    """The flags a member sees, worst first (level, then days, then id): a rep their own deals', a
    manager their team's, ops and admins the org's. Snoozed flags are left out unless asked. The rows
    come with deal, account, owner and stage: one query for a page, whatever its size."""
    org = membership.organization
    qs = StallFlag.objects.for_org(org).filter(deal__status=DealStatus.OPEN)
    if membership.role == Role.REP:
        qs = qs.filter(deal__owner_id=membership.user_id)
    elif membership.role == Role.MANAGER:
        qs = qs.filter(deal__owner_id__in=sorted(team_user_ids(membership)))
    if level:
        qs = qs.filter(level=level)
    if rule:
        qs = qs.filter(rule=rule)
    if owner_id is not None:
        qs = qs.filter(deal__owner_id=owner_id)
    if not include_snoozed:
        qs = qs.filter(_unsnoozed(today or timezone.localdate()))
    return (
        with_level_rank(qs)
        .select_related("deal", "deal__account", "deal__owner", "stage", "snoozed_by")
        .order_by("-level_rank", "-days", "id")
    )


def flags_cursor(flag: StallFlag) -> str:
    """The keyset position after `flag` in visible_flags' order."""
    return f"{flag.level_rank}.{int(flag.days)}.{flag.id}"


def flags_after(qs: QuerySet[StallFlag], cursor: str | None) -> QuerySet[StallFlag]:
    """The rows after a `flags_cursor` position (an unreadable cursor starts from the top)."""
    try:
        rank, days, flag_id = (int(part) for part in (cursor or "").split("."))
    except ValueError:
        return qs
    if not (0 <= rank <= 3 and 0 <= days < 10**7 and 0 < flag_id < 2**63):
        return qs
    return qs.filter(
        Q(level_rank__lt=rank)
        | Q(level_rank=rank, days__lt=days)
        | Q(level_rank=rank, days=days, id__gt=flag_id)
    )


def flags_page(qs: QuerySet[StallFlag], cursor: str | None, size: int) -> tuple[list[StallFlag], str | None]:
    """One page of `qs` after `cursor` and the cursor of the next page (None at the end): keyset
    pagination, never a COUNT."""
    rows = list(flags_after(qs, cursor)[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return rows, (flags_cursor(rows[-1]) if more and rows else None)
