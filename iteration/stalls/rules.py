"""Stall rules: the stages' thresholds (expected days, or the data's p75), the defaults, and the
rules as the job applies them; ops set them through `stall_rule_set`."""

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection, transaction

from deals.models import Deal, DealStatus, StageChange
from iteration.models import STALL_LEVEL_RANK, StallLevel, StallRule, StallRuleKind
from orgs.models import Membership, Organization
from salesproc.lib.errors import InvalidInput, NotAllowed
from salesproc.models import Process, Stage

LEVELS: tuple[str, ...] = (StallLevel.ADVICE, StallLevel.WARNING, StallLevel.RED_FLAG)
KINDS: tuple[str, ...] = (StallRuleKind.AGE, StallRuleKind.STALLED, StallRuleKind.NO_ACTIVITY)
LEVEL_FIELDS = {
    StallLevel.ADVICE: "advice_days",
    StallLevel.WARNING: "warning_days",
    StallLevel.RED_FLAG: "red_flag_days",
}
# The default levels of `stalled`, as multiples of the stage's threshold.
STALLED_MULTIPLIERS = {StallLevel.ADVICE: 1.0, StallLevel.WARNING: 1.5, StallLevel.RED_FLAG: 2.0}
# A data-driven threshold needs this many deals that advanced from the stage (DESIGN.md).
MIN_ADVANCED_FOR_THRESHOLD = 10
# The deal's moment each rule counts from.
RULE_TIMESTAMP = {
    StallRuleKind.AGE: "created_at",
    StallRuleKind.STALLED: "stage_entered_at",
    StallRuleKind.NO_ACTIVITY: "last_activity_at",
}
# What the deal services clear at once (the job would only notice within the hour). A move resets the
# time in stage and counts as activity; activity resets only the idle time, since a deal that gets a
# call is still as long in its stage (clearing its `stalled` flag would only bring it back, with a new
# `since`, at the next run); a closed deal has no flags at all.
CLEARED_BY_MOVE = (StallRuleKind.STALLED, StallRuleKind.NO_ACTIVITY)
CLEARED_BY_ACTIVITY = (StallRuleKind.NO_ACTIVITY,)
CLEARED_BY_CLOSE = KINDS
MAX_RULE_DAYS = 3650
MAX_SNOOZE_DAYS = 365


def level_rank(level: str) -> int:
    return STALL_LEVEL_RANK[StallLevel(level)]


def _half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def no_activity_defaults(idle_days: int) -> tuple[int, int, int]:
    """The default no-activity levels for an org's idle limit: the limit, 1.5× and 30/14 of it (whole
    days, never decreasing): 14 / 21 / 30 for the default limit of 14 days."""
    advice = max(1, idle_days)
    warning = max(advice, _half_up(advice * 1.5))
    red_flag = max(warning, _half_up(advice * 30 / 14))
    return advice, warning, red_flag


def _fmt_days(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.1f}"


def _plural_days(x: float) -> str:
    return "1 day" if x == 1 else f"{_fmt_days(x)} days"


# ---- thresholds


@dataclass(frozen=True)
class StageThreshold:
    """A stage's stall threshold: `expected_days`, else the data's p75 (`advanced` deals behind it)."""

    stage_id: int
    days: float | None
    source: str  # "expected_days", "p75" or "none"
    advanced: int = 0

    def describe(self) -> str:
        if self.source == "expected_days":
            return f"{_plural_days(self.days)} (expected days)"
        if self.source == "p75":
            return f"{_plural_days(self.days)} (p75 of {self.advanced} deals that advanced)"
        if self.advanced:
            return f"none: only {self.advanced} deal{'s' if self.advanced != 1 else ''} advanced, 10 needed"
        return "none: no expected days and no deal has advanced yet"


def percentile_linear(sorted_values: Sequence[float], fraction: float) -> float:
    """The same interpolation as PostgreSQL's percentile_cont over already sorted values."""
    position = fraction * (len(sorted_values) - 1)
    lower = math.floor(position)
    upper = math.ceil(position)
    low_value = sorted_values[lower]
    if upper == lower:
        return low_value
    return low_value + (position - lower) * (sorted_values[upper] - low_value)


# Each deal's first entry into each stage, when the deal advanced from it: after that entry it entered a
# stage of higher order (the highest order among its later entries, a window over the deal's history
# in time order), or it was won. Window functions, so one pass over the history sorted by deal and time
# (what the index stage_change_deal_time serves) instead of two correlated lookups per entry.
_ADVANCED_FIRST_ENTRIES = """
WITH entries AS (
    SELECT sc.deal_id, sc.to_stage_id, sc.entered_at, sc.left_at, st.{order} AS stage_order,
           ROW_NUMBER() OVER (
               PARTITION BY sc.deal_id, sc.to_stage_id ORDER BY sc.entered_at, sc.id
           ) AS nth,
           MAX(st.{order}) OVER (
               PARTITION BY sc.deal_id ORDER BY sc.entered_at, sc.id
               ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING
           ) AS later_order
    FROM {stagechange} sc
    JOIN {stage} st ON st.id = sc.to_stage_id
    WHERE sc.organization_id = %s AND sc.deal_id IN (
        SELECT deal_id FROM {stagechange} WHERE organization_id = %s AND to_stage_id IN ({stage_ids})
    )
)
SELECT {select}
FROM entries e
JOIN {deal} d ON d.id = e.deal_id
WHERE e.nth = 1 AND e.left_at IS NOT NULL AND e.to_stage_id IN ({stage_ids})
  AND (e.later_order > e.stage_order OR d.status = %s)
{group}
"""


def _data_thresholds(organization: Organization, stage_ids: list[int]) -> dict[int, tuple[float | None, int]]:
    """{stage id: (p75 days or None, deals that advanced)} in one query: percentile_cont on PostgreSQL,
    the same interpolation in Python elsewhere. Rounded to 0.01 day so both give the same numbers."""
    if not stage_ids:
        return {}
    qn = connection.ops.quote_name
    postgres = connection.vendor == "postgresql"
    sql = _ADVANCED_FIRST_ENTRIES.format(
        order=qn("order"),
        stagechange=qn(StageChange._meta.db_table),
        stage=qn(Stage._meta.db_table),
        deal=qn(Deal._meta.db_table),
        stage_ids=", ".join(["%s"] * len(stage_ids)),
        select=(
            "e.to_stage_id, COUNT(*), percentile_cont(0.75) WITHIN GROUP "
            "(ORDER BY EXTRACT(EPOCH FROM (e.left_at - e.entered_at))::double precision)"
            if postgres
            else "e.to_stage_id, e.entered_at, e.left_at"
        ),
        group="GROUP BY e.to_stage_id" if postgres else "",
    )
    params = [organization.pk, organization.pk, *stage_ids, *stage_ids, DealStatus.WON.value]
    out: dict[int, tuple[float | None, int]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if postgres:
        for stage_id, n, p75 in rows:
            out[stage_id] = (round(p75 / 86400, 2) if n >= MIN_ADVANCED_FOR_THRESHOLD else None, n)
        return out
    by_stage: dict[int, list[float]] = {}
    for stage_id, entered_at, left_at in rows:
        seconds = (_as_datetime(left_at) - _as_datetime(entered_at)).total_seconds()
        by_stage.setdefault(stage_id, []).append(seconds)
    for stage_id, values in by_stage.items():
        values.sort()
        n = len(values)
        p75 = percentile_linear(values, 0.75) if n >= MIN_ADVANCED_FOR_THRESHOLD else None
        out[stage_id] = (round(p75 / 86400, 2) if p75 is not None else None, n)
    return out


def _as_datetime(value) -> datetime:
    # SQLite hands raw SQL its timestamps as text ("2026-03-02 10:00:00.123456").
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def stall_thresholds(
    *, organization: Organization, stages: Iterable[Stage] | None = None
) -> dict[int, StageThreshold]:
    """The stall threshold of each stage of the org (or of `stages`): `expected_days` when set, else the
    p75 of days in the stage over deals that advanced from it when at least 10 did, else none.

    One query for the data-driven thresholds of all stages at once (plus one for the stages when they
    are not given), whatever the number of deals."""
    if stages is None:
        stages = Stage.objects.for_org(organization).only("id", "expected_days")
    stages = list(stages)
    data = _data_thresholds(organization, [s.id for s in stages if s.expected_days is None])
    out = {}
    for s in stages:
        if s.expected_days is not None:
            out[s.id] = StageThreshold(s.id, float(s.expected_days), "expected_days")
        else:
            days, n = data.get(s.id, (None, 0))
            out[s.id] = StageThreshold(s.id, days, "p75" if days is not None else "none", n)
    return out


# ---- rules


@dataclass(frozen=True)
class EffectiveRule:
    """One rule of one stage as the job applies it: the days of each level (None = that level is off).

    `row` is the stage's StallRule, or None when the defaults apply."""

    stage_id: int
    kind: str
    enabled: bool
    limits: dict[str, float | None]
    row: StallRule | None = None
    threshold: StageThreshold | None = None
    # Which levels come from the threshold × multiplier (stalled levels left empty).
    from_threshold: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_default(self) -> bool:
        return self.row is None

    @property
    def is_active(self) -> bool:
        return self.enabled and any(v is not None for v in self.limits.values())

    def level_for(self, days: int) -> tuple[str, float] | None:
        """The worst level whose days `days` exceeds, with those days; None when none does."""
        if not self.enabled:
            return None
        for level in reversed(LEVELS):
            limit = self.limits[level]
            if limit is not None and days > limit:
                return level, limit
        return None

    def reason(self, *, days: int, level: str, limit: float, stage_name: str) -> str:
        label = StallLevel(level).label.lower()
        if self.kind == StallRuleKind.STALLED:
            if level in self.from_threshold and self.threshold is not None:
                factor = STALLED_MULTIPLIERS[level]
                times = "" if factor == 1 else f"{_fmt_days(factor)}× "
                why = f"past {times}its {_fmt_days(self.threshold.days)}-day threshold"
                why += (
                    " (expected days)"
                    if self.threshold.source == "expected_days"
                    # Not the sample size: it moves with every deal that advances, and would rewrite
                    # every flag of the stage each hour.
                    else (" (p75 of deals that advanced)")
                )
            else:
                why = f"past the {_fmt_days(limit)}-day {label} limit"
            text = f"{_plural_days(days)} in {stage_name}, {why}"
        elif self.kind == StallRuleKind.NO_ACTIVITY:
            text = f"No activity or stage change for {_plural_days(days)}, past the {_fmt_days(limit)}-day {label} limit"
        else:
            text = f"Open for {_plural_days(days)}, past the {_fmt_days(limit)}-day {label} limit in {stage_name}"
        return text[:300]


def _effective_rule(
    *,
    stage_id: int,
    kind: str,
    row: StallRule | None,
    threshold: StageThreshold | None,
    idle_days: int,
) -> EffectiveRule:
    if kind == StallRuleKind.STALLED:
        base = threshold.days if threshold is not None else None
        limits: dict[str, float | None] = {}
        from_threshold = set()
        for level in LEVELS:
            days = getattr(row, LEVEL_FIELDS[level]) if row is not None else None
            if days is not None:
                limits[level] = float(days)
            elif base is not None:
                limits[level] = round(base * STALLED_MULTIPLIERS[level], 2)
                from_threshold.add(level)
            else:
                limits[level] = None
        return EffectiveRule(
            stage_id,
            kind,
            row.enabled if row is not None else True,
            limits,
            row,
            threshold,
            frozenset(from_threshold),
        )
    if row is not None:
        limits = {level: _float_or_none(getattr(row, LEVEL_FIELDS[level])) for level in LEVELS}
        return EffectiveRule(stage_id, kind, row.enabled, limits, row, threshold)
    if kind == StallRuleKind.NO_ACTIVITY:
        limits = dict(zip(LEVELS, map(float, no_activity_defaults(idle_days)), strict=True))
        return EffectiveRule(stage_id, kind, True, limits, None, threshold)
    return EffectiveRule(stage_id, kind, True, dict.fromkeys(LEVELS), None, threshold)


def _float_or_none(value) -> float | None:
    return float(value) if value is not None else None


def rules_by_stage(
    *,
    organization: Organization,
    stage_ids: list[int],
    thresholds: dict[int, StageThreshold],
    idle_days: int,
) -> dict[int, dict[str, EffectiveRule]]:
    rows = {
        (r.stage_id, r.kind): r
        for r in StallRule.objects.for_org(organization).filter(stage_id__in=stage_ids)
    }
    return {
        stage_id: {
            kind: _effective_rule(
                stage_id=stage_id,
                kind=kind,
                row=rows.get((stage_id, kind)),
                threshold=thresholds.get(stage_id),
                idle_days=idle_days,
            )
            for kind in KINDS
        }
        for stage_id in stage_ids
    }


def stall_rules_for_process(
    *, process: Process
) -> list[tuple[Stage, StageThreshold, dict[str, EffectiveRule]]]:
    """Each stage of the process in order, with its threshold and its three rules as applied.

    Three queries (stages, thresholds, rule rows), whatever the number of stages and deals."""
    stages = list(Stage.objects.for_org(process.organization).filter(process=process).order_by("order"))
    thresholds = stall_thresholds(organization=process.organization, stages=stages)
    rules = rules_by_stage(
        organization=process.organization,
        stage_ids=[s.id for s in stages],
        thresholds=thresholds,
        idle_days=process.organization.idle_days,
    )
    return [(s, thresholds[s.id], rules[s.id]) for s in stages]


def stall_rules_for_org(
    *, organization: Organization
) -> list[tuple[Process, list[tuple[Stage, StageThreshold, dict[str, EffectiveRule]]]]]:
    """Every process of the org (active first, by name) with its stages in order, each with its
    threshold and three rules as applied. Three queries whatever the number of processes and deals."""
    stages = list(
        Stage.objects.for_org(organization)
        .select_related("process")
        .order_by("-process__is_active", "process__name", "process_id", "order")
    )
    thresholds = stall_thresholds(organization=organization, stages=stages)
    rules = rules_by_stage(
        organization=organization,
        stage_ids=[s.id for s in stages],
        thresholds=thresholds,
        idle_days=organization.idle_days,
    )
    out: list[tuple[Process, list]] = []
    for s in stages:
        if not out or out[-1][0].id != s.process_id:
            out.append((s.process, []))
        out[-1][1].append((s, thresholds[s.id], rules[s.id]))
    return out


def stall_rules_for_stage(*, stage: Stage) -> tuple[StageThreshold, dict[str, EffectiveRule]]:
    """One stage's threshold and three rules as applied (two queries)."""
    org = stage.organization
    thresholds = stall_thresholds(organization=org, stages=[stage])
    rules = rules_by_stage(
        organization=org, stage_ids=[stage.id], thresholds=thresholds, idle_days=org.idle_days
    )
    return thresholds[stage.id], rules[stage.id]


def _clean_rule_days(kind: str, data: dict) -> tuple[dict[str, int | None], dict[str, list[str]]]:
    errors: dict[str, list[str]] = {}
    days: dict[str, int | None] = {}
    for level in LEVELS:
        name = LEVEL_FIELDS[level]
        raw = data.get(name)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            days[name] = None
            continue
        if isinstance(raw, bool):
            errors[name] = ["A whole number of days."]
            continue
        try:
            value = int(str(raw).strip())
        except (TypeError, ValueError):
            errors[name] = ["A whole number of days."]
            continue
        if not 1 <= value <= MAX_RULE_DAYS:
            errors[name] = [f"Between 1 and {MAX_RULE_DAYS} days."]
            continue
        days[name] = value
    if not errors:
        ordered = [
            (LEVEL_FIELDS[lv], days[LEVEL_FIELDS[lv]]) for lv in LEVELS if days[LEVEL_FIELDS[lv]] is not None
        ]
        for (low_name, low), (high_name, high) in zip(ordered, ordered[1:], strict=False):
            if high < low:
                low_label = low_name.removesuffix("_days").replace("_", " ")
                errors[high_name] = [f"At least the {low_label} days ({low}): advice ≤ warning ≤ red flag."]
    return days, errors


def _is_default_config(kind: str, enabled: bool, days: dict[str, int | None], idle_days: int) -> bool:
    """True when a row with these values would behave exactly like no row (the defaults)."""
    values = tuple(days[LEVEL_FIELDS[lv]] for lv in LEVELS)
    if kind == StallRuleKind.STALLED:
        return enabled and values == (None, None, None)
    if kind == StallRuleKind.AGE:
        return values == (None, None, None)
    return enabled and values == no_activity_defaults(idle_days)


@transaction.atomic
def stall_rule_set(
    *,
    stage: Stage,
    by: Membership,
    kind: str,
    enabled: bool = True,
    advice_days: int | str | None = None,
    warning_days: int | str | None = None,
    red_flag_days: int | str | None = None,
) -> StallRule | None:
    """Set one rule of a stage (ops and admins). Days are whole and positive, advice ≤ warning ≤ red flag
    among those set; empty days switch that level off (for `stalled`: threshold × 1, 1.5, 2).

    Values that behave exactly like the defaults remove the stage's row (returns None), so the stage
    follows the defaults again, e.g. when the org's idle limit changes."""
    if by.organization_id != stage.organization_id:
        raise InvalidInput({"__all__": ["Not found."]})
    if not by.can_edit_process:
        raise NotAllowed("Only ops and admins edit the stall rules.")
    if kind not in KINDS:
        raise InvalidInput({"kind": [f"Choose one of {', '.join(KINDS)}."]})
    days, errors = _clean_rule_days(
        kind, {"advice_days": advice_days, "warning_days": warning_days, "red_flag_days": red_flag_days}
    )
    if errors:
        raise InvalidInput(errors)
    enabled = bool(enabled)
    if _is_default_config(kind, enabled, days, by.organization.idle_days):
        StallRule.objects.filter(stage=stage, kind=kind).delete()
        return None
    rule, _ = StallRule.objects.update_or_create(
        stage=stage,
        kind=kind,
        defaults={"organization_id": stage.organization_id, "enabled": enabled, **days},
    )
    return rule
