"""History import benchmark: 100k deals with 500k stage entries, imported into a fresh organization.

Generates the two CSV files (the `import_history` format) into a temporary folder, creates an
organization with the demo's "New business" process on the database of DATABASE_URL (migrating it
first), and times `history_import_run`:

1. the first import (everything created),
2. the same files again (a no-op: every deal compared and skipped),
3. files where a share of the deals changed (fields, tags and history): updates and replaced history.

The organization and everything imported are deleted at the end unless --keep is given.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/salesproc_bench .venv/bin/python bench/import_bench.py
    ... bench/import_bench.py --deals 10000 --entries 5 --changed 0.1 --keep
"""

import argparse
import csv
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

COMPETITORS = ["Northbeam", "Quantive", "Vendora", "Stackwise", "In-house build"]
OBJECTIONS = ["Price too high", "Security review", "Integration effort", "Timing", "Switching cost"]
INDUSTRIES = ["Manufacturing", "Software", "Retail", "Logistics", "Energy", "Healthcare"]


def generate(folder: Path, *, deals: int, entries: int, stages: list[str], seed: int, changed: float = 0.0):
    """Write deals.csv and history.csv; `entries` is the average number of history rows per deal. With
    `changed`, that share of the deals (the same ones for a given seed) differ from the first files."""
    rng = random.Random(seed)
    change_rng = random.Random(seed + 1)
    start = datetime(2023, 1, 1, tzinfo=UTC)
    deals_path, history_path = folder / "deals.csv", folder / "history.csv"
    history_rows = 0
    with (
        open(deals_path, "w", newline="", encoding="utf-8") as deals_file,
        open(history_path, "w", newline="", encoding="utf-8") as history_file,
    ):
        deal_writer, history_writer = csv.writer(deals_file), csv.writer(history_file)
        deal_writer.writerow(
            [
                "external_id", "name", "account", "industry", "owner_email", "amount", "currency",
                "created_at", "status", "closed_at", "lost_reason", "competitors", "objections",
            ]
        )  # fmt: skip
        history_writer.writerow(["external_id", "stage", "entered_at"])
        for i in range(deals):
            external_id = f"CRM-{i:07d}"
            created = start + timedelta(minutes=rng.randint(0, 600 * 24 * 60))
            count = max(1, min(len(stages), round(rng.gauss(entries, 1.2))))
            at = created
            times = []
            for _ in range(count):
                at += timedelta(minutes=rng.randint(60, 30 * 24 * 60))
                times.append(at)
            # A changed deal draws the same random numbers as before (so every other deal stays the
            # same), then loses its last stage entry or gains one.
            change = changed > 0 and change_rng.random() < changed
            if change:
                times = times[:-1] if count > 1 else [*times, times[-1] + timedelta(days=3)]
            status = rng.choice(["open", "open", "won", "lost"])
            closed = times[-1] + timedelta(days=rng.randint(1, 20)) if status != "open" else None
            amount = rng.randint(1_000, 250_000)
            deal_writer.writerow(
                [
                    external_id,
                    f"Deal {i}" + (" (renamed)" if change else ""),
                    f"Account {rng.randint(0, deals // 5)}",
                    rng.choice(INDUSTRIES),
                    f"owner{rng.randint(0, 49)}@bench.test",
                    f"{amount + (100 if change else 0)}.00",
                    "USD",
                    created.isoformat(),
                    status,
                    closed.isoformat() if closed else "",
                    "Price" if status == "lost" else "",
                    ";".join(rng.sample(COMPETITORS, rng.randint(0, 2))),
                    ";".join(
                        rng.sample(OBJECTIONS, rng.randint(0, 2)) + (["Budget freeze"] if change else [])
                    ),
                ]
            )
            for k, entered in enumerate(times):
                history_writer.writerow([external_id, stages[k], entered.isoformat().replace("+00:00", "Z")])
            history_rows += len(times)
    return deals_path, history_path, history_rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--deals", type=int, default=100_000)
    parser.add_argument("--entries", type=float, default=5.0, help="average history rows per deal")
    parser.add_argument(
        "--changed", type=float, default=0.1, help="share of deals changed in run 3 (0: skip)"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the organization and its data")
    args = parser.parse_args()

    os.environ.setdefault("DEBUG", "1")
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salesproc.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from deals.demo_data import NEW_BUSINESS
    from deals.models import Deal, StageChange
    from iteration.history_import import history_import_run
    from orgs.services import organization_create
    from salesproc.services import process_import

    call_command("migrate", verbosity=0)
    slug = f"import-bench-{int(time.time())}"
    org, admin = organization_create(name="Import bench", slug=slug, admin_email=f"admin@{slug}.test")
    process, _ = process_import(org=org, data=NEW_BUSINESS, by=None)
    stages = [s["name"] for s in NEW_BUSINESS["stages"]]
    print(f"database: {connection.vendor} {connection.settings_dict['NAME']}; organization {slug}")

    def run(label: str, deals_path: Path, history_path: Path) -> dict:
        deals_bytes, history_bytes = deals_path.read_bytes(), history_path.read_bytes()
        started = time.perf_counter()
        result = history_import_run(
            organization=org, process=process, deals_file=deals_bytes, history_file=history_bytes, by=None
        )
        seconds = time.perf_counter() - started
        print(f"{label:<28} {seconds:6.2f} s  {result}")
        return result

    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            started = time.perf_counter()
            deals_path, history_path, rows = generate(
                folder, deals=args.deals, entries=args.entries, stages=stages, seed=args.seed
            )
            size = (deals_path.stat().st_size + history_path.stat().st_size) / 2**20
            print(
                f"generated {args.deals:,} deals and {rows:,} history rows ({size:.0f} MB) "
                f"in {time.perf_counter() - started:.1f} s"
            )
            run("first import", deals_path, history_path)
            run("same files again (no-op)", deals_path, history_path)
            if args.changed > 0:
                changed_dir = folder / "changed"
                changed_dir.mkdir()
                deals_path, history_path, _ = generate(
                    changed_dir,
                    deals=args.deals,
                    entries=args.entries,
                    stages=stages,
                    seed=args.seed,
                    changed=args.changed,
                )
                run(f"{args.changed:.0%} of the deals changed", deals_path, history_path)
        print(
            f"in the database: {Deal.objects.for_org(org).count():,} deals, "
            f"{StageChange.objects.for_org(org).count():,} stage entries"
        )
    finally:
        if not args.keep:
            _delete_org(org)


def _delete_org(org) -> None:
    """Remove the bench organization with set-based deletes (the ORM cascade would load every row)."""
    from django.db import connection, transaction

    from deals.models import Account, Deal, DealTag, StageChange
    from orgs.models import Membership, User

    user_ids = list(Membership.objects.filter(organization=org).values_list("user_id", flat=True))
    with transaction.atomic():
        for model in (StageChange, DealTag):
            model.objects.filter(organization=org)._raw_delete(connection.alias)
        Deal.objects.filter(organization=org)._raw_delete(connection.alias)
        Account.objects.filter(organization=org)._raw_delete(connection.alias)
        org.delete()
        User.objects.filter(pk__in=user_ids, memberships__isnull=True).delete()
    # The deleted rows would stay behind as dead rows and slow the next run's inserts (a fresh
    # database has none): reclaim them, outside any transaction.
    with connection.cursor() as cursor:
        for model in (StageChange, DealTag, Deal, Account):
            cursor.execute(f"VACUUM ANALYZE {connection.ops.quote_name(model._meta.db_table)}")


if __name__ == "__main__":
    main()
