"""The daily stall digest: each owner their flagged deals, each manager their team's, worst first.

Same guarantees as the idle-deal digest (deals.services.digest): a person's email for a day is claimed
with a DigestRun row (kind `stall_flags`) before it goes out, so a redelivered or concurrent task sends
nothing twice; an email that fails releases its claim for the retry."""

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db.models import Q
from django.utils import timezone

from deals.models import DealStatus, DigestKind, DigestRun
from iteration.models import StallFlag, StallLevel
from iteration.stalls import level_rank
from orgs.models import Membership, Organization
from orgs.selectors import report_user_ids

# An email stays readable: the worst deals of each list, then how many more there are.
MAX_LISTED = 25


@dataclass(frozen=True)
class FlagLine:
    rule: str
    level: str
    days: float
    reason: str

    @property
    def sort_key(self) -> tuple:
        return (-level_rank(self.level), -self.days, self.rule)


@dataclass
class FlaggedDeal:
    """A deal with its unsnoozed flags, worst first."""

    id: int
    name: str
    account: str
    stage: str
    owner_id: int
    owner_name: str
    flags: list[FlagLine] = field(default_factory=list)

    @property
    def worst(self) -> FlagLine:
        return self.flags[0]

    @property
    def sort_key(self) -> tuple:
        return (*self.worst.sort_key[:2], self.id)

    @property
    def url(self) -> str:
        return f"{settings.SITE_URL}/deals/{self.id}/"


@dataclass
class StallDigest:
    """One person's digest: their own flagged deals and, for a manager, their team's."""

    recipient_id: int
    email: str
    name: str
    own: list[FlaggedDeal] = field(default_factory=list)
    team: list[FlaggedDeal] = field(default_factory=list)

    @property
    def deal_count(self) -> int:
        return len(self.own) + len(self.team)


def flagged_open_deals(*, org: Organization, today: date) -> list[FlaggedDeal]:
    """The org's open deals with unsnoozed flags, worst first (level, then days). One query, read as
    plain rows: a large org has 100k+ flags and model instances would cost seconds."""
    rows = (
        StallFlag.objects.for_org(org)
        .filter(deal__status=DealStatus.OPEN)
        .filter(Q(snoozed_until__isnull=True) | Q(snoozed_until__lte=today))
        .order_by()
        .values_list(
            "deal_id",
            "deal__name",
            "deal__account__name",
            "stage__name",
            "deal__owner_id",
            "deal__owner__full_name",
            "deal__owner__email",
            "rule",
            "level",
            "days",
            "reason",
        )
    )
    deals: dict[int, FlaggedDeal] = {}
    for deal_id, name, account, stage, owner_id, full_name, email, rule, level, days, reason in rows:
        d = deals.get(deal_id)
        if d is None:
            # The same fallback as User.display_name.
            owner_name = full_name or email.split("@")[0]
            d = deals[deal_id] = FlaggedDeal(deal_id, name, account, stage, owner_id, owner_name)
        d.flags.append(FlagLine(rule, level, days, reason))
    for d in deals.values():
        d.flags.sort(key=lambda f: f.sort_key)
    return sorted(deals.values(), key=lambda d: d.sort_key)


def stall_digests(*, org: Organization, today: date) -> list[StallDigest]:
    """Who gets which flagged deals: every active member their own, every manager (or admin with
    reports) those of everyone reporting to them, directly or not. Two queries."""
    deals = flagged_open_deals(org=org, today=today)
    if not deals:
        return []
    members = list(
        Membership.objects.for_org(org)
        .select_related("user")
        .only(
            "id",
            "manager_id",
            "user_id",
            "role",
            "is_active",
            "user__email",
            "user__full_name",
            "user__is_active",
        )
        .order_by("id")
    )
    rows = [(m.id, m.manager_id, m.user_id) for m in members]
    by_owner: dict[int, list[FlaggedDeal]] = {}
    for d in deals:  # worst first, so each owner's list is too
        by_owner.setdefault(d.owner_id, []).append(d)
    digests = []
    for m in members:
        if not (m.is_active and m.user.is_active and m.user.email):
            continue
        own = by_owner.get(m.user_id, [])
        team: list[FlaggedDeal] = []
        if m.is_manager:
            reports = report_user_ids(rows, m.id) - {m.user_id}
            team = sorted((d for uid in reports for d in by_owner.get(uid, [])), key=lambda d: d.sort_key)
        if own or team:
            digests.append(
                StallDigest(
                    recipient_id=m.user_id, email=m.user.email, name=m.user.display_name, own=own, team=team
                )
            )
    return digests


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


LEVEL_TAG = {StallLevel.RED_FLAG: "RED FLAG", StallLevel.WARNING: "WARNING", StallLevel.ADVICE: "advice"}


def _deal_lines(deals: list[FlaggedDeal], *, with_owner: bool) -> list[str]:
    lines = []
    for d in deals[:MAX_LISTED]:
        owner = f" · {d.owner_name}" if with_owner else ""
        lines.append(f"- [{LEVEL_TAG[d.worst.level]}] {d.name} · {d.account} · {d.stage}{owner}")
        lines += [f"    {f.reason}" for f in d.flags]
        lines.append(f"    {d.url}")
    if len(deals) > MAX_LISTED:
        lines.append(f"  … and {len(deals) - MAX_LISTED} more")
    return lines


def stall_digest_message(digest: StallDigest, *, org: Organization) -> EmailMessage:
    """The plain-text email of one person's stall digest."""
    parts = []
    if digest.own:
        parts.append(f"{_plural(len(digest.own), 'flagged deal')} of yours")
    if digest.team:
        parts.append(
            f"{len(digest.team) if digest.own else _plural(len(digest.team), 'flagged deal')} in your team"
        )
    subject = f"[{org.name}] {' and '.join(parts)}"
    lines = [
        f"Hello {digest.name},",
        "",
        f"These open deals in {org.name} are caught by a stall rule, worst first. Move them on, log the "
        "next conversation, or snooze a flag with a reason until a date.",
    ]
    if digest.own:
        lines += ["", "Your deals", *_deal_lines(digest.own, with_owner=False)]
    if digest.team:
        lines += ["", "Your team's deals", *_deal_lines(digest.team, with_owner=True)]
    lines += ["", f"All stalled deals: {settings.SITE_URL}/stalls/", ""]
    return EmailMessage(subject=subject, body="\n".join(lines), to=[digest.email])


def stall_digest_send(*, org: Organization, day: date, now: datetime | None = None) -> int:
    """Email the org's stall digests for `day`; returns how many emails this call sent.

    Idempotent per person and day (DigestRun kind `stall_flags`, claimed before sending; only this
    call's claims are sent). Flags snoozed until after `day` are left out. A constant number of queries
    whatever the number of members and deals."""
    now = now or timezone.now()
    digests = stall_digests(org=org, today=day)
    if not digests:
        return 0
    claim = uuid.uuid4()
    DigestRun.objects.bulk_create(
        [
            DigestRun(
                organization=org,
                kind=DigestKind.STALL_FLAGS,
                day=day,
                recipient_id=d.recipient_id,
                claim=claim,
                deal_count=d.deal_count,
                created_at=now,
            )
            for d in digests
        ],
        ignore_conflicts=True,
    )
    mine = set(
        DigestRun.objects.filter(
            organization=org, kind=DigestKind.STALL_FLAGS, day=day, claim=claim
        ).values_list("recipient_id", flat=True)
    )
    sent: list[int] = []
    try:
        # One connection for the whole run; slow I/O, outside any transaction.
        with get_connection() as connection:
            for digest in digests:
                if digest.recipient_id in mine:
                    connection.send_messages([stall_digest_message(digest, org=org)])
                    sent.append(digest.recipient_id)
    finally:
        unsent = sorted(mine - set(sent))
        if unsent:
            DigestRun.objects.filter(claim=claim, recipient_id__in=unsent).delete()
        if sent:
            DigestRun.objects.filter(claim=claim, recipient_id__in=sent).update(sent_at=timezone.now())
    return len(sent)
