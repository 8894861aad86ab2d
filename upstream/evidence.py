"""The evidence behind a recurring-step promotion: how many deals, what they share, how they ended
against similar deals without the step. Computed by the nightly job (upstream.recurrence_run) from
rows it reads in a fixed number of set-based queries per organization (the loaders below); the
evidence itself is plain Python over those rows.

Definitions (docs/upstream.md, "Recurring steps", says the same for readers of the review page):
- **deals / steps**: the group's distinct deals and its custom steps.
- **outcomes**: the group's deals by status; **win rate** = won / (won + lost), with its 95% Wilson
  interval (iteration.stats); none when none of them is closed.
- **baseline**: the closed deals (won or lost, closed within the look-back window) of the group's
  process(es) that have no step of the group. When the group shares a deal fact the prefilled condition
  would use (industry, a competitor, an objection; the most shared one, ties in that order), the
  baseline keeps only the deals with that fact, and its label says so.
- **difference** = win rate − baseline win rate, with Newcombe's hybrid score interval (built from the
  two Wilson intervals) and the pooled two-proportion z-test p-value (iteration.stats).
- **small_sample**: either side has fewer than SMALL_SAMPLE closed deals.
- **shared facts**: a deal fact (industry, competitor, objection, stakeholder role) held by at least
  SHARED_SHARE of the group's deals, with its count and share, and its share among the baseline deals
  (before the restriction). It is **distinctive** when the group's share exceeds the baseline's by at
  least DISTINCTIVE_LIFT (or there is no baseline): "has a champion" shared by 80% of the group and 75%
  of all deals says nothing about the step.
- **stage**: the stage each deal was in when its first step of the group was written (its stage entry
  log, StageChange); the most common one, when at least SHARED_SHARE of the deals share it.
- **condition**: the distinctive industry, competitors and objections, plus the dominant stage, through
  upstream.facts.condition_from_facts (the playbooks condition language, validated by `parse`).
- **target**: an exit criterion of the dominant stage when every deal wrote the step in that stage and
  no fact is distinctive (the step belongs to the stage, for everyone); otherwise a play.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Count, QuerySet

from deals.models import Deal, DealStakeholder, DealStatus, DealTag, StageChange, StakeholderRole, TagKind
from iteration.stats import two_proportion_p_value, wilson_interval
from salesproc.models import Stage
from upstream.facts import condition_from_facts
from upstream.models import PromotionTarget

# A fact (or a stage) is shared when at least this share of the group's deals has it.
SHARED_SHARE = 0.6
# A shared fact is distinctive when its share in the group exceeds the baseline's by at least this.
DISTINCTIVE_LIFT = 0.2
# Fewer closed deals than this on either side: the comparison is marked small_sample.
SMALL_SAMPLE = 10
# Up to this many distinct titles in the evidence.
TITLES_SHOWN = 5

# The facts the evidence looks at, in order: (field, label). The first three can restrict the baseline
# and prefill the condition; stakeholder roles are shown only (upstream.facts says why).
FACT_FIELDS = (
    ("industry", "Industry"),
    ("competitors", "Competitor"),
    ("objections", "Objection"),
    ("stakeholder_roles", "Stakeholder role"),
)
CONDITION_FACTS = ("industry", "competitors", "objections")
_TAG_FIELD = {TagKind.COMPETITOR: "competitors", TagKind.OBJECTION: "objections"}
_ROLE_LABELS = dict(StakeholderRole.choices)


# Loading (set-based: a fixed number of queries per organization) -------------------------------------


@dataclass
class DealFacts:
    """What the evidence needs of one deal that has custom steps."""

    id: int
    process_id: int
    status: str
    closed_at: datetime | None
    facts: dict[str, set[str]] = field(default_factory=dict)
    # (entered_at, stage id) of its stage entries, in time order.
    entries: list[tuple[datetime, int]] = field(default_factory=list)

    def stage_at(self, moment: datetime) -> int | None:
        """The stage the deal was in at `moment`: its last entry at or before it (None before the first)."""
        position = bisect.bisect_right(self.entries, (moment, math.inf))
        return self.entries[position - 1][1] if position else None


def load_deal_facts(deals: QuerySet) -> dict[int, DealFacts]:
    """The facts and stage entries of the deals of `deals` (a Deal queryset, used as a subquery): four
    queries whatever their number."""
    out = {
        row["id"]: DealFacts(
            id=row["id"],
            process_id=row["process_id"],
            status=row["status"],
            closed_at=row["closed_at"],
            facts={"industry": {row["industry"].strip()} if row["industry"].strip() else set()},
        )
        for row in deals.values("id", "process_id", "status", "closed_at", "industry")
    }
    ids = deals.values("id")
    for d in out.values():
        d.facts.update(competitors=set(), objections=set(), stakeholder_roles=set())
    for deal_id, kind, value in DealTag.objects.filter(deal_id__in=ids).values_list(
        "deal_id", "kind", "value"
    ):
        if deal_id in out and kind in _TAG_FIELD:
            out[deal_id].facts[_TAG_FIELD[kind]].add(value)
    roles = (
        DealStakeholder.objects.filter(deal_id__in=ids).values_list("deal_id", "role").order_by().distinct()
    )
    for deal_id, role in roles:
        if deal_id in out:
            out[deal_id].facts["stakeholder_roles"].add(role)
    entries = (
        StageChange.objects.filter(deal_id__in=ids)
        .order_by("deal_id", "entered_at", "id")
        .values_list("deal_id", "entered_at", "to_stage_id")
    )
    for deal_id, entered_at, stage_id in entries:
        if deal_id in out:
            out[deal_id].entries.append((entered_at, stage_id))
    return out


@dataclass
class Population:
    """The closed deals of an organization closed since a date, counted by process and status, overall
    and per fact value: what baselines are cut from."""

    since: datetime | None = None
    totals: Counter = field(default_factory=Counter)  # (process_id, status) → deals
    with_fact: Counter = field(default_factory=Counter)  # (process_id, status, field, value) → deals


def load_population(*, organization, since: datetime) -> Population:
    """Three aggregate queries, whatever the number of deals."""
    closed = Deal.objects.filter(
        organization=organization, status__in=[DealStatus.WON, DealStatus.LOST], closed_at__gte=since
    )
    population = Population(since=since)
    for row in closed.values("process_id", "status", "industry").annotate(n=Count("id")).order_by():
        population.totals[(row["process_id"], row["status"])] += row["n"]
        if row["industry"].strip():
            key = (row["process_id"], row["status"], "industry", row["industry"].strip())
            population.with_fact[key] += row["n"]
    tags = (
        DealTag.objects.filter(deal__in=closed, kind__in=list(_TAG_FIELD))
        .values("deal__process_id", "deal__status", "kind", "value")
        .annotate(n=Count("deal_id", distinct=True))
        .order_by()
    )
    for row in tags:
        key = (row["deal__process_id"], row["deal__status"], _TAG_FIELD[row["kind"]], row["value"])
        population.with_fact[key] += row["n"]
    roles = (
        DealStakeholder.objects.filter(deal__in=closed)
        .values("deal__process_id", "deal__status", "role")
        .annotate(n=Count("deal_id", distinct=True))
        .order_by()
    )
    for row in roles:
        key = (row["deal__process_id"], row["deal__status"], "stakeholder_roles", row["role"])
        population.with_fact[key] += row["n"]
    return population


def load_stages(*, organization) -> dict[int, str]:
    """Stage id → name, for the organization."""
    return dict(Stage.objects.filter(organization=organization).values_list("id", "name"))


# Statistics -------------------------------------------------------------------------------------------


def difference_interval(
    won_a: int, n_a: int, won_b: int, n_b: int, *, confidence: float = 0.95
) -> tuple[float, float] | None:
    """Newcombe's hybrid score interval for p_a − p_b (his method 10), from the two Wilson intervals:
    well behaved at small samples and at 0% or 100%, where the Wald interval is not. None when either
    side is empty."""
    ci_a = wilson_interval(won_a, n_a, confidence=confidence)
    ci_b = wilson_interval(won_b, n_b, confidence=confidence)
    if ci_a is None or ci_b is None:
        return None
    p_a, p_b = won_a / n_a, won_b / n_b
    d = p_a - p_b
    low = d - math.sqrt((p_a - ci_a[0]) ** 2 + (ci_b[1] - p_b) ** 2)
    high = d + math.sqrt((ci_a[1] - p_a) ** 2 + (p_b - ci_b[0]) ** 2)
    return max(-1.0, low), min(1.0, high)


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _ci(interval: tuple[float, float] | None) -> list[float] | None:
    return None if interval is None else [round(interval[0], 4), round(interval[1], 4)]


def _rate(won: int, lost: int) -> tuple[float | None, list[float] | None]:
    closed = won + lost
    return (_r(won / closed), _ci(wilson_interval(won, closed))) if closed else (None, None)


# One group --------------------------------------------------------------------------------------------


@dataclass
class GroupEvidence:
    """What the job writes on a promotion besides the title and the step links."""

    evidence: dict[str, Any]
    process_id: int | None
    stage_id: int | None
    condition: dict
    target: str


def group_evidence(
    *,
    titles: list[tuple[str, int]],
    steps: list[tuple[int, datetime]],
    deals: dict[int, DealFacts],
    population: Population,
    stages: dict[int, str],
) -> GroupEvidence:
    """The evidence of one group: `titles` ranked with their counts (upstream.recurrence.rank_titles),
    `steps` as (deal id, created_at), `deals` the loaded facts of (at least) those deals."""
    first_step: dict[int, datetime] = {}
    for deal_id, created_at in steps:
        if deal_id not in first_step or created_at < first_step[deal_id]:
            first_step[deal_id] = created_at
    group = [deals[d] for d in sorted(first_step) if d in deals]
    n = len(group)
    outcomes = Counter(d.status for d in group)
    won, lost = outcomes[DealStatus.WON], outcomes[DealStatus.LOST]
    win_rate, win_rate_ci = _rate(won, lost)
    process_counts = Counter(d.process_id for d in group)
    processes = sorted(process_counts)
    process_id = min(process_counts, key=lambda p: (-process_counts[p], p)) if process_counts else None

    # What the group's closed deals that also count in the population (closed within the window) add
    # to it: the baseline is the population without them.
    since_population = {d.id for d in group if d.status != DealStatus.OPEN and _in_population(d, population)}

    def population_count(status: str, fact: tuple[str, str] | None) -> int:
        total = 0
        for p in processes:
            if fact is None:
                total += population.totals[(p, status)]
            else:
                total += population.with_fact[(p, status, fact[0], fact[1])]
        inside = sum(
            1
            for d in group
            if d.id in since_population
            and d.status == status
            and (fact is None or fact[1] in d.facts.get(fact[0], ()))
        )
        return max(0, total - inside)

    base_won = population_count(DealStatus.WON, None)
    base_lost = population_count(DealStatus.LOST, None)
    base_closed = base_won + base_lost

    shared: list[dict[str, Any]] = []
    for name, label in FACT_FIELDS:
        counts = Counter(value for d in group for value in d.facts.get(name, ()))
        for value, count in sorted(counts.items(), key=lambda vc: (-vc[1], vc[0])):
            share = count / n
            if share < SHARED_SHARE:
                continue
            in_base = population_count(DealStatus.WON, (name, value)) + population_count(
                DealStatus.LOST, (name, value)
            )
            base_share = in_base / base_closed if base_closed else None
            shared.append(
                {
                    "field": name,
                    "label": label,
                    "value": value,
                    "display": _ROLE_LABELS.get(value, value) if name == "stakeholder_roles" else value,
                    "deals": count,
                    "share": _r(share),
                    "baseline_share": _r(base_share),
                    "distinctive": base_share is None or share - base_share >= DISTINCTIVE_LIFT,
                }
            )

    restrict = next(
        (f for f in sorted(shared, key=lambda f: -f["deals"]) if f["field"] in CONDITION_FACTS), None
    )
    label = "closed deals of the same process without the step"
    if len(processes) > 1:
        label = "closed deals of the same processes without the step"
    if restrict is not None:
        fact = (restrict["field"], restrict["value"])
        base_won = population_count(DealStatus.WON, fact)
        base_lost = population_count(DealStatus.LOST, fact)
        label += f", {restrict['label'].lower()} {restrict['display']}"
    base_rate, base_ci = _rate(base_won, base_lost)

    stage_counts = Counter(stage for d in group if (stage := d.stage_at(first_step[d.id])) is not None)
    stage = None
    if stage_counts:
        stage_id, stage_deals = min(stage_counts.items(), key=lambda sc: (-sc[1], sc[0]))
        if stage_deals / n >= SHARED_SHARE:
            stage = {
                "id": stage_id,
                "name": stages.get(stage_id, ""),
                "deals": stage_deals,
                "share": _r(stage_deals / n),
            }

    distinctive = [f for f in shared if f["distinctive"] and f["field"] in CONDITION_FACTS]
    facts_for_condition: dict[str, Any] = {}
    for f in distinctive:
        if f["field"] == "industry":
            facts_for_condition.setdefault("industry", f["value"])
        else:
            facts_for_condition.setdefault(f["field"], []).append(f["value"])
    if stage is not None:
        facts_for_condition["stage"] = stage["id"]
    condition = condition_from_facts(facts_for_condition)
    every_deal_in_stage = stage is not None and stage["deals"] == n
    target = (
        PromotionTarget.CRITERION
        if every_deal_in_stage and not any(f["distinctive"] for f in shared)
        else PromotionTarget.PLAY
    )

    closed, base_closed = won + lost, base_won + base_lost
    evidence = {
        "deals": n,
        "steps": len(steps),
        "titles": [title for title, _ in titles[:TITLES_SHOWN]],
        "outcomes": {"won": won, "lost": lost, "open": outcomes[DealStatus.OPEN]},
        "win_rate": win_rate,
        "win_rate_ci": win_rate_ci,
        "baseline": {
            "label": label,
            "deals": base_closed,
            "won": base_won,
            "lost": base_lost,
            "win_rate": base_rate,
            "win_rate_ci": base_ci,
        },
        "difference": _r(won / closed - base_won / base_closed) if closed and base_closed else None,
        "difference_ci": _ci(difference_interval(won, closed, base_won, base_closed)),
        "p_value": _r(two_proportion_p_value(won, closed, base_won, base_closed)),
        "small_sample": closed < SMALL_SAMPLE or base_closed < SMALL_SAMPLE,
        "shared_facts": shared,
        "stage": stage,
    }
    return GroupEvidence(
        evidence=evidence,
        process_id=process_id,
        stage_id=stage["id"] if stage is not None else None,
        condition=condition,
        target=target,
    )


def _in_population(deal: DealFacts, population: Population) -> bool:
    return population.since is None or (deal.closed_at is not None and deal.closed_at >= population.since)
