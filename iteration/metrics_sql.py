"""The one SQL statement behind iteration.metrics.process_metrics, for PostgreSQL and SQLite.

Shape of the statement (see the comments in the SQL for each part):

1. `step`: every deal's first entry into each stage that passes the cohort filters, with what the
   rest of its history says about it (did a higher stage follow, how far did the deal get). A
   history that never moved back — most of them — enters each stage once and in increasing order,
   so it needs no sorting at all; only the deals with a back-move (an entry whose from-stage is not
   below its stage) go through window functions. This relies on the log's invariants as every
   writer (the deal services, the history import, the demo seeder) keeps them: `from_stage` is the
   previous entry's stage (NULL for a history's first entry), `left_at` the next entry's time or
   the close, and `Deal.stage` the last entry's stage.
2. `first_entry`: those entries joined to their deal (and its filters), with every per-row value
   the aggregates need.
3. `stage_stat`: ONE aggregation pass over first_entry, grouped by stage. Referencing first_entry
   once keeps PostgreSQL from materializing a million rows (measured: the materialization alone
   cost more than the rest of the statement).
4. Small follow-ups over the per-stage rows: stall thresholds and counts, the Kaplan–Meier median,
   the summary.

Stages are addressed by their index in the process's stage list (ordered by `order`): "a stage of
higher order" is "a higher index", and per-stage values are unrolled into CASE expressions.

Durations are integer microseconds on both databases, so PostgreSQL and SQLite give the same numbers.
On SQLite, which lacks percentile_cont, arrays and width_bucket, percentiles and the Kaplan–Meier
median are Python aggregates over the same values (iteration.stats), and the stall count takes a
second pass over first_entry (fine at SQLite's scale).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from deals.models import Deal, StageChange
from iteration import stats
from orgs.models import Membership
from salesproc.models import ProcessVersion

US_PER_DAY = 86_400_000_000
# Below this many deals that advanced from a stage, their p75 is too noisy to be a stall threshold.
MIN_ADVANCED_FOR_THRESHOLD = 10


class _PercentileCont:
    """SQLite aggregate `salesproc_percentile_cont(value, fraction)`: PostgreSQL's
    `percentile_cont(fraction) WITHIN GROUP (ORDER BY value)`, NULLs ignored."""

    def __init__(self) -> None:
        self.values: list[float] = []
        self.fraction = 0.5

    def step(self, value, fraction) -> None:
        if value is not None:
            self.values.append(float(value))
            self.fraction = fraction

    def finalize(self) -> float | None:
        return stats.percentile_cont(self.values, self.fraction)


class _KaplanMeierMedian:
    """SQLite aggregate `salesproc_km_median(duration, event)`: iteration.stats.kaplan_meier_median."""

    def __init__(self) -> None:
        self.observations: list[tuple[int, bool]] = []

    def step(self, duration, event) -> None:
        if duration is not None:
            self.observations.append((duration, bool(event)))

    def finalize(self) -> int | None:
        return stats.kaplan_meier_median(self.observations)


@dataclass(frozen=True)
class Dialect:
    vendor: str

    @classmethod
    def current(cls) -> Dialect:
        if connection.vendor == "sqlite":
            connection.ensure_connection()
            # Registering is idempotent and costs no query; done here so the engine needs no app hook.
            raw = connection.connection
            raw.create_aggregate("salesproc_percentile_cont", 2, _PercentileCont)
            raw.create_aggregate("salesproc_km_median", 2, _KaplanMeierMedian)
        elif connection.vendor != "postgresql":
            raise NotImplementedError(f"metrics support PostgreSQL and SQLite, not {connection.vendor}")
        return cls(connection.vendor)

    @property
    def postgres(self) -> bool:
        return self.vendor == "postgresql"

    def micros(self, later: str, earlier: str) -> str:
        """`later − earlier` as integer microseconds, exactly, on both databases."""
        if self.postgres:
            # date_part's float seconds are exact to far under a microsecond for durations below
            # centuries, so rounding to bigint gives the exact microseconds; several times cheaper
            # than EXTRACT's numeric.
            return f"CAST(date_part('epoch', ({later}) - ({earlier})) * 1000000 AS BIGINT)"
        # Django stores datetimes in SQLite as 'YYYY-MM-DD HH:MM:SS[.ffffff]' in UTC.
        return (
            f"((CAST(strftime('%%s', {later}) AS INTEGER) - CAST(strftime('%%s', {earlier}) AS INTEGER))"
            f" * 1000000 + CAST(substr({later}, 21, 6) AS INTEGER) - CAST(substr({earlier}, 21, 6) AS INTEGER))"
        )

    def among(self, column: str, subquery: str) -> str:
        """`column IN (subquery)`, for a subquery of few rows (a few percent of the deals)."""
        if self.postgres:
            # As an array the planner looks the rows up by index; as IN it expects many rows and
            # scans the whole table in index order.
            return f"{column} = ANY (ARRAY({subquery}))"
        return f"{column} IN ({subquery})"

    @contextmanager
    def without_jit(self) -> Iterator[None]:
        """Run the block's statements with PostgreSQL's JIT compiler off, and only them.

        The metrics statement is hundreds of expressions (a CASE per stage in most columns) run once:
        above jit_above_cost, PostgreSQL compiles and optimizes them all on every run, which took longer
        than executing the statement (measured at 200k deals: 4.4 s of JIT in a 9.8 s run; 5.8 s with
        it off). The setting is local to the transaction; inside a caller's transaction its value is put
        back when the block succeeds (when it fails, that transaction is rolled back, setting and all)."""
        if not self.postgres:
            yield
            return
        outer = connection.in_atomic_block
        with transaction.atomic(savepoint=False), connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('jit'), set_config('jit', 'off', true)")
            previous = cursor.fetchone()[0]
            yield
            if outer:
                cursor.execute("SELECT set_config('jit', %s, true)", [previous])

    def rows(self, sql: str, params: dict) -> list[dict]:
        """Run a statement of metrics_statement (without JIT) and return its rows as dicts by column."""
        with self.without_jit(), connection.cursor() as cursor:
            cursor.execute(sql, params)
            columns = [col[0] for col in cursor.description]
            return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]

    def percentile(self, fraction: float, value: str) -> str:
        if self.postgres:
            return f"percentile_cont({fraction}) WITHIN GROUP (ORDER BY CAST({value} AS DOUBLE PRECISION))"
        return f"salesproc_percentile_cont({value}, {fraction})"


def metrics_statement(
    *, process, stages: list[dict], filters, now: datetime, dialect: Dialect, shape: str = "funnel"
) -> tuple[str, dict]:
    """The statement and its named parameters. `stages` are the process's stages ordered by `order`
    (dicts with id, probability, expected_days, organization__idle_days); `filters` a MetricFilters.

    `shape` is what the statement returns from the cohorts (the first entries it computes are the same):
    - "funnel": one row per stage that has entries in the cohort (column stage_idx), or a single row
      with a NULL stage_idx when none has; every row carries the summary columns;
    - "months": per stage and calendar month of the first entry (in the current time zone, as
      "YYYY-MM"): stage_idx, month, entered, advanced, dropped;
    - "stays": per stage whose cohort has deals that left it: stage_idx, n, and over their stays in
      microseconds min_us, p10_us, q1_us, median_us, q3_us, p90_us, max_us."""
    if shape not in ("funnel", "months", "stays"):
        raise ValueError(f"unknown shape {shape!r}")
    q = connection.ops.quote_name
    adapt = connection.ops.adapt_datetimefield_value
    t_entry, t_deal = q(StageChange._meta.db_table), q(Deal._meta.db_table)
    t_version, t_member = q(ProcessVersion._meta.db_table), q(Membership._meta.db_table)
    us = dialect.micros
    indexes = range(len(stages))
    params: dict[str, Any] = {
        "process": process.id,
        "org": process.organization_id,
        "now": adapt(now),
        "idle_us": stages[0]["organization__idle_days"] * US_PER_DAY,
        "km_log_half": stats.KM_LOG_HALF,
        "min_advanced": MIN_ADVANCED_FOR_THRESHOLD,
    }
    for k, stage in enumerate(stages):
        params[f"stage_{k}"] = stage["id"]
        params[f"probability_{k}"] = stage["probability"]
        expected = stage["expected_days"]
        params[f"expected_us_{k}"] = None if expected is None else expected * US_PER_DAY

    deal_where = []
    if filters.industry is not None:
        deal_where.append("d.industry = %(industry)s")
        params["industry"] = filters.industry
    if filters.amount_min is not None:
        deal_where.append("d.amount >= %(amount_min)s")
        params["amount_min"] = Decimal(filters.amount_min)
    if filters.amount_max is not None:
        deal_where.append("d.amount <= %(amount_max)s")
        params["amount_max"] = Decimal(filters.amount_max)
    if filters.owner_ids is not None:
        names = [f"owner_{i}" for i in range(len(filters.owner_ids))]
        params.update(zip(names, (int(x) for x in filters.owner_ids), strict=True))
        members = ", ".join(f"%({n})s" for n in names) or "NULL"
        deal_where.append(
            f"d.owner_id IN (SELECT m.user_id FROM {t_member} m"
            f" WHERE m.organization_id = %(org)s AND m.id IN ({members}))"
        )

    # Conditions on the entry that defines a cohort: a deal's first entry into a stage. Templates over
    # the entry's time and version columns, which the two kinds of history name differently.
    cohort_where = []
    if filters.entered_from is not None:
        cohort_where.append("{entered} >= %(entered_from)s")
        params["entered_from"] = adapt(filters.entered_from)
    if filters.entered_to is not None:
        cohort_where.append("{entered} < %(entered_to)s")
        params["entered_to"] = adapt(filters.entered_to)
    if isinstance(filters.process_version, ProcessVersion):
        cohort_where.append("{version} = %(version_id)s")
        params["version_id"] = filters.process_version.id
    elif filters.process_version is not None:
        cohort_where.append(
            f"{{version}} = (SELECT v.id FROM {t_version} v"
            " WHERE v.process_id = %(process)s AND v.number = %(version_number)s)"
        )
        params["version_number"] = int(filters.process_version)

    def cohort_and(entered: str, version: str) -> str:
        return " ".join(f"AND {c.format(entered=entered, version=version)}" for c in cohort_where)

    def index_of(column: str) -> str:
        """The stage index of a stage id column."""
        return f"CASE {column} " + " ".join(f"WHEN %(stage_{k})s THEN {k}" for k in indexes) + " END"

    def per_stage(template: str) -> str:
        return ",\n           ".join(template.format(k=k) for k in indexes)

    stage_ids = ", ".join(f"%(stage_{k})s" for k in indexes)
    probability = (
        "CASE d.stage_id "
        + " ".join(f"WHEN %(stage_{k})s THEN %(probability_{k})s" for k in indexes)
        + " END"
    )
    expected = "CASE s.stage_idx " + " ".join(f"WHEN {k} THEN %(expected_us_{k})s" for k in indexes) + " END"
    since = lambda column: us("%(now)s", column)  # noqa: E731
    deal_and = "".join(f" AND {c}" for c in deal_where)
    reached = per_stage(
        "SUM(CASE WHEN status = 'won' OR reach_idx >= {k} THEN 1 ELSE 0 END) FILTER (WHERE stage_idx = 0)"
        " AS reached_{k}"
    )
    reached_columns = per_stage("s.reached_{k}")
    tail = _postgres_tail if dialect.postgres else _sqlite_tail
    # The p75 of advanced stays is only a stall threshold where expected_days is not set.
    without_expected = [str(k) for k, stage in enumerate(stages) if stage["expected_days"] is None]
    needs_p75 = f"stage_idx IN ({', '.join(without_expected)})" if without_expected else "1 = 0"

    def entered_column(alias: str) -> str:
        return f", {alias}.entered_at" if shape == "months" else ""

    month_column = ""
    if shape == "months":
        month_column = f",\n           {_month_of(dialect, 's.entered_at', params)} AS month"
    if shape == "funnel":
        ending = (
            ","
            + tail(
                dialect,
                reached=reached,
                reached_columns=reached_columns,
                expected=expected,
                needs_p75=needs_p75,
            )
            + "\nSELECT stage_row.*, summary.*\nFROM summary\nLEFT JOIN stage_row ON 1 = 1\n"
        )
    elif shape == "months":
        ending = """
SELECT stage_idx, month, COUNT(*) AS entered, SUM(advanced) AS advanced,
       SUM(CASE WHEN advanced = 0 AND status = 'lost' THEN 1 ELSE 0 END) AS dropped
FROM first_entry
GROUP BY stage_idx, month
"""
    else:
        quantiles = ",\n       ".join(
            f"{dialect.percentile(fraction, 'stay_us')} AS {name}_us"
            for name, fraction in STAY_QUANTILES.items()
        )
        ending = f"""
SELECT stage_idx, COUNT(*) AS n, MIN(stay_us) AS min_us, MAX(stay_us) AS max_us,
       {quantiles}
FROM first_entry
WHERE stay_us IS NOT NULL
GROUP BY stage_idx
"""

    sql = f"""
WITH
-- Deals that moved back at least once: an entry from a stage of the same or a higher order.
moved_back AS (
    SELECT DISTINCT sc.deal_id
    FROM {t_entry} sc
    WHERE sc.to_stage_id IN ({stage_ids})
      AND {index_of("sc.from_stage_id")} >= {index_of("sc.to_stage_id")}
),
-- The process's deals that pass the deal filters, with the per-deal values the aggregates need
-- (NULL where they do not apply, which keeps the rows narrow).
deal AS (
    SELECT d.id, d.status, {index_of("d.stage_id")} AS current_idx,
           CASE WHEN d.status = 'open' THEN {since("d.stage_entered_at")} END AS in_stage_us,
           CASE WHEN d.status = 'open'
                THEN CASE WHEN {since("d.last_activity_at")} > %(idle_us)s
                               AND {since("d.stage_entered_at")} > %(idle_us)s THEN 1 ELSE 0 END
           END AS idle,
           CASE WHEN d.status = 'won' THEN CAST(ROUND(d.amount * 100) AS BIGINT) END AS won_cents,
           CASE WHEN d.status = 'won' THEN {us("d.closed_at", "d.created_at")} END AS cycle_us,
           CASE WHEN d.status = 'open' THEN CAST(ROUND(d.amount * 100) AS BIGINT) * {probability} END
               AS weighted_cents_pct
    FROM {t_deal} d
    WHERE d.process_id = %(process)s AND d.organization_id = %(org)s{deal_and}
),
-- Their histories in order: which entry is the first into its stage (and of the history), the
-- highest stage entered after each entry, and the highest stage ever entered.
moved_back_entry AS (
    SELECT sc.deal_id, {index_of("sc.to_stage_id")} AS stage_idx, sc.entered_at, sc.left_at,
           sc.process_version_id,
           ROW_NUMBER() OVER (PARTITION BY sc.deal_id ORDER BY sc.entered_at, sc.id) AS seq,
           ROW_NUMBER() OVER (
               PARTITION BY sc.deal_id, sc.to_stage_id ORDER BY sc.entered_at, sc.id
           ) AS stage_seq,
           MAX({index_of("sc.to_stage_id")}) OVER (
               PARTITION BY sc.deal_id ORDER BY sc.entered_at, sc.id
               ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING
           ) AS later_idx,
           MAX({index_of("sc.to_stage_id")}) OVER (PARTITION BY sc.deal_id) AS reach_idx
    FROM {t_entry} sc
    WHERE {dialect.among("sc.deal_id", "SELECT deal_id FROM moved_back")}
),
-- Every deal's first entry into each stage it entered that passes the cohort filters, with its stay
-- (when it left) or censoring time (when it has not). A history without back-moves enters each stage
-- once, in increasing order, and ends in the deal's current stage: each of its entries is a first
-- entry, the first of the history is the one without a from-stage, the deal advanced from every
-- stage but its current one, and got as far as its current one.
step AS (
    SELECT sc.deal_id, {index_of("sc.to_stage_id")} AS stage_idx,
           CASE WHEN sc.left_at IS NOT NULL THEN {us("sc.left_at", "sc.entered_at")} END AS stay_us,
           CASE WHEN sc.left_at IS NULL THEN {since("sc.entered_at")} END AS censored_us,
           CASE WHEN sc.from_stage_id IS NULL THEN 1 ELSE 0 END AS deal_first,
           0 AS moved_back, NULL AS later_idx, NULL AS reach_idx{entered_column("sc")}
    FROM {t_entry} sc
    WHERE sc.to_stage_id IN ({stage_ids})
      AND NOT EXISTS (SELECT 1 FROM moved_back mb WHERE mb.deal_id = sc.deal_id)
      {cohort_and("sc.entered_at", "sc.process_version_id")}
    UNION ALL
    SELECT e.deal_id, e.stage_idx,
           CASE WHEN e.left_at IS NOT NULL THEN {us("e.left_at", "e.entered_at")} END,
           CASE WHEN e.left_at IS NULL THEN {since("e.entered_at")} END,
           CASE WHEN e.seq = 1 THEN 1 ELSE 0 END, 1, e.later_idx, e.reach_idx{entered_column("e")}
    FROM moved_back_entry e
    WHERE e.stage_seq = 1
      {cohort_and("e.entered_at", "e.process_version_id")}
),
-- Each stage's cohort with what is counted: advanced, how far the deal got, the stay or censoring
-- time, whether the deal is open in this stage now, and the deal's summary values on its first entry.
first_entry AS (
    SELECT s.stage_idx, d.status,
           CASE WHEN d.status = 'won'
                     OR CASE WHEN s.moved_back = 1 THEN s.later_idx ELSE d.current_idx END > s.stage_idx
                THEN 1 ELSE 0 END AS advanced,
           CASE WHEN s.moved_back = 1 THEN s.reach_idx ELSE d.current_idx END AS reach_idx,
           s.stay_us, s.censored_us,
           CASE WHEN d.status = 'open' AND d.current_idx = s.stage_idx THEN 1 ELSE 0 END AS open_here,
           d.in_stage_us, d.idle, s.deal_first, d.won_cents, d.cycle_us, d.weighted_cents_pct{month_column}
    FROM step s
    JOIN deal d ON d.id = s.deal_id
){ending}"""
    return sql, params


# The quantiles of the days-in-stage distribution (the insights page's box plot), by name.
STAY_QUANTILES = {"p10": 0.1, "q1": 0.25, "median": 0.5, "q3": 0.75, "p90": 0.9}


def _month_of(dialect: Dialect, column: str, params: dict) -> str:
    """The calendar month of a timestamp column in the current time zone, as "YYYY-MM" (what Django's
    TruncMonth gives, through the backend's own truncation); its parameters are added to `params`."""
    tzname = timezone.get_current_timezone_name() if settings.USE_TZ else None
    sql, values = connection.ops.datetime_trunc_sql("month", column, (), tzname)
    for i, value in enumerate(values):
        params[f"month_{i}"] = value
        sql = sql.replace("%s", f"%(month_{i})s", 1)
    return f"to_char({sql}, 'YYYY-MM')" if dialect.postgres else f"substr({sql}, 1, 7)"


_STAGE_COUNTS = """
           COUNT(*) AS entered,
           SUM(advanced) AS advanced,
           SUM(CASE WHEN advanced = 0 AND status = 'lost' THEN 1 ELSE 0 END) AS dropped,
           SUM(CASE WHEN status = 'won' THEN 1 ELSE 0 END) AS won,
           SUM(CASE WHEN status = 'lost' THEN 1 ELSE 0 END) AS lost,
           COUNT(stay_us) AS left_count,
           COUNT(stay_us) FILTER (WHERE advanced = 1) AS advanced_stays,
           COUNT(*) FILTER (WHERE open_here = 1 AND idle = 1) AS idle_here,
           -- the summary's parts, over each deal's first entry (its entry into the process)
           COUNT(*) FILTER (WHERE deal_first = 1) AS deals,
           SUM(CASE WHEN status = 'open' THEN 1 ELSE 0 END) FILTER (WHERE deal_first = 1) AS open_deals,
           SUM(CASE WHEN status = 'won' THEN 1 ELSE 0 END) FILTER (WHERE deal_first = 1) AS won_deals,
           SUM(CASE WHEN status = 'lost' THEN 1 ELSE 0 END) FILTER (WHERE deal_first = 1) AS lost_deals,
           SUM(won_cents) FILTER (WHERE deal_first = 1) AS won_cents,
           SUM(cycle_us) FILTER (WHERE deal_first = 1) AS cycle_total_us,
           SUM(weighted_cents_pct) FILTER (WHERE deal_first = 1) AS weighted_cents_pct,"""

# The stall threshold: expected_days when set, else the p75 of the stays of the deals that advanced, when
# enough did.
_THRESHOLD = """COALESCE({expected},
                    CASE WHEN s.advanced_stays >= %(min_advanced)s THEN p.advanced_stay_p75_us END)"""

_SUMMARY_SUMS = """
    SELECT SUM(deals) AS deals, SUM(open_deals) AS open_deals, SUM(won_deals) AS won_deals,
           SUM(lost_deals) AS lost_deals, SUM(won_cents) AS won_cents, SUM(cycle_total_us) AS cycle_total_us,
           SUM(weighted_cents_pct) AS weighted_cents_pct,"""


def _postgres_tail(
    dialect: Dialect, *, reached: str, reached_columns: str, expected: str, needs_p75: str
) -> str:
    pct = dialect.percentile
    return f"""
-- One pass over the cohorts, hashed by stage (no sort of the wide rows): the counts, and as arrays
-- what the rest needs — the stays, the censoring times, the time in stage of the open deals here that
-- are not idle, and the won deals' sales cycles.
stage_stat AS (
    SELECT stage_idx,{_STAGE_COUNTS}
           array_agg(stay_us) FILTER (WHERE stay_us IS NOT NULL) AS stays,
           array_agg(stay_us) FILTER (WHERE stay_us IS NOT NULL AND advanced = 1 AND {needs_p75})
               AS advanced_stay_values,
           array_agg(censored_us) FILTER (WHERE censored_us IS NOT NULL) AS censorings,
           array_agg(in_stage_us) FILTER (WHERE open_here = 1 AND idle = 0) AS active_in_stage_us,
           array_agg(cycle_us) FILTER (WHERE deal_first = 1 AND cycle_us IS NOT NULL) AS cycles_us,
           {reached}
    FROM first_entry
    GROUP BY stage_idx
),
-- Per stage, sorts of one column each: the percentiles, and the stays in order for Kaplan–Meier.
stay AS (
    SELECT s.stage_idx, p.*, a.advanced_stay_p75_us,
           (SELECT array_agg(c.us ORDER BY c.us) FROM unnest(s.censorings) AS c(us)) AS censorings
    FROM stage_stat s
    CROSS JOIN LATERAL (
        SELECT {pct(0.5, "x.us")} AS stay_p50_us,
               {pct(0.75, "x.us")} AS stay_p75_us,
               {pct(0.9, "x.us")} AS stay_p90_us,
               {pct(0.1, "x.us")} AS stay_p10_us,
               {pct(0.25, "x.us")} AS stay_p25_us,
               array_agg(x.us ORDER BY x.us) AS stays
        FROM unnest(s.stays) AS x(us)
    ) p
    CROSS JOIN LATERAL (
        SELECT {pct(0.75, "x.us")} AS advanced_stay_p75_us FROM unnest(s.advanced_stay_values) AS x(us)
    ) a
),
threshold AS (
    SELECT s.stage_idx, {_THRESHOLD.format(expected=expected)} AS threshold_us
    FROM stage_stat s
    JOIN stay p ON p.stage_idx = s.stage_idx
),
stalled AS (
    SELECT s.stage_idx,
           s.idle_here + (SELECT COUNT(*) FROM unnest(s.active_in_stage_us) AS a(us) WHERE a.us > t.threshold_us)
               AS stalled
    FROM stage_stat s
    JOIN threshold t ON t.stage_idx = s.stage_idx
),
-- Kaplan–Meier without a pass over every observation. Sort a stage's observations by time (events
-- before censorings at equal times): between two censorings the at-risk count falls by one per
-- event, so the survival over a segment of m events with n at risk at its start telescopes to
-- (n − m)/n. So the curve needs only, for each censoring j, how many events came at or before it
-- (a binary search of the sorted stays: width_bucket), a few thousand rows at most. That finds the
-- segment where survival reaches 0.5 and the rank of the median event in the sorted stays.
km_bound AS (
    SELECT p.stage_idx, c.j, COALESCE(width_bucket(c.us, p.stays), 0) AS events_up_to
    FROM stay p, unnest(p.censorings) WITH ORDINALITY AS c(us, j)
    UNION ALL
    SELECT stage_idx, COALESCE(cardinality(censorings), 0) + 1, COALESCE(cardinality(stays), 0) FROM stay
),
km_segment AS (
    SELECT b.stage_idx, b.j,
           COALESCE(LAG(b.events_up_to) OVER by_j, 0) AS events_before,
           b.events_up_to - COALESCE(LAG(b.events_up_to) OVER by_j, 0) AS events,
           s.entered - COALESCE(LAG(b.events_up_to) OVER by_j, 0) - (b.j - 1) AS at_risk
    FROM km_bound b
    JOIN stage_stat s ON s.stage_idx = b.stage_idx
    WINDOW by_j AS (PARTITION BY b.stage_idx ORDER BY b.j)
),
km_survival AS (
    SELECT s.*,
           COALESCE(SUM(s.log_factor) OVER earlier, 0) AS log_before,
           COALESCE(SUM(s.log_factor) OVER up_to, 0) AS log_after,
           SUM(CASE WHEN s.events = s.at_risk THEN 1 ELSE 0 END) OVER up_to AS emptied
    FROM (
        -- ln((n − m)/n); none when the events empty the risk set (the survival drops to 0)
        SELECT km_segment.*,
               CASE WHEN at_risk > events THEN LN(CAST(at_risk - events AS DOUBLE PRECISION) / at_risk) END
                   AS log_factor
        FROM km_segment
        WHERE events > 0
    ) s
    WINDOW earlier AS (PARTITION BY stage_idx ORDER BY j ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),
           up_to AS (PARTITION BY stage_idx ORDER BY j ROWS UNBOUNDED PRECEDING)
),
-- In the first segment where survival reaches 0.5: the i-th of its events with
-- S_before × (n − i)/n ≤ 0.5, i.e. i ≥ n × (1 − 0.5/S_before); the median is that event's stay.
km_rank AS (
    SELECT DISTINCT ON (stage_idx) stage_idx,
           events_before
           + LEAST(events, GREATEST(1, CEILING(at_risk * (1 - EXP(%(km_log_half)s - log_before))))) AS k
    FROM km_survival
    WHERE emptied > 0 OR log_after <= %(km_log_half)s
    ORDER BY stage_idx, j
),
stage_row AS (
    SELECT s.stage_idx, s.entered, s.advanced, s.dropped, s.won, s.lost, s.left_count,
           p.stay_p50_us, p.stay_p75_us, p.stay_p90_us, p.stays[CAST(r.k AS INTEGER)] AS km_median_us,
           p.stay_p10_us, p.stay_p25_us, p.stays[1] AS stay_min_us, p.stays[cardinality(p.stays)] AS stay_max_us,
           t.threshold_us, sd.stalled,
           {reached_columns}
    FROM stage_stat s
    JOIN stay p ON p.stage_idx = s.stage_idx
    JOIN threshold t ON t.stage_idx = s.stage_idx
    JOIN stalled sd ON sd.stage_idx = s.stage_idx
    LEFT JOIN km_rank r ON r.stage_idx = s.stage_idx
),
summary AS ({_SUMMARY_SUMS}
           (SELECT {pct(0.5, "c.us")} FROM stage_stat, unnest(cycles_us) AS c(us)) AS cycle_p50_us
    FROM stage_stat
)"""


def _sqlite_tail(
    dialect: Dialect, *, reached: str, reached_columns: str, expected: str, needs_p75: str
) -> str:
    pct = dialect.percentile
    return f"""
stage_stat AS (
    SELECT stage_idx,{_STAGE_COUNTS}
           {pct(0.5, "stay_us")} AS stay_p50_us,
           {pct(0.75, "stay_us")} AS stay_p75_us,
           {pct(0.9, "stay_us")} AS stay_p90_us,
           {pct(0.1, "stay_us")} AS stay_p10_us,
           {pct(0.25, "stay_us")} AS stay_p25_us,
           MIN(stay_us) AS stay_min_us,
           MAX(stay_us) AS stay_max_us,
           {pct(0.75, "stay_us")} FILTER (WHERE advanced = 1 AND {needs_p75}) AS advanced_stay_p75_us,
           salesproc_km_median(COALESCE(stay_us, censored_us), CASE WHEN stay_us IS NULL THEN 0 ELSE 1 END)
               AS km_median_us,
           {reached}
    FROM first_entry
    GROUP BY stage_idx
),
threshold AS (
    SELECT s.stage_idx, {_THRESHOLD.format(expected=expected)} AS threshold_us
    FROM stage_stat s
    JOIN stage_stat p ON p.stage_idx = s.stage_idx
),
stage_row AS (
    SELECT s.stage_idx, s.entered, s.advanced, s.dropped, s.won, s.lost, s.left_count,
           s.stay_p50_us, s.stay_p75_us, s.stay_p90_us, s.km_median_us, t.threshold_us,
           s.stay_p10_us, s.stay_p25_us, s.stay_min_us, s.stay_max_us,
           s.idle_here + (
               SELECT COUNT(*) FROM first_entry fe
               WHERE fe.stage_idx = s.stage_idx AND fe.open_here = 1 AND fe.idle = 0
                 AND fe.in_stage_us > t.threshold_us
           ) AS stalled,
           {reached_columns}
    FROM stage_stat s
    JOIN threshold t ON t.stage_idx = s.stage_idx
),
summary AS ({_SUMMARY_SUMS}
           (SELECT {pct(0.5, "cycle_us")} FROM first_entry WHERE deal_first = 1) AS cycle_p50_us
    FROM stage_stat
)"""
