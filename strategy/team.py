"""The manager's team page: per member of the team (the manager and everyone reporting to them), their
open deals and pipeline, their flagged stalls by level, the progress of their deals' plans, and the
last coaching comment on their deals; sortable, with each member's open deals listed worst stall first.

Reads only, set-based: a fixed number of queries whatever the size of the team or its pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db.models import Case, Count, F, IntegerField, Max, Q, Sum, Value, When, Window
from django.db.models.functions import Coalesce, RowNumber

from deals.models import Deal, DealStatus, DealStep
from iteration.models import StallFlag
from orgs.models import Membership
from orgs.selectors import team_user_ids
from strategy.models import DealComment

LEVEL_RANK = {"red_flag": 3, "warning": 2, "advice": 1}
SORTS = {
    "name": lambda r: (r.name.lower(),),
    "deals": lambda r: (-r.open_deals, r.name.lower()),
    "pipeline": lambda r: (-r.pipeline, r.name.lower()),
    "stalls": lambda r: (-r.red_flags, -r.warnings, -r.advice, r.name.lower()),
    "plan": lambda r: (r.plan_progress if r.plan_progress is not None else 2, r.name.lower()),
    "coached": lambda r: (r.last_comment.created_at.timestamp() if r.last_comment else 0, r.name.lower()),
}
DEALS_PER_MEMBER = 25


@dataclass
class TeamRow:
    membership: Membership
    name: str
    open_deals: int = 0
    pipeline: Decimal = Decimal("0")
    red_flags: int = 0
    warnings: int = 0
    advice: int = 0
    steps_done: int = 0
    steps_total: int = 0
    last_comment: DealComment | None = None
    deals: list[Deal] = field(default_factory=list)

    @property
    def plan_progress(self) -> float | None:
        return self.steps_done / self.steps_total if self.steps_total else None


def team_overview(*, manager: Membership, sort: str = "stalls", today: date | None = None) -> list[TeamRow]:
    """The manager's team, one row per active member (see the module docstring). Seven queries:
    members, deals per owner, stall flags per owner and level, plan steps per owner, the last coaching
    comment ids, those comments, and the ranked deals."""
    org_id = manager.organization_id
    user_ids = team_user_ids(manager)
    members = list(
        Membership.objects.filter(organization_id=org_id, user_id__in=user_ids, is_active=True)
        .select_related("user")
        .order_by("user__full_name", "user__email")
    )
    rows = {m.user_id: TeamRow(membership=m, name=m.user.display_name) for m in members}
    open_deals = Deal.objects.filter(organization_id=org_id, status=DealStatus.OPEN, owner_id__in=rows)
    for r in open_deals.values("owner_id").annotate(n=Count("id"), total=Sum("amount")).order_by():
        rows[r["owner_id"]].open_deals, rows[r["owner_id"]].pipeline = r["n"], r["total"] or Decimal("0")
    today = today or date.today()
    active_flags = Q(snoozed_until__isnull=True) | Q(snoozed_until__lt=today)
    flags = (
        StallFlag.objects.filter(organization_id=org_id, deal__in=open_deals)
        .filter(active_flags)
        .values("deal__owner_id", "level")
        .annotate(n=Count("id"))
        .order_by()
    )
    for r in flags:
        row = rows[r["deal__owner_id"]]
        attr = {"red_flag": "red_flags", "warning": "warnings", "advice": "advice"}.get(r["level"])
        if attr:
            setattr(row, attr, getattr(row, attr) + r["n"])
    steps = (
        DealStep.objects.filter(organization_id=org_id, deal__in=open_deals)
        .values("deal__owner_id")
        .annotate(total=Count("id"), done=Count("id", filter=Q(completed_at__isnull=False)))
        .order_by()
    )
    for r in steps:
        rows[r["deal__owner_id"]].steps_total, rows[r["deal__owner_id"]].steps_done = r["total"], r["done"]
    # The last coaching comment per owner: the newest ids per owner, in one query.
    latest_ids = (
        DealComment.objects.filter(organization_id=org_id, is_coaching=True, deal__owner_id__in=rows)
        .values("deal__owner_id")
        .annotate(last=Max("id"))
        .order_by()
    )
    comment_ids = [r["last"] for r in latest_ids]
    for comment in DealComment.objects.filter(id__in=comment_ids).select_related("deal", "author"):
        rows[comment.deal.owner_id].last_comment = comment
    # Each member's open deals, worst active stall first, then longest in their stage: at most
    # DEALS_PER_MEMBER each, numbered per owner by a window function in the same query.
    rank = Case(
        *(When(stall_flags__level=level, then=Value(n)) for level, n in LEVEL_RANK.items()),
        default=Value(0),
        output_field=IntegerField(),
    )
    active_join = Q(stall_flags__snoozed_until__isnull=True) | Q(stall_flags__snoozed_until__lt=today)
    ranked = (
        open_deals.annotate(worst_stall=Coalesce(Max(rank, filter=active_join), Value(0)))
        .annotate(
            place=Window(
                RowNumber(),
                partition_by=[F("owner_id")],
                order_by=[F("worst_stall").desc(), F("stage_entered_at").asc(), F("id").asc()],
            )
        )
        .filter(place__lte=DEALS_PER_MEMBER)
        .select_related("stage", "account")
        .order_by("owner_id", "place")
    )
    for deal in ranked:
        rows[deal.owner_id].deals.append(deal)
    out = list(rows.values())
    out.sort(key=SORTS.get(sort, SORTS["stalls"]))
    return out
