"""The board's column totals: open deals per (stage, owner, currency), kept exact by the deal services.

Counting the open deals of a process on every board load reads every one of them (100k deals: ~12 ms
of SQL for the totals alone, more with a filter). The `StageRollup` rows hold the same numbers: the
services that change a deal's stage, status, owner, amount or currency call `rollup_track` in the same
transaction, as their last statement (the rollup rows are the hottest rows in the system: the shorter
they stay locked, the better), and the board sums a handful of rows.

Bulk writers (the demo seeder, importers) insert deals without the services and then call
`rollup_rebuild` for the organization, in their transaction. `rollup_drift` says where the rows and
the deals disagree (the `reconcile_rollups` command prints it, and repairs with `rollup_rebuild`).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Count, Sum

from deals.models import Deal, DealStatus, StageRollup
from orgs.models import Organization

ROLLUP_FIELDS = ("organization_id", "process_id", "stage_id", "owner_id", "currency", "amount", "status")


@dataclass(frozen=True)
class RollupEntry:
    """What one open deal adds to the rollups: one deal and its amount under its key."""

    organization_id: int
    process_id: int
    stage_id: int
    owner_id: int
    currency: str
    amount: Decimal

    @property
    def key(self) -> tuple[int, int, str]:
        return (self.stage_id, self.owner_id, self.currency)


def rollup_entry(deal) -> RollupEntry | None:
    """The deal's contribution to the rollups, or None when it does not count (it is closed).

    `deal` is a Deal or a dict of ROLLUP_FIELDS (from `.values()`)."""
    get = deal.get if isinstance(deal, dict) else lambda name: getattr(deal, name)
    if get("status") != DealStatus.OPEN:
        return None
    return RollupEntry(
        organization_id=get("organization_id"),
        process_id=get("process_id"),
        stage_id=get("stage_id"),
        owner_id=get("owner_id"),
        currency=get("currency"),
        amount=Decimal(str(get("amount") or 0)),
    )


def rollup_track(*, before: RollupEntry | None, after: RollupEntry | None) -> None:
    """Apply one deal write to the rollups: remove what `before` added, add `after`. Call it inside the
    write's transaction, after the deal row is written (and locked).

    One upsert statement whatever changed; its rows go in key order, so two writers that touch the
    same two rows lock them in the same order and never deadlock. Never raises for drift: a missing
    row is inserted with the delta (negative, if so) for the reconciler to repair."""
    if before == after:
        return
    deltas: dict[tuple[int, int, str], list] = {}
    for entry, sign in ((before, -1), (after, 1)):
        if entry is None:
            continue
        delta = deltas.setdefault(entry.key, [entry, 0, Decimal("0")])
        delta[1] += sign
        delta[2] += sign * entry.amount
    rows = [
        (e.organization_id, e.process_id, e.stage_id, e.owner_id, e.currency, count, amount)
        for key, (e, count, amount) in sorted(deltas.items())
        if count or amount
    ]
    if rows:
        _upsert(rows)


def _upsert(rows: list[tuple]) -> None:
    # INSERT … ON CONFLICT … DO UPDATE adds the deltas atomically (PostgreSQL and SQLite ≥ 3.24 share
    # the syntax); Django's bulk_create(update_conflicts=True) can only overwrite, not add.
    table = connection.ops.quote_name(StageRollup._meta.db_table)
    values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s)"] * len(rows))
    sql = (
        f"INSERT INTO {table} "
        "(organization_id, process_id, stage_id, owner_id, currency, open_count, amount_sum) "
        f"VALUES {values} "
        "ON CONFLICT (stage_id, owner_id, currency) DO UPDATE SET "
        f"open_count = {table}.open_count + EXCLUDED.open_count, "
        f"amount_sum = {table}.amount_sum + EXCLUDED.amount_sum"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [value for row in rows for value in row])


@dataclass(frozen=True)
class RollupDrift:
    """One rollup row that disagrees with the deals: what it says, and what the deals say."""

    process_id: int
    stage_id: int
    owner_id: int
    currency: str
    stored: tuple[int, Decimal]
    actual: tuple[int, Decimal]


def _actual(org: Organization) -> dict[tuple[int, int, str], tuple[int, int, Decimal]]:
    rows = (
        Deal.objects.for_org(org)
        .filter(status=DealStatus.OPEN)
        .values("process_id", "stage_id", "owner_id", "currency")
        .annotate(n=Count("id"), total=Sum("amount"))
        .order_by()
    )
    return {
        (r["stage_id"], r["owner_id"], r["currency"]): (r["process_id"], r["n"], r["total"] or Decimal("0"))
        for r in rows
    }


def _stored(org: Organization) -> dict[tuple[int, int, str], StageRollup]:
    return {(r.stage_id, r.owner_id, r.currency): r for r in StageRollup.objects.for_org(org)}


def _diff(org: Organization) -> tuple[list[RollupDrift], dict, dict]:
    actual, stored = _actual(org), _stored(org)
    drift = []
    for key in sorted(actual.keys() | stored.keys()):
        process_id, n, total = actual.get(key, (None, 0, Decimal("0")))
        row = stored.get(key)
        have = (row.open_count, row.amount_sum) if row else (0, Decimal("0"))
        if have != (n, total):
            drift.append(
                RollupDrift(
                    process_id=process_id if row is None else row.process_id,
                    stage_id=key[0],
                    owner_id=key[1],
                    currency=key[2],
                    stored=have,
                    actual=(n, total),
                )
            )
    return drift, actual, stored


def rollup_drift(*, org: Organization) -> list[RollupDrift]:
    """Every rollup row of `org` that disagrees with its open deals (none, when all is well). Reads
    the org's open deals once (a grouped query); writes nothing."""
    return _diff(org)[0]


@transaction.atomic
def rollup_rebuild(*, org: Organization) -> list[RollupDrift]:
    """Make the org's rollups exact again from its open deals; return what was wrong (fixed now).

    On PostgreSQL the rollup table is locked against writers (SHARE ROW EXCLUSIVE: readers go on,
    deal writes wait) while the deals are read and the rows fixed, so a deal write in between cannot
    be counted twice or lost; a rebuild takes about as long as counting the org's open deals once."""
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(StageRollup._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")
    drift, actual, stored = _diff(org)
    if not drift:
        return drift
    fix_keys = {(d.stage_id, d.owner_id, d.currency) for d in drift}
    changed, created, emptied = [], [], []
    for key in sorted(fix_keys):
        row = stored.get(key)
        if key not in actual:
            emptied.append(row.pk)
            continue
        process_id, n, total = actual[key]
        if row is None:
            created.append(
                StageRollup(
                    organization=org,
                    process_id=process_id,
                    stage_id=key[0],
                    owner_id=key[1],
                    currency=key[2],
                    open_count=n,
                    amount_sum=total,
                )
            )
        else:
            row.open_count, row.amount_sum = n, total
            changed.append(row)
    StageRollup.objects.filter(pk__in=emptied).delete()
    StageRollup.objects.bulk_update(changed, ["open_count", "amount_sum"])
    StageRollup.objects.bulk_create(created)
    return drift


def rollup_rebuild_all(*, orgs: Iterable[Organization]) -> dict[Organization, list[RollupDrift]]:
    """`rollup_rebuild` for each org (each in its own transaction); what each had wrong."""
    return {org: rollup_rebuild(org=org) for org in orgs}
