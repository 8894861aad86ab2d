"""The stall job: bring an organization's flags in line with its open deals and rules, set-based; and
the immediate clear the deal services call when a deal moves, closes or gets activity."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from deals.models import Deal, DealStatus
from iteration.models import StallFlag, StallRuleKind
from iteration.stalls.flags import with_level_rank
from iteration.stalls.rules import (
    CLEARED_BY_MOVE,
    RULE_TIMESTAMP,
    EffectiveRule,
    rules_by_stage,
    stall_thresholds,
)
from orgs.models import Organization
from salesproc.models import Stage


@dataclass(frozen=True)
class StallRefresh:
    """What one run of the job did."""

    open_deals: int
    flags: int
    created: int
    updated: int
    deleted: int


def _desired_flags(
    deals: Iterable[tuple],
    rules: dict[int, dict[str, EffectiveRule]],
    stage_names: dict[int, str],
    now: datetime,
) -> dict[tuple[int, str], tuple[int, str, float, float, str]]:
    """{(deal id, rule): (stage id, level, days, threshold, reason)} for the open deals given as
    (id, stage_id, *the RULE_TIMESTAMP columns)."""
    active = {
        stage_id: [(kind, rule) for kind, rule in by_kind.items() if rule.is_active]
        for stage_id, by_kind in rules.items()
    }
    column = {kind: 2 + i for i, kind in enumerate(RULE_TIMESTAMP)}
    # Many deals share a stage, rule and day count: build each flag's values once.
    made: dict[tuple[int, str, int], tuple | None] = {}
    out = {}
    for row in deals:
        stage_id = row[1]
        for kind, rule in active.get(stage_id, ()):
            days = (now - row[column[kind]]).days
            key = (stage_id, kind, days)
            values = made.get(key, False)
            if values is False:
                hit = rule.level_for(days)
                if hit is None:
                    values = None
                else:
                    level, limit = hit
                    reason = rule.reason(
                        days=days, level=level, limit=limit, stage_name=stage_names[stage_id]
                    )
                    values = (stage_id, level, float(days), float(limit), reason)
                made[key] = values
            if values is not None:
                out[(row[0], kind)] = values
    return out


def _batches(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# Upsert of new and changed flags on PostgreSQL: the rows travel as arrays (one parameter per column),
# so a first run or a rule change that rewrites 100k+ flags is one statement per 50k rows rather than
# building and compiling a model instance per row. `since` and the snooze are not in the UPDATE list,
# so they survive.
_PG_UPSERT = """
INSERT INTO {table} (organization_id, deal_id, rule, stage_id, level, days, threshold, reason, since,
                     updated_at, snooze_reason)
SELECT %s, u.deal_id, u.rule, u.stage_id, u.level, u.days, u.threshold, u.reason, %s, %s, ''
FROM unnest(%s::bigint[], %s::varchar[], %s::bigint[], %s::varchar[], %s::float8[], %s::float8[],
            %s::varchar[]) AS u(deal_id, rule, stage_id, level, days, threshold, reason)
ON CONFLICT (deal_id, rule) DO UPDATE SET
    stage_id = EXCLUDED.stage_id, level = EXCLUDED.level, days = EXCLUDED.days,
    threshold = EXCLUDED.threshold, reason = EXCLUDED.reason, updated_at = EXCLUDED.updated_at
"""
UPSERT_FIELDS = ["stage", "level", "days", "threshold", "reason", "updated_at"]


def _upsert_flags(org_id: int, rows: list[tuple], now: datetime) -> None:
    """Insert or update flags given as (deal_id, rule, stage_id, level, days, threshold, reason) on
    (deal, rule), keeping `since` and the snooze of those that exist."""
    if not rows:
        return
    if connection.vendor == "postgresql":
        sql = _PG_UPSERT.format(table=connection.ops.quote_name(StallFlag._meta.db_table))
        with connection.cursor() as cursor:
            for chunk in _batches(rows, 50_000):
                columns = [list(column) for column in zip(*chunk, strict=True)]
                cursor.execute(sql, [org_id, now, now, *columns])
        return
    StallFlag.objects.bulk_create(
        [
            StallFlag(
                organization_id=org_id,
                deal_id=deal_id,
                rule=rule,
                stage_id=stage_id,
                level=level,
                days=days,
                threshold=threshold,
                reason=reason,
                since=now,
                updated_at=now,
            )
            for deal_id, rule, stage_id, level, days, threshold, reason in rows
        ],
        batch_size=1000,
        update_conflicts=True,
        unique_fields=["deal", "rule"],
        update_fields=UPSERT_FIELDS,
    )


def stall_flags_refresh(*, organization: Organization, now: datetime | None = None) -> StallRefresh:
    """Bring the org's stall flags in line with its open deals and rules, as of `now`.

    Set-based and idempotent: a fixed number of reads (stages, thresholds, rules, open deals, flags)
    whatever the number of deals, then only the flags that appeared, changed or went away are written,
    in batches (upsert on (deal, rule), so a concurrent run cannot duplicate a flag). `since` and a
    snooze survive while the flag persists, even when its level rises; a `stalled` flag of a deal now
    in another stage is a new flag. A run that finds nothing changed writes nothing."""
    now = now or timezone.now()
    org = organization
    stages = list(Stage.objects.for_org(org).only("id", "name", "expected_days"))
    thresholds = stall_thresholds(organization=org, stages=stages)
    rules = rules_by_stage(
        organization=org, stage_ids=[s.id for s in stages], thresholds=thresholds, idle_days=org.idle_days
    )
    stage_names = {s.id: s.name for s in stages}
    with transaction.atomic():
        deals = list(
            Deal.objects.for_org(org)
            .open()
            .order_by()
            .values_list("id", "stage_id", *RULE_TIMESTAMP.values())
        )
        desired = _desired_flags(deals, rules, stage_names, now)
        stored_flags = (
            StallFlag.objects.for_org(org)
            .order_by()
            .values_list("id", "deal_id", "rule", "stage_id", "level", "days", "threshold", "reason")
        )
        existing = {(row[1], row[2]): (row[0], row[3:]) for row in stored_flags}
        gone: list[int] = []
        write: list[tuple[int, str, int, str, float, float, str]] = []
        created = updated = 0
        for key, (flag_id, stored) in existing.items():
            wanted = desired.get(key)
            # A deal stalled in a new stage is a new stall: it starts a new `since` (and snooze).
            if wanted is None or (key[1] == StallRuleKind.STALLED and wanted[0] != stored[0]):
                gone.append(flag_id)
        gone_set = set(gone)
        for key, wanted in desired.items():
            have = existing.get(key)
            if have is not None and have[0] not in gone_set:
                if have[1] == wanted:
                    continue
                updated += 1
            else:
                created += 1
            write.append((key[0], key[1], *wanted))
        if gone:
            size = min(5000, connection.ops.bulk_batch_size(["id"], gone))
            for chunk in _batches(gone, size):
                StallFlag.objects.filter(id__in=chunk).delete()
        _upsert_flags(org.id, write, now)
        # A deal moved or logged activity after `deals` was read: its immediate clear may have run
        # before the upsert above re-wrote the flag. Those flags cannot hold at `now`; drop them.
        StallFlag.objects.for_org(org).filter(
            Q(rule=StallRuleKind.STALLED, deal__stage_entered_at__gt=now)
            | Q(rule=StallRuleKind.NO_ACTIVITY, deal__last_activity_at__gt=now)
            | ~Q(deal__status=DealStatus.OPEN)
        ).delete()
    return StallRefresh(len(deals), len(desired), created, updated, len(gone))


def stall_flags_clear(deal: Deal, rules: Iterable[str] = CLEARED_BY_MOVE) -> int:
    """Delete the deal's flags of `rules` at once (one query). The deal services call it inside their
    transaction when a deal moves, closes or gets activity; returns how many flags went."""
    deleted, _ = StallFlag.objects.filter(deal_id=deal.pk, rule__in=list(rules)).delete()
    return deleted


def flag_dict(flag: StallFlag) -> dict:
    """A flag as `detect_stalls --format json` prints it (flag with deal and stage loaded)."""
    return {
        "deal_id": flag.deal_id,
        "external_id": flag.deal.external_id,
        "deal": flag.deal.name,
        "stage": flag.stage.name,
        "rule": flag.rule,
        "level": flag.level,
        "days": int(flag.days),
        "threshold": flag.threshold,
        "reason": flag.reason,
    }


def detect_stalls(*, organization: Organization, now: datetime | None = None) -> list[dict]:
    """Refresh the org's flags (`stall_flags_refresh`) and return every flag, worst first (level, then
    days), as dicts of `flag_dict`'s shape: one more query whatever the number of flags."""
    stall_flags_refresh(organization=organization, now=now)
    flags = (
        with_level_rank(StallFlag.objects.for_org(organization))
        .select_related("deal", "stage")
        .only(
            "id",
            "deal_id",
            "stage_id",
            "rule",
            "level",
            "days",
            "threshold",
            "reason",
            "snoozed_until",
            "deal__name",
            "deal__external_id",
            "stage__name",
        )
        .order_by("-level_rank", "-days", "deal_id", "rule")
    )
    return [flag_dict(f) for f in flags]
