"""Trends behind the insights page's "by month" and "distribution" views, next to the metrics engine
(iteration.metrics) and with its definitions:

- A deal's **first entry** into stage S is its earliest entry into S, ordered by (entered_at, id).
- It **advanced** from S when, after that entry in the same order, it entered a stage of higher order,
  or it is won; it **dropped** when it did not advance and is lost. Open deals are neither.
- **Conversion by month**: the first entries grouped by S and by the calendar month of `entered_at` (in
  the current time zone, so a user sees months as they live them); per group advanced and dropped, and
  the rate advanced / (advanced + dropped) with its 95% Wilson interval. A month's cohort keeps
  resolving as its open deals advance or drop, so recent months read low on `resolved`, not on rate.
- **Days-in-stage distribution**: over the first entries that have left S (`left_at` set), the stay
  `left_at − entered_at` in days: minimum, p10, q1 (p25), median, q3 (p75), p90, maximum, with
  PostgreSQL's `percentile_cont` interpolation (SQLite: the same formula in Python, as in the engine).
  The median, p75 and p90 equal the engine's `days_in_stage` for the same filters.

Both take the engine's MetricFilters (cohort by entry time or version: on the first entry; deal filters:
owner, industry, amount) and are ONE statement each, whatever the number of deals: the engine's own
statement (iteration.metrics_sql, shapes "months" and "stays"), which finds the first entries and
whether each advanced as the funnel does, then groups them by stage and month, or takes the quantiles
of their stays. Python sees one row per stage and month, or per stage.

`first_entries` gives the same first entries as a queryset, for callers that join them to other rows
(the suggestions' criteria, the plays' effectiveness): correlated NOT EXISTS / EXISTS subqueries, slower
over a whole large process than the engine's statement, but composable.

Numbers: rates are fractions rounded to 4 places, days rounded to 2; `small_sample` is True below
SMALL_SAMPLE deals (resolved deals for a rate, stays for a distribution)."""

from __future__ import annotations

from django.db.models import (
    Case,
    Exists,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.utils import timezone

from deals.models import DealStatus, StageChange
from iteration.metrics import CONFIDENCE, MetricFilters
from iteration.metrics_sql import STAY_QUANTILES, US_PER_DAY, Dialect, metrics_statement
from iteration.stats import wilson_interval
from orgs.models import Membership
from salesproc.models import Process, ProcessVersion, Stage

# Below this many deals a number is shown, but marked as a small sample (the charts fade and hatch it).
SMALL_SAMPLE = 30
# Conversion by month shows at most this many months: the latest ones that have entries.
MONTHS_SHOWN = 24


def _stages(process: Process) -> list[Stage]:
    return list(
        Stage.objects.filter(process=process, organization_id=process.organization_id).order_by("order")
    )


def first_entries(*, process: Process, filters: MetricFilters | None = None) -> QuerySet[StageChange]:
    """Each deal's first entry into each stage of the process, for the deals and cohort `filters` pick
    (see MetricFilters), with `advanced` (1/0) and `dropped` (1/0) annotated. A queryset: callers
    group and aggregate it in the database."""
    filters = filters or MetricFilters()
    earlier = StageChange.objects.filter(
        deal_id=OuterRef("deal_id"), to_stage_id=OuterRef("to_stage_id")
    ).filter(
        Q(entered_at__lt=OuterRef("entered_at")) | Q(entered_at=OuterRef("entered_at"), id__lt=OuterRef("id"))
    )
    later_higher = StageChange.objects.filter(
        deal_id=OuterRef("deal_id"), to_stage__order__gt=OuterRef("to_stage__order")
    ).filter(
        Q(entered_at__gt=OuterRef("entered_at")) | Q(entered_at=OuterRef("entered_at"), id__gt=OuterRef("id"))
    )
    qs = StageChange.objects.filter(
        organization_id=process.organization_id,
        deal__process=process,
        to_stage__process=process,
    ).filter(~Exists(earlier))
    if filters.industry is not None:
        qs = qs.filter(deal__industry=filters.industry)
    if filters.amount_min is not None:
        qs = qs.filter(deal__amount__gte=filters.amount_min)
    if filters.amount_max is not None:
        qs = qs.filter(deal__amount__lte=filters.amount_max)
    if filters.owner_ids is not None:
        owners = Membership.objects.filter(
            organization_id=process.organization_id, id__in=list(filters.owner_ids)
        ).values("user_id")
        qs = qs.filter(deal__owner_id__in=owners)
    if filters.entered_from is not None:
        qs = qs.filter(entered_at__gte=filters.entered_from)
    if filters.entered_to is not None:
        qs = qs.filter(entered_at__lt=filters.entered_to)
    if isinstance(filters.process_version, ProcessVersion):
        qs = qs.filter(process_version_id=filters.process_version.id)
    elif filters.process_version is not None:
        qs = qs.filter(process_version__process=process, process_version__number=int(filters.process_version))
    advanced = Q(deal__status=DealStatus.WON) | Exists(later_higher)
    return qs.annotate(
        advanced=Case(When(advanced, then=Value(1)), default=Value(0), output_field=IntegerField()),
        dropped=Case(
            When(Q(advanced=0, deal__status=DealStatus.LOST), then=Value(1)),
            default=Value(0),
            output_field=IntegerField(),
        ),
    )


def _rate_point(entered: int, advanced: int, dropped: int) -> dict:
    resolved = advanced + dropped
    ci = wilson_interval(advanced, resolved, confidence=CONFIDENCE)
    return {
        "entered": entered,
        "advanced": advanced,
        "dropped": dropped,
        "resolved": resolved,
        "rate": round(advanced / resolved, 4) if resolved else None,
        "ci": [round(ci[0], 4), round(ci[1], 4)] if ci else None,
        "small_sample": resolved < SMALL_SAMPLE,
    }


def _month_range(first: str, last: str) -> list[str]:
    year, month = int(first[:4]), int(first[5:])
    out = []
    while True:
        key = f"{year:04d}-{month:02d}"
        out.append(key)
        if key >= last:
            return out
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def _cohort_rows(*, process: Process, filters: MetricFilters | None, stages: list[Stage], shape: str) -> list:
    """The rows of the metrics engine's statement in `shape` ("months" or "stays"), with each row's
    stage index turned into its Stage. One query (on PostgreSQL, with the engine's JIT switch)."""
    if not stages:
        return []
    dialect = Dialect.current()
    # The idle rule takes no part in these shapes: idle days are given only because the statement's
    # common part computes them.
    stage_values = [
        {
            "id": st.id,
            "probability": st.probability,
            "expected_days": st.expected_days,
            "organization__idle_days": 0,
        }
        for st in stages
    ]
    sql, params = metrics_statement(
        process=process,
        stages=stage_values,
        filters=filters or MetricFilters(),
        now=timezone.now(),
        dialect=dialect,
        shape=shape,
    )
    rows = dialect.rows(sql, params)
    for row in rows:
        row["stage"] = stages[row.pop("stage_idx")]
    return rows


def conversion_by_month(
    *,
    process: Process,
    filters: MetricFilters | None = None,
    stages: list[Stage] | None = None,
    months: int = MONTHS_SHOWN,
) -> dict:
    """Per stage and calendar month of first entry: entered, advanced, dropped, resolved, rate, its 95%
    Wilson interval and `small_sample`. Months run without gaps from the earliest to the latest month
    with entries, at most the latest `months` of them; a month without entries has zero counts.

    Shape: {"months": ["2025-01", …], "stages": [{"stage", "stage_id", "order", "points": [{"month",
    "entered", "advanced", "dropped", "resolved", "rate", "ci", "small_sample"}, …]}, …]}.
    One query (plus one for the stages unless given)."""
    stages = stages if stages is not None else _stages(process)
    counts: dict[tuple[int, str], tuple[int, int, int]] = {}
    for row in _cohort_rows(process=process, filters=filters, stages=stages, shape="months"):
        counts[(row["stage"].id, row["month"])] = (
            int(row["entered"]),
            int(row["advanced"] or 0),
            int(row["dropped"] or 0),
        )
    keys = sorted({month for _, month in counts})
    month_list = _month_range(keys[0], keys[-1])[-months:] if keys else []
    return {
        "months": month_list,
        "stages": [
            {
                "stage": stage.name,
                "stage_id": stage.id,
                "order": stage.order,
                "points": [
                    {"month": month, **_rate_point(*counts.get((stage.id, month), (0, 0, 0)))}
                    for month in month_list
                ],
            }
            for stage in stages
        ],
    }


def distribution_from_metrics(metric_stages: list[dict], stages: list[Stage]) -> list[dict] | None:
    """days_in_stage_distribution's rows read from the engine's per-stage numbers (process_metrics'
    "stages", live or from a snapshot), which carry the same quantiles over the same stays: no query.
    None when they cannot give it: a snapshot written before the engine gave p10, p25, min and max, or
    one that lacks a stage added since."""
    by_id = {row["stage_id"]: row["days_in_stage"] for row in metric_stages}
    out = []
    for stage in stages:
        days = by_id.get(stage.id)
        if days is None or not {"p10", "p25", "min", "max"} <= days.keys():
            return None
        out.append(
            {
                "stage": stage.name,
                "stage_id": stage.id,
                "n": days["n"],
                "min": days["min"],
                "p10": days["p10"],
                "q1": days["p25"],
                "median": days["median"],
                "q3": days["p75"],
                "p90": days["p90"],
                "max": days["max"],
                "expected_days": stage.expected_days,
                "small_sample": days["n"] < SMALL_SAMPLE,
            }
        )
    return out


def days_in_stage_distribution(
    *, process: Process, filters: MetricFilters | None = None, stages: list[Stage] | None = None
) -> list[dict]:
    """Per stage, the days in stage of the first entries that have left it: {"stage", "stage_id", "n",
    "min", "p10", "q1", "median", "q3", "p90", "max", "expected_days", "small_sample"}; the numbers
    are None when no deal has left the stage. One query (plus one for the stages unless given)."""
    stages = stages if stages is not None else _stages(process)
    rows = _cohort_rows(process=process, filters=filters, stages=stages, shape="stays")
    by_stage = {row["stage"].id: row for row in rows}
    out = []
    for stage in stages:
        row = by_stage.get(stage.id, {})
        n = int(row.get("n") or 0)

        def days(key: str, row=row) -> float | None:
            value = row.get(key)
            return None if value is None else round(float(value) / US_PER_DAY, 2)

        out.append(
            {
                "stage": stage.name,
                "stage_id": stage.id,
                "n": n,
                "min": days("min_us"),
                **{name: days(f"{name}_us") for name in STAY_QUANTILES},
                "max": days("max_us"),
                "expected_days": stage.expected_days,
                "small_sample": n < SMALL_SAMPLE,
            }
        )
    return out
