"""Metrics engine benchmark: `process_metrics` on a large process, against the floor of one hand-written
query that computes only per-stage entered / advanced / dropped and the median days in stage.

Generates (COPY, about a minute for 200k deals) two organizations on the database of DATABASE_URL,
each with one seven-stage process in two versions and deals whose histories skip, go back, re-enter,
win, lose and stay open:

- `metrics-bench`: --deals deals (default 200k, about 1M stage entries),
- `metrics-bench-small`: --small-deals deals (default 10k, about 50k stage entries).

Then, per organization: the median of --runs timed runs of process_metrics (after one warm-up run),
of the floor query (as the server runs it, and with JIT off as the engine runs), their ratio, a few
filtered variants, conversion by month (which the insights page computes live) and the days-in-stage
distribution statement (which it runs only for an old snapshot). Goals: full refresh ≤ 1.5 s
and ≤ 2× the floor at 200k deals; ≤ 100 ms for the small organization.

    DJANGO_SETTINGS_MODULE=salesproc.settings DEBUG=1 \\
        DATABASE_URL=postgres://postgres@127.0.0.1:5432/salesproc_bench .venv/bin/python bench/metrics_bench.py
    ... bench/metrics_bench.py --deals 20000 --small-deals 2000 --runs 3
    ... bench/metrics_bench.py --reuse   # keep the generated organizations from the last run
"""

import argparse
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PROCESS = {
    "name": "Bench new business",
    "stages": [
        {"name": "Qualify", "phase": "change", "probability": 5, "expected_days": 10},
        {"name": "Discover", "phase": "change", "probability": 10, "expected_days": 14},
        {"name": "Solution fit", "phase": "change", "probability": 20, "expected_days": None},
        {"name": "Business case", "phase": "decision", "probability": 35, "expected_days": 21},
        {"name": "Proposal", "phase": "decision", "probability": 50, "expected_days": None},
        {"name": "Negotiation", "phase": "decision", "probability": 70, "expected_days": 14},
        {"name": "Commit", "phase": "decision", "probability": 90, "expected_days": None},
    ],
}
LOSE = [0.10, 0.08, 0.07, 0.07, 0.06, 0.08, 0.03]
STAY_DAYS = [6, 10, 14, 18, 12, 10, 5]
INDUSTRIES = ["Manufacturing", "Software", "Retail", "Logistics", "Energy", "Healthcare"]
HISTORY_DAYS = 540
VERSION_2_DAYS_AGO = 180
CHUNK = 5000


def floor_sql() -> str:
    """The least any engine must do: first entries per (deal, stage), whether each advanced, and the
    median stay. One statement, PostgreSQL only."""
    return """
WITH e AS (
    SELECT sc.to_stage_id, st."order" AS o, sc.entered_at, sc.left_at, d.status,
           ROW_NUMBER() OVER (PARTITION BY sc.deal_id, sc.to_stage_id ORDER BY sc.entered_at, sc.id) AS rn,
           MAX(st."order") OVER (PARTITION BY sc.deal_id ORDER BY sc.entered_at, sc.id
                                 ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS later
    FROM deals_stagechange sc
    JOIN deals_deal d ON d.id = sc.deal_id
    JOIN salesproc_stage st ON st.id = sc.to_stage_id
    WHERE d.process_id = %s
), f AS (
    SELECT to_stage_id, status, left_at - entered_at AS stay,
           CASE WHEN later > o OR status = 'won' THEN 1 ELSE 0 END AS adv
    FROM e WHERE rn = 1
)
SELECT to_stage_id, COUNT(*) AS entered, SUM(adv) AS advanced,
       SUM(CASE WHEN adv = 0 AND status = 'lost' THEN 1 ELSE 0 END) AS dropped,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM stay)) / 86400 AS median_days
FROM f GROUP BY to_stage_id
"""


def route(
    rng: random.Random, stages: int, start: float, now: float
) -> tuple[list[tuple[int, float]], str, float]:
    """One deal's path: [(stage index, entered day)], its status, and its close day (or None)."""
    k, t, path, backs = 0, start, [], 0
    while True:
        path.append((k, t))
        stay = STAY_DAYS[k] * rng.lognormvariate(-0.2, 0.6) * (4 if rng.random() < 0.04 else 1)
        if t + stay >= now:
            return path, "open", None
        t += stay
        r = rng.random()
        if r < LOSE[k]:
            return path, "lost", t
        if k == stages - 1:
            return path, "won", t
        if r < LOSE[k] + 0.04 and k > 0 and backs < 2:
            backs += 1
            k -= 1
        elif r < LOSE[k] + 0.08 and k + 2 < stages:
            k += 2
        elif r < LOSE[k] + 0.10:
            return path, "won", t  # won early
        else:
            k += 1


def generate(*, slug: str, deals: int, seed: int, now: datetime) -> tuple[int, int]:
    """Create the organization, its process (two versions) and `deals` deals with their histories."""
    from django.db import transaction

    from deals.models import Account, Deal, StageChange
    from orgs.models import Membership, Organization, Role, User
    from salesproc.lib.bulk_insert import bulk_insert
    from salesproc.models import ProcessVersion, Stage
    from salesproc.services import process_import

    rng = random.Random(seed)
    with transaction.atomic():
        org = Organization.objects.create(name=f"Metrics bench {slug}", slug=slug)
        owners = []
        for n in range(8):
            user, _ = User.objects.get_or_create(email=f"bench-rep{n}@{slug}.test")
            owners.append(Membership.objects.create(organization=org, user=user, role=Role.REP).user_id)
        process, v1 = process_import(org=org, data=PROCESS, by=None)
        changed = {
            **PROCESS,
            "stages": [{**s, "probability": s["probability"] + 2} for s in PROCESS["stages"]],
        }
        _, v2 = process_import(org=org, data=changed, by=None)
        v2_start = -VERSION_2_DAYS_AGO
        ProcessVersion.objects.filter(pk=v2.pk).update(created_at=now + timedelta(days=v2_start))
        stages = list(Stage.objects.filter(process=process).order_by("order"))
        accounts = bulk_insert(
            Account,
            ("organization_id", "name", "industry", "created_at"),
            [(org.id, f"Account {i}", rng.choice(INDUSTRIES), now) for i in range(200)],
            returning_ids=True,
        )
        entries_total = 0

        def at(d: float) -> datetime:
            return now + timedelta(days=d)

        for chunk_start in range(0, deals, CHUNK):
            deal_rows, paths = [], []
            for i in range(chunk_start, min(deals, chunk_start + CHUNK)):
                path, status, closed = route(rng, len(stages), -rng.uniform(1, HISTORY_DAYS), 0.0)
                last_stage, last_entered = path[-1]
                deal_rows.append(
                    (
                        org.id, f"Deal {i}", rng.choice(accounts), rng.choice(owners), process.id,
                        stages[last_stage].id, status, Decimal(rng.randrange(20, 2000) * 100), "USD",
                        None if closed is None else at(closed), rng.choice(INDUSTRIES), len(path),
                        at(last_entered), at(closed if closed is not None else max(last_entered, -rng.uniform(0, 30))),
                        at(path[0][1]), at(closed if closed is not None else last_entered),
                    )
                )  # fmt: skip
                paths.append((path, closed))
            ids = bulk_insert(
                Deal,
                (
                    "organization_id", "name", "account_id", "owner_id", "process_id", "stage_id", "status",
                    "amount", "currency", "closed_at", "industry", "version", "stage_entered_at",
                    "last_activity_at", "created_at", "updated_at",
                ),
                deal_rows,
                returning_ids=True,
            )  # fmt: skip
            entry_rows = []
            for deal_id, (path, closed) in zip(ids, paths, strict=True):
                previous = None
                for n, (k, entered) in enumerate(path):
                    left = path[n + 1][1] if n + 1 < len(path) else closed
                    version = v2.id if entered >= v2_start else v1.id
                    entry_rows.append(
                        (
                            org.id, deal_id, previous, stages[k].id, at(entered),
                            None if left is None else at(left), version, "", [],
                        )
                    )  # fmt: skip
                    previous = stages[k].id
            bulk_insert(
                StageChange,
                (
                    "organization_id", "deal_id", "from_stage_id", "to_stage_id", "entered_at", "left_at",
                    "process_version_id", "override_reason", "overridden_criteria",
                ),
                entry_rows,
            )  # fmt: skip
            entries_total += len(entry_rows)
    return process.id, entries_total


def backend_cpu_seconds(pid: int) -> float | None:
    """CPU time used so far by the PostgreSQL backend `pid`, when the server runs on this machine: a
    figure that, unlike wall time, does not move with the machine's load."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(cases: dict, runs: int, pid: int) -> dict[str, tuple[float, float | None]]:
    """Median wall time and median backend CPU time of each case, runs interleaved (after one warm-up
    run each) so that a change in the machine's load hits every case alike."""
    for fn in cases.values():
        fn()  # plans, caches
    wall: dict[str, list[float]] = {name: [] for name in cases}
    cpu: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(runs):
        for name, fn in cases.items():
            cpu_before = backend_cpu_seconds(pid)
            start = time.perf_counter()
            fn()
            wall[name].append(time.perf_counter() - start)
            cpu_after = backend_cpu_seconds(pid)
            if cpu_before is not None and cpu_after is not None:
                cpu[name].append(cpu_after - cpu_before)
    return {
        name: (statistics.median(wall[name]), statistics.median(cpu[name]) if cpu[name] else None)
        for name in cases
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--deals", type=int, default=200_000)
    parser.add_argument("--small-deals", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--reuse", action="store_true", help="keep the organizations of the last run")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salesproc.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from deals.models import Deal
    from iteration.metrics import MetricFilters, process_metrics
    from iteration.trends import conversion_by_month, days_in_stage_distribution
    from orgs.models import Organization
    from salesproc.models import Process

    if connection.vendor != "postgresql":
        raise SystemExit("The metrics benchmark runs on PostgreSQL: set DATABASE_URL=postgres://...")
    call_command("migrate", verbosity=0)
    now = datetime.now(UTC).replace(microsecond=0)
    sizes = {"metrics-bench": args.deals, "metrics-bench-small": args.small_deals}
    for slug, deals in sizes.items():
        org = Organization.objects.filter(slug=slug).first()
        if org is not None and args.reuse and Deal.objects.filter(organization=org).count() == deals:
            continue
        if org is not None:
            with connection.cursor() as cursor:  # faster than the ORM's cascade over a million rows
                for table in ("deals_stagechange", "deals_deal", "deals_account"):
                    cursor.execute(f"DELETE FROM {table} WHERE organization_id = %s", [org.id])
            org.delete()
        start = time.perf_counter()
        _, entries = generate(slug=slug, deals=deals, seed=args.seed, now=now)
        print(
            f"generated {slug}: {deals} deals, {entries} stage entries in {time.perf_counter() - start:.1f} s"
        )
    with connection.cursor() as cursor:
        for table in ("deals_stagechange", "deals_deal"):
            cursor.execute(f"VACUUM ANALYZE {table}")

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    print(f"\nmedian of {args.runs} runs; wall time, and in brackets the PostgreSQL backend's CPU time")
    for slug in sizes:
        process = Process.objects.select_related("organization").get(organization__slug=slug)
        deals = Deal.objects.filter(process=process).count()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT COUNT(*) FROM deals_stagechange sc JOIN deals_deal d ON d.id = sc.deal_id"
                " WHERE d.process_id = %s",
                [process.id],
            )
            entries = cursor.fetchone()[0]
        versions = list(process.versions.order_by("number").values_list("number", flat=True))

        def floor(process=process):
            with connection.cursor() as cursor:
                cursor.execute(floor_sql(), [process.id])
                return cursor.fetchall()

        def floor_without_jit(process=process):
            # The engine turns JIT off for its statement; the floor, so measured, is the fair comparison.
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET LOCAL jit = off")
                cursor.execute(floor_sql(), [process.id])
                return cursor.fetchall()

        def snapshot(process=process, versions=versions):
            # What a MetricSnapshot holds: the whole process, and each version's cohorts.
            process_metrics(process=process)
            for number in versions:
                process_metrics(process=process, filters=MetricFilters(process_version=number))

        cases = {
            "process_metrics, no filters": lambda process=process: process_metrics(process=process),
            "floor (one hand-written query)": floor,
            "floor, JIT off": floor_without_jit,
            "version 2 cohort": lambda process=process: process_metrics(
                process=process, filters=MetricFilters(process_version=2)
            ),
            "last 90 days cohort": lambda process=process: process_metrics(
                process=process, filters=MetricFilters(entered_from=now - timedelta(days=90))
            ),
            "one industry, amount >= 50k": lambda process=process: process_metrics(
                process=process, filters=MetricFilters(industry="Retail", amount_min=50000)
            ),
            f"snapshot: all + {len(versions)} versions": snapshot,
            # What the insights page computes live besides the snapshot (its box plot is read from the
            # funnel's numbers; the distribution statement runs only for snapshots older than that).
            "insights: conversion by month": lambda process=process: conversion_by_month(process=process),
            "distribution statement": lambda process=process: days_in_stage_distribution(process=process),
        }
        results = timed(cases, args.runs, pid)
        print(f"\n{slug}: {deals} deals, {entries} stage entries")
        for name, (wall, cpu) in results.items():
            cpu_text = f"  ({cpu * 1000:6.0f} ms CPU)" if cpu is not None else ""
            print(f"  {name:34} {wall * 1000:8.0f} ms{cpu_text}")
        engine, engine_cpu = results["process_metrics, no filters"]
        for floor_case, label in (
            ("floor (one hand-written query)", "ratio engine / floor"),
            ("floor, JIT off", "ratio engine / floor, JIT off"),
        ):
            base, base_cpu = results[floor_case]
            ratio_cpu = f"  ({engine_cpu / base_cpu:.2f} × CPU)" if engine_cpu and base_cpu else ""
            print(f"  {label:34} {engine / base:8.2f} ×{ratio_cpu}")
        check = process_metrics(process=process)
        print(
            "  summary: "
            + ", ".join(f"{k} {check['summary'][k]}" for k in ("deals", "open", "won", "lost", "win_rate"))
        )


if __name__ == "__main__":
    main()
