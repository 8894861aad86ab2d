"""Reads behind the daily idle-deal digest: which open deals are idle and who hears about which."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings

from deals.models import Deal
from orgs.models import Membership, Organization
from orgs.selectors import report_user_ids


@dataclass(frozen=True)
class IdleDeal:
    id: int
    name: str
    account: str
    stage: str
    owner_id: int
    owner_name: str
    days_idle: int

    @property
    def url(self) -> str:
        return f"{settings.SITE_URL}/deals/{self.id}/"


@dataclass
class StaleDealDigest:
    """One person's digest: their own idle deals and, for a manager, their team's."""

    recipient_id: int
    email: str
    name: str
    own: list[IdleDeal] = field(default_factory=list)
    team: list[IdleDeal] = field(default_factory=list)

    @property
    def deal_count(self) -> int:
        return len(self.own) + len(self.team)


def idle_open_deals(*, org: Organization, now: datetime, stale_days: int) -> list[IdleDeal]:
    """The org's open deals with no activity or stage change for `stale_days` days, most idle first.

    One query (served by the index deal_org_status_activity), whatever the number of deals."""
    idle_since = now - timedelta(days=stale_days)
    rows = (
        Deal.objects.for_org(org)
        .open()
        .filter(last_activity_at__lte=idle_since)
        .select_related("account", "stage", "owner")
        .only(
            "id",
            "name",
            "owner_id",
            "last_activity_at",
            "account__name",
            "stage__name",
            "owner__email",
            "owner__full_name",
        )
        .order_by("last_activity_at", "id")
    )
    return [
        IdleDeal(
            id=d.id,
            name=d.name,
            account=d.account.name,
            stage=d.stage.name,
            owner_id=d.owner_id,
            owner_name=d.owner.display_name,
            days_idle=(now - d.last_activity_at).days,
        )
        for d in rows
    ]


def stale_deal_digests(*, org: Organization, now: datetime, stale_days: int) -> list[StaleDealDigest]:
    """Who gets which idle deals: every active member their own, every manager (or admin with reports)
    the deals of everyone reporting to them, directly or not. People with nothing idle get nothing.

    Two queries whatever the number of members and deals: the idle deals, then the memberships; the
    grouping happens in Python."""
    deals = idle_open_deals(org=org, now=now, stale_days=stale_days)
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
    by_owner: dict[int, list[IdleDeal]] = {}
    for deal in deals:
        by_owner.setdefault(deal.owner_id, []).append(deal)
    digests = []
    for m in members:
        if not (m.is_active and m.user.is_active and m.user.email):
            continue
        own = by_owner.get(m.user_id, [])
        team: list[IdleDeal] = []
        if m.is_manager:
            reports = report_user_ids(rows, m.id) - {m.user_id}
            team = sorted(
                (d for owner_id in reports for d in by_owner.get(owner_id, [])),
                key=lambda d: (d.owner_name.lower(), -d.days_idle, d.id),
            )
        if own or team:
            digests.append(
                StaleDealDigest(
                    recipient_id=m.user_id,
                    email=m.user.email,
                    name=m.user.display_name,
                    own=sorted(own, key=lambda d: (-d.days_idle, d.id)),
                    team=team,
                )
            )
    return digests
