"""Reads of the journey: which phase a deal is in and what it asks for, a won deal's value plan, the
deal's expansion links, and an account's confirmed value over time. Each costs a fixed number of
queries, however many stakeholders, conversations or deals there are."""

from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Q

from deals.models import Account, Deal, DealStakeholder, DealStatus
from journey.models import DealLink, ValueConfirmation
from salesproc.models import PHASE_QUESTIONS, Phase

# What each phase of the customer's journey asks of the deal team, in words.
PHASE_GUIDANCE = {
    Phase.CHANGE: "The customer sees why they should change now, and which result they want from it.",
    Phase.DECISION: "How they decide and who decides: the stakeholders, their criteria and the business case.",
    Phase.VALUE: "After the win: the value each stakeholder confirms, in their own metrics — and what comes next.",
}

# How many held conversations the account page shows.
ACCOUNT_TIMELINE_ROWS = 50


@dataclass
class JourneyPhase:
    value: str
    label: str
    question: str
    guidance: str
    state: str  # done, current, ahead


def deal_phase(deal: Deal) -> str:
    """The phase the deal is in: its stage's, or `value` once it is won."""
    if deal.status == DealStatus.WON:
        return Phase.VALUE
    return deal.stage.phase


def deal_journey(deal: Deal) -> list[JourneyPhase]:
    """The three phases with where the deal stands (no query when the deal's stage is loaded)."""
    current = deal_phase(deal)
    order = [p.value for p in Phase]
    at = order.index(current)
    return [
        JourneyPhase(
            value=p.value,
            label=p.label,
            question=PHASE_QUESTIONS[p],
            guidance=PHASE_GUIDANCE[p],
            state="done" if i < at else "current" if i == at else "ahead",
        )
        for i, p in enumerate(Phase)
    ]


@dataclass
class ValuePlanRow:
    stakeholder: DealStakeholder
    # The conversation still to hold with them, else the last one held; None before the plan.
    confirmation: ValueConfirmation | None
    expansion: Deal | None = None
    # The conversations held before `confirmation`, newest first (each with its `expansion`).
    earlier: list[ValueConfirmation] = field(default_factory=list)

    @property
    def can_follow_up(self) -> bool:
        """The last conversation was held and none is planned: a follow-up may be planned."""
        return self.confirmation is not None and self.confirmation.is_held


@dataclass
class DealLinks:
    expansions: list[DealLink] = field(default_factory=list)
    origins: list[DealLink] = field(default_factory=list)


def deal_links(deal: Deal) -> DealLinks:
    """The deal's expansion deals and the deals it expands: one query."""
    out = DealLinks()
    links = (
        DealLink.objects.filter(organization_id=deal.organization_id)
        .filter(Q(from_deal=deal) | Q(to_deal=deal))
        .select_related("from_deal", "to_deal")
        .order_by("created_at", "id")
    )
    for link in links:
        (out.expansions if link.from_deal_id == deal.id else out.origins).append(link)
    return out


def deal_value_plan(deal: Deal, links: DealLinks) -> list[ValuePlanRow]:
    """One row per stakeholder of the deal with its current conversation, the ones held before it,
    and the expansion deal opened from each: two queries (the stakeholders with their contacts, the
    conversations)."""
    stakeholders = list(
        DealStakeholder.objects.filter(deal=deal).select_related("contact").order_by("-influence", "id")
    )
    by_confirmation = {
        link.confirmation_id: link.to_deal for link in links.expansions if link.confirmation_id
    }
    per_stakeholder: dict[int, list[ValueConfirmation]] = {}
    for c in ValueConfirmation.objects.filter(deal=deal):
        c.expansion = by_confirmation.get(c.id)
        per_stakeholder.setdefault(c.stakeholder_id, []).append(c)
    rows = []
    for s in stakeholders:
        # Held ones in the order they were held, then the one still to hold.
        conversations = sorted(
            per_stakeholder.get(s.id, []), key=lambda c: (c.held_at is None, c.held_at or c.planned_for, c.id)
        )
        current = conversations[-1] if conversations else None
        rows.append(
            ValuePlanRow(
                s,
                current,
                current.expansion if current else None,
                earlier=conversations[-2::-1],
            )
        )
    return rows


@dataclass
class MetricSeries:
    name: str
    points: list[tuple]  # (held_at, value)
    svg_points: str = ""
    low: Decimal | None = None
    high: Decimal | None = None


@dataclass
class AccountValue:
    confirmations: list[ValueConfirmation]
    metrics: list[MetricSeries]


SVG_WIDTH, SVG_HEIGHT, SVG_PAD = 320, 90, 8


def _series(confirmations: list[ValueConfirmation]) -> list[MetricSeries]:
    by_name: dict[str, list[tuple]] = {}
    for c in confirmations:
        if c.metric_name and c.metric_value is not None:
            by_name.setdefault(c.metric_name, []).append((c.held_at, c.metric_value))
    out = []
    for name, points in sorted(by_name.items()):
        points.sort(key=lambda p: p[0])
        low = min(v for _, v in points)
        high = max(v for _, v in points)
        first, last = points[0][0], points[-1][0]
        span_days = max((last - first).days, 1)
        span_value = (high - low) or Decimal(1)
        coords = []
        for when, value in points:
            x = SVG_PAD + (SVG_WIDTH - 2 * SVG_PAD) * (
                (when - first).days / span_days if len(points) > 1 else 0.5
            )
            y = SVG_HEIGHT - SVG_PAD - (SVG_HEIGHT - 2 * SVG_PAD) * float((value - low) / span_value)
            coords.append(f"{x:.1f},{y:.1f}")
        out.append(MetricSeries(name=name, points=points, svg_points=" ".join(coords), low=low, high=high))
    return out


def account_confirmed_value(account: Account) -> AccountValue:
    """The held value conversations of the account's deals, newest first (at most
    ACCOUNT_TIMELINE_ROWS), and their metrics over time: one query."""
    confirmations = list(
        ValueConfirmation.objects.filter(
            organization_id=account.organization_id, deal__account=account, held_at__isnull=False
        )
        .select_related("deal", "stakeholder__contact")
        .order_by("-held_at", "-id")[:ACCOUNT_TIMELINE_ROWS]
    )
    return AccountValue(confirmations=confirmations, metrics=_series(confirmations))
