"""The metrics engine against a plain-Python reading of DESIGN.md's definitions, on random histories.

The reference below walks each deal's StageChange rows in order, as the definitions are written, with
none of the engine's shortcuts (the forward-only fast path, Kaplan–Meier by segments, percentiles in
SQL). Random histories skip stages, move back, re-enter, close anywhere or stay open, have entries at
the same instant and microsecond times, and span two process versions; every number must match
exactly, on SQLite and on PostgreSQL."""

import random
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest

from deals.models import Deal, DealStatus, StageChange
from iteration import stats
from iteration.metrics import MetricFilters, process_metrics
from salesproc.services import process_import
from tests.factories import MembershipFactory
from tests.fixtures import SIMPLE_PROCESS

T0 = datetime(2025, 3, 1, tzinfo=UTC)
NOW = T0 + timedelta(days=200)
US_PER_DAY = 86_400_000_000
INDUSTRIES = ["Retail", "Banking", ""]


def micros(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def generate(rng: random.Random, *, org, process, account, owners, versions, deals: int) -> None:
    """Random histories that keep the rules the deal services keep (a chained log, from-stages, the
    deal's stage and times)."""
    stages = list(process.stages.order_by("order"))
    for n in range(deals):
        k = 0 if rng.random() < 0.8 else rng.randrange(len(stages))
        t = T0 + timedelta(seconds=rng.randrange(0, 150 * 86_400), microseconds=rng.randrange(1_000_000))
        path = [(k, t)]
        outcome = None
        for _ in range(rng.randrange(0, 7)):
            # Now and then a move at the very same instant (a zero stay).
            if rng.random() > 0.1:
                t += timedelta(seconds=rng.randrange(1, 20 * 86_400), microseconds=rng.randrange(1000))
            r = rng.random()
            if r < 0.15:
                outcome = ("won", t)
                break
            if r < 0.3:
                outcome = ("lost", t)
                break
            choices = [i for i in range(len(stages)) if i != path[-1][0]]
            k = rng.choice(choices) if rng.random() < 0.35 else min(path[-1][0] + 1, len(stages) - 1)
            if k == path[-1][0]:
                outcome = ("won", t)
                break
            path.append((k, t))
        status, closed = (outcome[0], outcome[1]) if outcome else (DealStatus.OPEN, None)
        last_k, last_t = path[-1]
        deal = Deal.objects.create(
            organization=org,
            name=f"Random {n}",
            account=account,
            owner_id=rng.choice(owners).user_id,
            process=process,
            stage=stages[last_k],
            status=status,
            amount=Decimal(rng.randrange(100, 5_000_000)) / 100,
            industry=rng.choice(INDUSTRIES),
            closed_at=closed,
            created_at=path[0][1] - timedelta(hours=rng.randrange(0, 100)),
            stage_entered_at=last_t,
            last_activity_at=closed or (last_t + (NOW - last_t) * rng.random()),
        )
        StageChange.objects.bulk_create(
            StageChange(
                organization=org,
                deal=deal,
                from_stage=stages[path[i - 1][0]] if i else None,
                to_stage=stages[k],
                entered_at=t,
                left_at=path[i + 1][1] if i + 1 < len(path) else closed,
                process_version=rng.choice(versions),
            )
            for i, (k, t) in enumerate(path)
        )


def reference(*, process, filters: MetricFilters, now: datetime) -> dict:
    """The definitions, deal by deal."""
    stages = list(process.stages.order_by("order"))
    index = {s.id: i for i, s in enumerate(stages)}
    idle_us = process.organization.idle_days * US_PER_DAY
    owner_users = None
    if filters.owner_ids is not None:
        owner_users = set(
            process.organization.memberships.filter(id__in=filters.owner_ids).values_list(
                "user_id", flat=True
            )
        )
    version_id = None
    if filters.process_version is not None:
        version_id = (
            process.versions.filter(number=filters.process_version).values_list("id", flat=True).first()
        )

    def in_cohort(entry) -> bool:
        if filters.entered_from and entry.entered_at < filters.entered_from:
            return False
        if filters.entered_to and entry.entered_at >= filters.entered_to:
            return False
        return filters.process_version is None or entry.process_version_id == version_id

    per_stage = [
        {"entered": 0, "advanced": 0, "dropped": 0, "won": 0, "lost": 0, "stays": [], "observations": [],
         "advanced_stays": [], "open_here": []}
        for _ in stages
    ]  # fmt: skip
    first_stage_reach: list = []
    summary_deals = []
    for deal in Deal.objects.filter(process=process).order_by("id"):
        if filters.industry is not None and deal.industry != filters.industry:
            continue
        if filters.amount_min is not None and deal.amount < Decimal(filters.amount_min):
            continue
        if filters.amount_max is not None and deal.amount > Decimal(filters.amount_max):
            continue
        if owner_users is not None and deal.owner_id not in owner_users:
            continue
        entries = list(StageChange.objects.filter(deal=deal).order_by("entered_at", "id"))
        if in_cohort(entries[0]):
            summary_deals.append(deal)
        reach = max(index[e.to_stage_id] for e in entries)
        for k in range(len(stages)):
            positions = [p for p, e in enumerate(entries) if index[e.to_stage_id] == k]
            if not positions or not in_cohort(entries[positions[0]]):
                continue
            first = entries[positions[0]]
            row = per_stage[k]
            row["entered"] += 1
            advanced = deal.status == "won" or any(
                index[e.to_stage_id] > k for e in entries[positions[0] + 1 :]
            )
            row["advanced"] += advanced
            row["dropped"] += not advanced and deal.status == "lost"
            row["won"] += deal.status == "won"
            row["lost"] += deal.status == "lost"
            if first.left_at is not None:
                stay = micros(first.left_at - first.entered_at)
                row["stays"].append(stay)
                row["observations"].append((stay, True))
                if advanced:
                    row["advanced_stays"].append(stay)
            else:
                row["observations"].append((micros(now - first.entered_at), False))
            if deal.status == "open" and index[deal.stage_id] == k:
                row["open_here"].append(deal)
            if k == 0:
                first_stage_reach.append(len(stages) if deal.status == "won" else reach)

    def days(us):
        return None if us is None else round(us / US_PER_DAY, 2)

    def rate(a, b):
        return round(a / b, 4) if b else None

    out_stages = []
    for k, stage in enumerate(stages):
        row = per_stage[k]
        if stage.expected_days is not None:
            threshold, source = stage.expected_days * US_PER_DAY, "expected_days"
        elif len(row["advanced_stays"]) >= 10:
            threshold, source = stats.percentile_cont(row["advanced_stays"], 0.75), "p75"
        else:
            threshold, source = None, None
        stalled = sum(
            1
            for deal in row["open_here"]
            if (threshold is not None and micros(now - deal.stage_entered_at) > threshold)
            or (
                micros(now - deal.last_activity_at) > idle_us
                and micros(now - deal.stage_entered_at) > idle_us
            )
        )
        decided = row["advanced"] + row["dropped"]
        ci = stats.wilson_interval(row["advanced"], decided)
        out_stages.append(
            {
                "stage": stage.name,
                "stage_id": stage.id,
                "order": stage.order,
                "phase": stage.phase,
                "entered": row["entered"],
                "advanced": row["advanced"],
                "dropped": row["dropped"],
                "open": row["entered"] - row["advanced"] - row["dropped"],
                "conversion_rate": rate(row["advanced"], decided),
                "conversion_ci": [round(ci[0], 4), round(ci[1], 4)] if ci else None,
                "cumulative_conversion": rate(sum(r >= k for r in first_stage_reach), len(first_stage_reach)),
                "win_rate": rate(row["won"], row["won"] + row["lost"]),
                "won": row["won"],
                "lost": row["lost"],
                "days_in_stage": {
                    "median": days(stats.percentile_cont(row["stays"], 0.5)),
                    "p75": days(stats.percentile_cont(row["stays"], 0.75)),
                    "p90": days(stats.percentile_cont(row["stays"], 0.9)),
                    "km_median": days(stats.kaplan_meier_median(row["observations"])),
                    "p10": days(stats.percentile_cont(row["stays"], 0.1)),
                    "p25": days(stats.percentile_cont(row["stays"], 0.25)),
                    "min": days(min(row["stays"])) if row["stays"] else None,
                    "max": days(max(row["stays"])) if row["stays"] else None,
                    "n": len(row["stays"]),
                },
                "stalled": stalled,
                "threshold_days": days(threshold),
                "threshold_source": source,
            }
        )

    won = [d for d in summary_deals if d.status == "won"]
    lost = [d for d in summary_deals if d.status == "lost"]
    open_ = [d for d in summary_deals if d.status == "open"]
    cycles = [micros(d.closed_at - d.created_at) for d in won]
    win_rate = len(won) / (len(won) + len(lost)) if won or lost else None
    average = sum(d.amount for d in won) / len(won) if won else None
    mean_cycle = sum(cycles) / len(won) if won else None
    weighted = sum((d.amount * d.stage.probability for d in open_), Decimal(0)) / 100
    velocity = None
    if average is not None and win_rate is not None and mean_cycle:
        velocity = round(len(open_) * float(average) * win_rate / (mean_cycle / US_PER_DAY), 2)
    cent = Decimal("0.01")
    return {
        "stages": out_stages,
        "summary": {
            "deals": len(summary_deals),
            "open": len(open_),
            "won": len(won),
            "lost": len(lost),
            "win_rate": None if win_rate is None else round(win_rate, 4),
            "sales_cycle_days": {
                "median": days(stats.percentile_cont(cycles, 0.5)),
                "mean": days(mean_cycle),
            },
            "average_won_amount": None if average is None else float(average.quantize(cent, ROUND_HALF_UP)),
            "sales_velocity": velocity,
            "weighted_pipeline": float(weighted.quantize(cent, ROUND_HALF_UP)),
        },
    }


@pytest.fixture
def random_world(org, process, account):
    _, v2 = process_import(
        org=org,
        data={**SIMPLE_PROCESS, "stages": [{**s, "probability": 30} for s in SIMPLE_PROCESS["stages"]]},
        by=None,
    )
    owners = [MembershipFactory(organization=org) for _ in range(3)]
    return {"owners": owners, "versions": [process.versions.get(number=1), v2]}


FILTERS = [
    lambda w: MetricFilters(),
    lambda w: MetricFilters(entered_from=T0 + timedelta(days=40), entered_to=T0 + timedelta(days=120)),
    lambda w: MetricFilters(process_version=2),
    lambda w: MetricFilters(owner_ids=[w["owners"][0].id, w["owners"][2].id], industry="Retail"),
    lambda w: MetricFilters(amount_min=Decimal("5000"), amount_max=Decimal("30000.50")),
]


@pytest.mark.parametrize("seed", range(6))
def test_engine_matches_the_definitions_on_random_histories(seed, org, process, account, random_world):
    rng = random.Random(seed)
    generate(
        rng,
        org=org,
        process=process,
        account=account,
        owners=random_world["owners"],
        versions=random_world["versions"],
        deals=60 + 25 * seed,
    )
    for make_filters in FILTERS:
        filters = make_filters(random_world)
        expected = reference(process=process, filters=filters, now=NOW)
        result = process_metrics(process=process, filters=filters, now=NOW)
        for got, want in zip(result["stages"], expected["stages"], strict=True):
            assert got == want, f"seed {seed}, {filters}, stage {want['stage']}"
        assert result["summary"] == expected["summary"], f"seed {seed}, {filters}"


def test_random_histories_cover_the_cases_that_matter(org, process, account, random_world):
    # Guards the generator: back-moves, re-entries, same-instant entries and open deals all occur.
    generate(
        random.Random(0),
        org=org,
        process=process,
        account=account,
        owners=random_world["owners"],
        versions=random_world["versions"],
        deals=60,
    )
    back = reentry = same_instant = 0
    for deal in Deal.objects.filter(process=process):
        entries = list(StageChange.objects.filter(deal=deal).order_by("entered_at", "id"))
        orders = [e.to_stage.order for e in entries]
        back += any(b < a for a, b in zip(orders, orders[1:], strict=False))
        reentry += len(set(orders)) < len(orders)
        same_instant += any(a.entered_at == b.entered_at for a, b in zip(entries, entries[1:], strict=False))
    assert back and reentry and same_instant
    assert Deal.objects.filter(process=process, status="open").exists()
