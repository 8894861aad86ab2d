"""The metrics engine of the iteration pillar: per-stage funnel numbers and a process summary, computed
from the StageChange log by ONE set-based SQL statement (iteration.metrics_sql), whatever the number of
deals, with the same numbers on PostgreSQL and SQLite. This module holds the API and the shaping of the
result; the statement explains how it computes.

Definitions (DESIGN.md, "Metrics"), and the choices made where it leaves room:

- A deal's entries are ordered by (entered_at, id); times count to the microsecond. It **entered**
  stage S at its first entry into S; it **left** S at that entry's `left_at`, which the writers set to
  the next entry's time or to `closed_at` when the deal closed while in S.
- **Cohort** of S: the deals (of the process, passing the deal filters) that entered S; with
  `entered_from`/`entered_to`, those whose first entry into S is in [from, to); with `process_version`,
  those whose first entry into S was recorded under that version. Every per-stage number is over S's
  cohort.
- **advanced**: after its first entry into S the deal had an entry into a stage of higher order, or it
  is won. **dropped**: not advanced and lost. **open** = entered − advanced − dropped (open deals that
  have not moved past S, wherever they are now).
- **conversion_rate** = advanced / (advanced + dropped) with a 95% Wilson interval; **win_rate** =
  won / (won + lost) over the cohort.
- **cumulative_conversion** of S: of the first stage's cohort (the deals that entered the stage of
  lowest order, with the same cohort filters), the share that reached S or beyond: that ever had an
  entry into a stage of order ≥ S's, or were won. 1.0 for the first stage by construction.
- **days_in_stage**: left − entered of the first entry, over the cohort deals that left S (whether by
  a move or by closing); median, p75, p90 (and p10, p25, min, max for the box plot) as
  `percentile_cont`. `n` is how many left. `km_median` is
  the Kaplan–Meier median (smallest event time where survival ≤ 0.5) with the deals that have not
  left S censored at `now` − entered; null when survival never reaches 0.5.
- **stalled**: cohort deals that are open, currently in S (`Deal.stage`), and either have been in S's
  current entry (`now` − `Deal.stage_entered_at`) longer than the threshold, or idle: neither
  `Deal.last_activity_at` (moved forward by every activity, move and close) nor the current entry is
  within the organization's `idle_days`. The threshold is `expected_days` when set, else the p75 of
  days in stage over the cohort deals that advanced from S when at least 10 did, else none (only the
  idle rule applies). "Longer than" and "more than" are strict.
- **summary**: over the process's deals passing the deal filters; with cohort filters, those whose
  entry into the process (the first StageChange of their history, the one without a from-stage)
  passes them. Sales cycle is created_at → closed_at of won deals (median and mean); sales velocity
  = open × average won amount × win rate / mean sales cycle days (money per day); weighted pipeline
  = Σ over open deals of amount × their current stage's probability / 100. Amounts are summed as
  stored, whatever their currency.
- Filter times must be timezone-aware; `now` is not a time machine: rows after it still count.

Rates are fractions rounded to 4 places, days decimal days rounded to 2, money rounded half-up to
cents; null where a denominator is 0 or there is no data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.utils import timezone

from iteration import stats
from iteration.metrics_sql import US_PER_DAY, Dialect, metrics_statement
from salesproc.models import Process, ProcessVersion, Stage

CONFIDENCE = 0.95
CENT = Decimal("0.01")


@dataclass(frozen=True, kw_only=True)
class MetricFilters:
    """Which deals the metrics are about. Every field is optional; None means no restriction.

    - `entered_from`, `entered_to`: a cohort by time, [from, to): per stage, the deals whose first entry
      into that stage falls in the range (for the summary, their first entry into the process).
    - `process_version`: a cohort by version: per stage, the deals whose first entry into it was made
      under this version. A ProcessVersion, or a version *number* of the process (1, 2, …: what people
      see, and the key of MetricSnapshot.by_version) — not a database id.
    - `owner_ids`: Membership ids; deals owned by those members' users. The caller resolves a team
      (orgs.selectors). An empty list means no deals.
    - `industry`: exact match on Deal.industry.
    - `amount_min`, `amount_max`: inclusive bounds on Deal.amount.
    """

    entered_from: datetime | None = None
    entered_to: datetime | None = None
    process_version: ProcessVersion | int | None = None
    owner_ids: Sequence[int] | None = None
    industry: str | None = None
    amount_min: Decimal | int | str | None = None
    amount_max: Decimal | int | str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The filters as JSON-able values, echoed in the metrics."""
        version = self.process_version
        return {
            "entered_from": self.entered_from.isoformat() if self.entered_from else None,
            "entered_to": self.entered_to.isoformat() if self.entered_to else None,
            "process_version": version.number if isinstance(version, ProcessVersion) else version,
            "owner_ids": sorted(self.owner_ids) if self.owner_ids is not None else None,
            "industry": self.industry,
            "amount_min": float(Decimal(self.amount_min)) if self.amount_min is not None else None,
            "amount_max": float(Decimal(self.amount_max)) if self.amount_max is not None else None,
        }


def process_metrics(
    *, process: Process, filters: MetricFilters | None = None, now: datetime | None = None
) -> dict:
    """Funnel metrics of one process per stage, plus a summary, as JSON-able data (the body of
    GET /api/processes/{id}/metrics/). See the module docstring for the exact definitions.

    Guarantees: two database queries (the stages, then one statement for every number; on PostgreSQL
    one more before it turns the JIT compiler off for that statement and, inside a caller's
    transaction, one after it to put the setting back) whatever the number of deals;
    the same numbers on PostgreSQL and SQLite; scoped to the process's organization.
    `now` (default: the current time) is the time open entries are censored at and stalls measured to."""
    filters = filters or MetricFilters()
    now = now or timezone.now()
    stages = list(
        Stage.objects.filter(process=process, organization_id=process.organization_id)
        .order_by("order")
        .values("id", "name", "order", "phase", "probability", "expected_days", "organization__idle_days")
    )
    by_index: dict[int | None, dict] = {}
    if stages:
        dialect = Dialect.current()
        sql, params = metrics_statement(
            process=process, stages=stages, filters=filters, now=now, dialect=dialect
        )
        by_index = {record["stage_idx"]: record for record in dialect.rows(sql, params)}
    any_row = next(iter(by_index.values()), {})
    return {
        "process": process.name,
        "process_id": process.id,
        "computed_at": now.isoformat(),
        "filters": filters.as_dict(),
        "stages": _stage_rows(stages, by_index),
        "summary": _summary(any_row),
    }


# Shaping the result -------------------------------------------------------------------------------


def _int(value) -> int:
    return int(value or 0)


def _rate(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def _days(us) -> float | None:
    return None if us is None else round(float(us) / US_PER_DAY, 2)


def _money(value: Decimal | None) -> float | None:
    return None if value is None else float(value.quantize(CENT, rounding=ROUND_HALF_UP))


def _stage_rows(stages: list[dict], by_index: dict[int | None, dict]) -> list[dict]:
    """One entry per stage, from the statement's row of each stage that had entries (by index)."""
    first_row = by_index.get(0, {})
    first_entered = _int(first_row.get("entered"))
    out = []
    for k, stage in enumerate(stages):
        row = by_index.get(k, {})
        entered, advanced, dropped = (
            _int(row.get("entered")),
            _int(row.get("advanced")),
            _int(row.get("dropped")),
        )
        won, lost = _int(row.get("won")), _int(row.get("lost"))
        ci = stats.wilson_interval(advanced, advanced + dropped, confidence=CONFIDENCE)
        threshold_us = row.get("threshold_us")
        if stage["expected_days"] is not None:
            source = "expected_days"
            threshold_us = stage["expected_days"] * US_PER_DAY
        elif threshold_us is not None:
            source = "p75"
        else:
            source = None
        out.append(
            {
                "stage": stage["name"],
                "stage_id": stage["id"],
                "order": stage["order"],
                "phase": stage["phase"],
                "entered": entered,
                "advanced": advanced,
                "dropped": dropped,
                "open": entered - advanced - dropped,
                "conversion_rate": _rate(advanced, advanced + dropped),
                "conversion_ci": [round(ci[0], 4), round(ci[1], 4)] if ci else None,
                "cumulative_conversion": _rate(_int(first_row.get(f"reached_{k}")), first_entered),
                "win_rate": _rate(won, won + lost),
                "won": won,
                "lost": lost,
                "days_in_stage": {
                    "median": _days(row.get("stay_p50_us")),
                    "p75": _days(row.get("stay_p75_us")),
                    "p90": _days(row.get("stay_p90_us")),
                    "km_median": _days(row.get("km_median_us")),
                    "p10": _days(row.get("stay_p10_us")),
                    "p25": _days(row.get("stay_p25_us")),
                    "min": _days(row.get("stay_min_us")),
                    "max": _days(row.get("stay_max_us")),
                    "n": _int(row.get("left_count")),
                },
                "stalled": _int(row.get("stalled")),
                "threshold_days": _days(threshold_us),
                "threshold_source": source,
            }
        )
    return out


def _summary(row: dict) -> dict:
    deals, open_, won, lost = (_int(row.get(k)) for k in ("deals", "open_deals", "won_deals", "lost_deals"))
    win_rate = won / (won + lost) if won + lost else None
    average_won = Decimal(_int(row.get("won_cents"))) / 100 / won if won else None
    mean_cycle_us = _int(row.get("cycle_total_us")) / won if won else None
    velocity = None
    if average_won is not None and win_rate is not None and mean_cycle_us:
        velocity = round(open_ * float(average_won) * win_rate / (mean_cycle_us / US_PER_DAY), 2)
    return {
        "deals": deals,
        "open": open_,
        "won": won,
        "lost": lost,
        "win_rate": None if win_rate is None else round(win_rate, 4),
        "sales_cycle_days": {"median": _days(row.get("cycle_p50_us")), "mean": _days(mean_cycle_us)},
        "average_won_amount": _money(average_won),
        "sales_velocity": velocity,
        "weighted_pipeline": _money(Decimal(_int(row.get("weighted_cents_pct"))) / 10000),
    }
