"""Playbooks triggering benchmark: re-evaluating one play across 100k open deals (goal ≤ 5 s) and
evaluating every active play for one deal after an edit, with 200 plays (goal ≤ 20 ms).

Generates (COPY, well under a minute) an organization `playbooks-bench` on the database of DATABASE_URL
with one seven-stage process and --deals open deals (default 100k) carrying industries, amounts,
budgets, lead sources, competitors, objections and stakeholders, plus --plays active plays (default
200) over every field of the condition language, most with steps.

Bulk (`play_reevaluate`, what the Celery job runs), median of --runs sequences of:
  attach      a new play, condition matching about a third of the deals, 3 steps: from nothing,
  no change   the same again (finds nothing to do),
  edit        the condition changed (some deals detach, others attach),
  deactivate  every deal detaches and its open steps leave the plan.
(Each sequence's rows are deleted and the tables vacuumed before the next, outside the timings.)
One deal (`deal_plays_evaluate`), median of --deal-runs runs each:
  no change   every active play evaluated, nothing to write,
  after edit  the deal's industry and competitors flip between two values, so that plays attach and
              detach on every run (what a rep's save costs, after commit).

    DJANGO_SETTINGS_MODULE=salesproc.settings DEBUG=1 \\
        DATABASE_URL=postgres://postgres@127.0.0.1:5432/salesproc_bench .venv/bin/python bench/playbooks_bench.py
    ... bench/playbooks_bench.py --deals 20000 --runs 3
    ... bench/playbooks_bench.py --reuse   # keep the generated organization from the last run

Prints the median wall time and, beside it, the median CPU time of this process plus its PostgreSQL
backend (when the server runs on this machine): on a busy machine the wall time moves with the load,
the CPU time much less. Asserts nothing about time (machines differ).
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

SLUG = "playbooks-bench"
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
INDUSTRIES = ["Manufacturing", "Software", "Retail", "Logistics", "Energy", "Healthcare"]
LEAD_SOURCES = ["Web", "Referral", "Partner", "Event", ""]
COMPETITORS = ["Globex", "Initech", "Umbrella", "Hooli", "Vehement"]
OBJECTIONS = ["Price", "Timing", "Security", "Integration"]
ROLES = ["economic_buyer", "champion", "decision_maker", "influencer", "user", "procurement", "blocker"]
CHUNK = 10_000


def generate(*, deals: int, plays: int, seed: int, now: datetime) -> None:
    """The organization, its process, `deals` open deals with tags and stakeholders, and `plays` plays."""
    from django.db import transaction

    from deals.models import Account, Contact, Deal, DealStakeholder, DealTag
    from orgs.models import Membership, Organization, Role, User
    from playbooks.models import Play, Playbook, PlayStep
    from salesproc.lib.bulk_insert import bulk_insert
    from salesproc.models import Stage
    from salesproc.services import process_import

    rng = random.Random(seed)
    with transaction.atomic():
        org = Organization.objects.create(name="Playbooks bench", slug=SLUG)
        owners = []
        for n in range(10):
            user, _ = User.objects.get_or_create(email=f"bench-rep{n}@{SLUG}.test")
            owners.append(Membership.objects.create(organization=org, user=user, role=Role.REP).user_id)
        process, _ = process_import(org=org, data=PROCESS, by=None)
        stages = list(Stage.objects.filter(process=process).order_by("order"))
        accounts = bulk_insert(
            Account,
            ("organization_id", "name", "industry", "created_at"),
            [(org.id, f"Account {i}", rng.choice(INDUSTRIES), now) for i in range(500)],
            returning_ids=True,
        )
        contacts = bulk_insert(
            Contact,
            ("organization_id", "name", "email", "created_at"),
            [(org.id, f"Contact {i}", f"c{i}@customer.test", now) for i in range(40)],
            returning_ids=True,
        )
        for start in range(0, deals, CHUNK):
            rows = []
            for i in range(start, min(deals, start + CHUNK)):
                entered = now - timedelta(days=rng.uniform(0, 60))
                rows.append(
                    (
                        org.id, f"Deal {i}", rng.choice(accounts), rng.choice(owners), process.id,
                        rng.choice(stages).id, "open", Decimal(rng.randrange(10, 2000) * 100), "USD",
                        rng.choice(INDUSTRIES), None if rng.random() < 0.3 else Decimal(rng.randrange(10, 3000) * 100),
                        rng.choice(LEAD_SOURCES), entered, entered, entered - timedelta(days=5), entered,
                    )
                )  # fmt: skip
            ids = bulk_insert(
                Deal,
                (
                    "organization_id", "name", "account_id", "owner_id", "process_id", "stage_id", "status",
                    "amount", "currency", "industry", "budget", "lead_source", "stage_entered_at",
                    "last_activity_at", "created_at", "updated_at",
                ),
                rows,
                returning_ids=True,
            )  # fmt: skip
            tags, people = [], []
            for deal_id in ids:
                for value in rng.sample(COMPETITORS, k=rng.choice([0, 0, 1, 1, 2])):
                    tags.append((org.id, deal_id, "competitor", value))
                for value in rng.sample(OBJECTIONS, k=rng.choice([0, 0, 0, 1, 2])):
                    tags.append((org.id, deal_id, "objection", value))
                for contact in rng.sample(contacts, k=rng.choice([0, 1, 2, 3])):
                    people.append((org.id, deal_id, contact, rng.choice(ROLES), now))
            bulk_insert(DealTag, ("organization_id", "deal_id", "kind", "value"), tags)
            bulk_insert(
                DealStakeholder, ("organization_id", "deal_id", "contact_id", "role", "created_at"), people
            )

        # The many plays of a mature organization, over every field of the language.
        books = [
            Playbook.objects.create(organization=org, name="Everywhere"),
            Playbook.objects.create(organization=org, name="New business", process=process),
        ]
        for n in range(plays):
            play = Play.objects.create(
                organization=org,
                playbook=books[n % 2],
                name=f"Play {n}",
                condition=random_condition(rng, stages, owners),
                priority=rng.randrange(10),
            )
            PlayStep.objects.bulk_create(
                [
                    PlayStep(organization=org, play=play, title=f"Step {k} of play {n}", order=k)
                    for k in range(rng.choice([0, 1, 2, 3]))
                ]
            )


def random_condition(rng: random.Random, stages, owners) -> dict:
    leaves = [
        lambda: {"field": "industry", "op": "eq", "value": rng.choice(INDUSTRIES)},
        lambda: {"field": "amount", "op": rng.choice(["gt", "lte"]), "value": rng.randrange(10, 2000) * 100},
        lambda: {"field": "budget", "op": rng.choice(["is_empty", "is_not_empty"])},
        lambda: {"field": "competitors", "op": "contains", "value": rng.choice(COMPETITORS)},
        lambda: {"field": "objections", "op": "in", "value": rng.sample(OBJECTIONS, k=2)},
        lambda: {"field": "stakeholder_roles", "op": rng.choice(["contains", "not_contains"]), "value": rng.choice(ROLES)},
        lambda: {"field": "stage", "op": "in", "value": [s.id for s in rng.sample(stages, k=3)]},
        lambda: {"field": "phase", "op": "eq", "value": rng.choice(["change", "decision"])},
        lambda: {"field": "days_in_stage", "op": "gte", "value": rng.randrange(0, 40)},
        lambda: {"field": "lead_source", "op": "ne", "value": rng.choice(LEAD_SOURCES[:-1])},
        lambda: {"field": "owner", "op": "in", "value": rng.sample(owners, k=3)},
    ]  # fmt: skip
    parts = [rng.choice(leaves)() for _ in range(rng.choice([1, 2, 3]))]
    if len(parts) == 1:
        return parts[0]
    return {rng.choice(["all", "any"]): parts}


def backend_cpu_seconds(pid: int) -> float | None:
    """CPU time used so far by the PostgreSQL backend `pid`, when the server runs on this machine."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Clock:
    """Wall time, and CPU time (this process plus its PostgreSQL backend): on a busy machine the
    wall time moves with the load, the CPU time much less."""

    def __init__(self, pid: int):
        self.pid = pid
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def __enter__(self):
        self._wall, self._cpu, self._db = (
            time.perf_counter(),
            time.process_time(),
            backend_cpu_seconds(self.pid),
        )
        return self

    def __exit__(self, *exc):
        self.wall.append(time.perf_counter() - self._wall)
        db = backend_cpu_seconds(self.pid)
        if self._db is not None and db is not None:
            self.cpu.append(time.process_time() - self._cpu + db - self._db)

    def __str__(self) -> str:
        cpu = f" ({statistics.median(self.cpu) * 1000:7.1f} ms CPU)" if self.cpu else ""
        return f"{statistics.median(self.wall) * 1000:8.1f} ms{cpu}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--deals", type=int, default=100_000)
    parser.add_argument("--plays", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3, help="bulk sequences timed")
    parser.add_argument("--deal-runs", type=int, default=200, help="one-deal evaluations timed")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--reuse", action="store_true", help="keep the organization of the last run")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salesproc.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from deals.models import Deal, DealStep, DealTag
    from orgs.models import Organization
    from playbooks.models import DealPlay, Play, Playbook, PlayStep
    from playbooks.triggering import deal_plays_evaluate, play_reevaluate

    if connection.vendor != "postgresql":
        raise SystemExit("The playbooks benchmark runs on PostgreSQL: set DATABASE_URL=postgres://...")
    call_command("migrate", verbosity=0)
    now = datetime.now(UTC).replace(microsecond=0)
    org = Organization.objects.filter(slug=SLUG).first()
    fresh = not (
        org is not None
        and args.reuse
        and Deal.objects.filter(organization=org).count() == args.deals
        and Play.objects.filter(organization=org).count() == args.plays
    )
    if fresh:
        if org is not None:
            with connection.cursor() as cursor:  # faster than the ORM's cascade over a million rows
                for table in (
                    "playbooks_dealplay", "deals_dealstep", "deals_dealtag", "deals_dealstakeholder",
                    "deals_stagechange", "deals_deal", "deals_contact", "deals_account",
                ):  # fmt: skip
                    cursor.execute(f"DELETE FROM {table} WHERE organization_id = %s", [org.id])
            org.delete()
        start = time.perf_counter()
        generate(deals=args.deals, plays=args.plays, seed=args.seed, now=now)
        print(
            f"generated {SLUG}: {args.deals} open deals, {args.plays} plays in {time.perf_counter() - start:.1f} s"
        )
        org = Organization.objects.get(slug=SLUG)
    with connection.cursor() as cursor:
        for table in (
            "deals_deal",
            "deals_dealtag",
            "deals_dealstakeholder",
            "deals_dealstep",
            "playbooks_dealplay",
        ):
            cursor.execute(f"VACUUM ANALYZE {table}")

    # --- One play across every open deal -----------------------------------------------------------
    book = Playbook.objects.get(organization=org, name="New business")
    Play.objects.filter(organization=org, name="Bench play").delete()
    first = {"any": [{"field": "amount", "op": "gte", "value": 150000}, {"field": "competitors", "op": "contains", "value": "Globex"}]}  # fmt: skip
    second = {"any": [{"field": "amount", "op": "gte", "value": 120000}, {"field": "competitors", "op": "contains", "value": "Initech"}]}  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    clocks = {label: Clock(pid) for label in ("attach", "no change", "edit", "deactivate")}
    counts: dict[str, tuple] = {}
    for _ in range(args.runs):
        play = Play.objects.create(
            organization=org, playbook=book, name="Bench play", condition=first, active=True
        )
        PlayStep.objects.bulk_create(
            [PlayStep(organization=org, play=play, title=f"Bench step {k}", order=k) for k in range(3)]
        )
        for label, change in (
            ("attach", None),
            ("no change", None),
            ("edit", {"condition": second}),
            ("deactivate", {"active": False}),
        ):
            if change:
                Play.objects.filter(pk=play.pk).update(version=play.version + 1, **change)
                play.version += 1
            with clocks[label]:
                result = play_reevaluate(play_id=play.id)
            counts[label] = (
                result.candidates,
                result.attached,
                result.detached,
                result.steps_added,
                result.steps_removed,
            )
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM deals_dealstep WHERE play_step_id IN (SELECT id FROM playbooks_playstep WHERE play_id = %s)", [play.id])  # fmt: skip
            cursor.execute("DELETE FROM playbooks_dealplay WHERE play_id = %s", [play.id])
        play.delete()
        # The next sequence should not pay for this one's dead rows (autovacuum's job in real life).
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE deals_dealstep")
            cursor.execute("VACUUM ANALYZE playbooks_dealplay")
    print(f"\nplay_reevaluate across {args.deals} open deals, median of {args.runs} runs (goal ≤ 5 s)")
    print(f"  {'case':12} {'time':>11}   deals looked at, attached, detached, steps added, steps removed")
    for label, clock in clocks.items():
        print(f"  {label:12} {clock}   {counts[label]}")

    # --- Every play for one deal -------------------------------------------------------------------
    active = Play.objects.filter(organization=org, active=True).count()
    deal = Deal.objects.filter(organization=org).order_by("id").first()
    DealTag.objects.filter(deal=deal, kind="competitor").delete()
    DealTag.objects.create(organization=org, deal=deal, kind="competitor", value="Globex")
    deal_plays_evaluate(deal_id=deal.id)
    steady, edited = Clock(pid), Clock(pid)
    changes = []
    for _ in range(3):
        deal_plays_evaluate(deal_id=deal.id)  # warm
    for _ in range(args.deal_runs):
        with steady:
            deal_plays_evaluate(deal_id=deal.id)
    with CaptureQueriesContext(connection) as steady_queries:
        deal_plays_evaluate(deal_id=deal.id)
    flips = [("Healthcare", "Globex"), ("Retail", "Initech")]
    edit_queries = 0
    for n in range(args.deal_runs):
        industry, competitor = flips[n % 2]
        Deal.objects.filter(pk=deal.pk).update(industry=industry)
        DealTag.objects.filter(deal=deal, kind="competitor").update(value=competitor)
        with CaptureQueriesContext(connection) as ctx, edited:
            result = deal_plays_evaluate(deal_id=deal.id)
        edit_queries = max(edit_queries, len(ctx.captured_queries))
        changes.append(len(result.attached) + len(result.detached))
    attached_now = DealPlay.objects.filter(deal=deal, detached_at__isnull=True).count()
    print(
        f"\ndeal_plays_evaluate, one deal, {active} active plays, median of {args.deal_runs} runs (goal ≤ 20 ms)"
    )
    print(
        f"  no change    {steady}   {len(steady_queries.captured_queries)} queries, {attached_now} plays attached"
    )
    print(
        f"  after edit   {edited}   at most {edit_queries} queries, "
        f"{statistics.median(changes):.0f} plays attached or detached per run (median)"
    )
    DealStep.objects.filter(deal=deal, source="play").delete()
    DealPlay.objects.filter(deal=deal).delete()


if __name__ == "__main__":
    main()
