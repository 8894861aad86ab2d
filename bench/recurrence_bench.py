"""Recurring-steps benchmark: one organization's nightly run of upstream.recurrence_run (read the custom
steps, group them, measure each group, write the proposals) at --steps custom steps over --deals deals.

Generates (COPY, a few seconds) an organization `recurrence-bench` on the database of DATABASE_URL with
one seven-stage process and --deals deals (a third won or lost in the last year, with industries,
competitors, stakeholders and stage entries), and --steps custom steps written over the last 300 days:
--recurring of them (default 60%) rewordings of 50 recurring themes ("IT security questionnaire",
"Security review with the IT team", …), each theme written mostly on deals of one industry; the rest
noise — one-off steps ("Call Marta about the Q3 invoice") whose words follow a Zipf law over a large
vocabulary, so that some generic ones recur too, as in real plans.

Timed (wall, and CPU of this process plus its PostgreSQL backend):
  first run     no proposal yet: every group is written,
  second run    the same data again: every proposal is refreshed in place,
  grouping      upstream.recurrence.find_groups alone on the same steps (no database).
Prints the groups found, how many themes they recover, and the query count of a run.

    DJANGO_SETTINGS_MODULE=salesproc.settings DEBUG=1 \\
        DATABASE_URL=postgres://postgres@127.0.0.1:5432/salesproc_bench .venv/bin/python bench/recurrence_bench.py
    ... bench/recurrence_bench.py --steps 5000 --deals 1500
    ... bench/recurrence_bench.py --reuse   # keep the generated organization from the last run

Asserts nothing about time (machines differ).
"""

import argparse
import os
import random
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playbooks_bench import PROCESS, Clock  # noqa: E402  (this folder is on the path as the script's)

SLUG = "recurrence-bench"
INDUSTRIES = ["Manufacturing", "Software", "Retail", "Logistics", "Energy", "Healthcare", "Finance", "Public"]
COMPETITORS = ["Globex", "Initech", "Umbrella", "Hooli", "Vehement"]
ROLES = ["economic_buyer", "champion", "decision_maker", "influencer", "user", "procurement", "blocker"]

THEMES = [
    ["Security review with IT", "IT security questionnaire", "Security questionnaire for IT team", "Complete the IT security questionnaire", "Security review with the IT team"],
    ["Legal review of the MSA", "MSA redlines with legal", "Review MSA with legal", "Send MSA to their legal team", "Legal redlines on the MSA"],
    ["Send pricing proposal", "Send the price proposal", "Pricing proposal to the CFO", "Prepare pricing proposal", "Send updated pricing proposal"],
    ["ROI analysis for the CFO", "Build ROI model with finance", "ROI calculator walkthrough with CFO", "Share ROI analysis", "ROI analysis review with finance"],
    ["Schedule a product demo", "Product demo for the users", "Schedule demo with end users", "Run the product demo", "Demo the product to users"],
    ["Proof of concept kickoff", "POC kickoff call", "Kick off the POC", "Agree POC success criteria", "POC success criteria sign-off"],
    ["Meet the executive sponsor", "Executive sponsor meeting", "Exec sponsor alignment call", "Meeting with executive sponsor", "Align with the executive sponsor"],
    ["Reference call with a customer", "Customer reference call", "Arrange a reference call", "Set up customer reference call"],
    ["Sign the NDA", "NDA signed", "Get NDA signed", "Send mutual NDA"],
    ["Vendor registration form", "Procurement vendor registration", "Complete vendor registration", "Vendor onboarding and registration with procurement"],
    ["Data processing agreement", "Sign the DPA", "DPA review with privacy team", "Data processing agreement (DPA) review"],
    ["GDPR compliance questions", "Answer GDPR questionnaire", "GDPR data residency questions", "GDPR compliance review"],
    ["SSO integration test", "Test SSO with their identity provider", "Single sign-on (SSO) setup", "SSO configuration with IT"],
    ["Integration workshop with their architects", "Technical integration workshop", "API integration workshop", "Integration architecture workshop"],
    ["Business case for the board", "Board presentation of the business case", "Prepare board business case", "Business case deck for board meeting"],
    ["Site visit to the plant", "Plant site visit", "Visit the manufacturing site", "On-site visit at the plant"],
    ["Insurance certificate for procurement", "Send certificate of insurance", "Certificate of insurance (COI)", "Provide insurance certificate"],
    ["Penetration test report", "Share pen test report", "Send latest penetration test results", "Pentest report for security team"],
    ["SOC 2 report", "Send SOC 2 Type II report", "Share SOC2 report under NDA", "SOC 2 audit report request"],
    ["Budget approval from finance", "Confirm budget with finance", "Finance budget sign-off", "Get budget approved by finance"],
    ["Champion coaching session", "Coach our champion", "Prep call with the champion", "Champion prep before steering committee"],
    ["Steering committee presentation", "Present to steering committee", "Steering committee meeting", "Prepare steering committee deck"],
    ["Trial account setup", "Set up trial account", "Free trial activation", "Activate the trial account"],
    ["Training plan for users", "User training plan", "End-user training schedule", "Plan the user training"],
    ["Implementation timeline", "Draft implementation plan", "Implementation plan and timeline", "Share implementation timeline"],
    ["Accessibility compliance (VPAT)", "Send VPAT", "VPAT accessibility document", "Accessibility VPAT request"],
    ["Redline the order form", "Order form redlines", "Send order form", "Order form review with procurement"],
    ["Multi-year discount approval", "Approve multi-year discount", "Discount approval for 3-year term", "Deal desk discount approval"],
    ["Invite to customer advisory board", "Customer advisory board invitation", "CAB invitation for the sponsor"],
    ["Hospital IT infrastructure review", "Review hospital IT infrastructure", "Infrastructure review with hospital IT"],
    ["HIPAA business associate agreement", "Sign HIPAA BAA", "BAA for HIPAA compliance", "HIPAA BAA review"],
    ["Union consultation about the rollout", "Consult the works council", "Works council approval", "Works council consultation"],
    ["Translate the contract into German", "German contract translation", "Contract translation to German"],
    ["Public tender submission", "Submit the tender response", "Tender response deadline", "RFP tender submission"],
    ["RFP response", "Answer the RFP", "Complete RFP questionnaire", "RFP response draft"],
    ["Open banking API certification", "Certify open banking APIs", "Open banking certification review"],
    ["Carbon footprint report", "Send carbon footprint data", "Sustainability carbon report", "ESG carbon footprint questionnaire"],
    ["Data migration plan", "Plan the data migration", "Legacy data migration approach", "Data migration workshop"],
    ["Uptime SLA negotiation", "Negotiate uptime SLA", "SLA terms for uptime", "Service level agreement review"],
    ["Pilot with one warehouse", "Warehouse pilot", "Run pilot in one warehouse", "Single warehouse pilot plan"],
    ["Bank guarantee for the tender", "Provide bank guarantee", "Bank guarantee letter"],
    ["Local partner introduction", "Introduce the local partner", "Intro to our implementation partner", "Partner introduction call"],
    ["Currency and invoicing in EUR", "Invoice in euros", "EUR invoicing setup"],
    ["Reference visit to an existing customer", "Customer site reference visit", "Organize reference site visit"],
    ["Cloud hosting region confirmation", "Confirm EU hosting region", "Data hosting region question", "Hosting region in the EU"],
    ["Background checks for consultants", "Consultant background checks", "Background check paperwork"],
    ["Export control classification", "Export control questionnaire", "ECCN export classification"],
    ["Accounts payable setup", "Set up in accounts payable", "AP vendor setup", "Accounts payable vendor form"],
    ["Security architecture diagram", "Send architecture diagram to security", "Architecture diagram for security review"],
    ["Mobile app demo for field staff", "Field staff mobile demo", "Demo the mobile app to field teams"],
]  # fmt: skip

_COMMON = """follow up call email send check meeting review update with about on next week notes deck slides
question quote invoice timeline status numbers intro agenda recap schedule contract renewal budget team
plan prep draft share confirm ask reminder feedback forecast support issue request report list"""
COMMON = _COMMON.split()
SYLLABLES = [
    "ba",
    "ko",
    "ri",
    "ta",
    "ne",
    "lo",
    "mi",
    "su",
    "ve",
    "ra",
    "do",
    "fi",
    "ga",
    "hu",
    "ze",
    "pa",
    "lu",
]


def noise_titles(rng: random.Random, count: int) -> list[str]:
    """One-off steps: 3 to 7 words drawn by a Zipf law (weight 1/rank) from COMMON words followed by
    4,000 made-up names and nouns."""
    made_up: set[str] = set()
    while len(made_up) < 4000:
        made_up.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    vocabulary = COMMON + sorted(made_up)
    weights = [1 / (rank + 1) for rank in range(len(vocabulary))]
    return [
        " ".join(rng.choices(vocabulary, weights, k=rng.randint(3, 7))).capitalize() for _ in range(count)
    ]


def generate(*, deals: int, steps: int, recurring: float, seed: int, now: datetime) -> None:
    from django.db import transaction

    from deals.models import Account, Contact, Deal, DealStakeholder, DealStep, DealTag, StageChange
    from orgs.models import Membership, Organization, Role, User
    from salesproc.lib.bulk_insert import bulk_insert
    from salesproc.models import Stage
    from salesproc.services import process_import

    rng = random.Random(seed)
    with transaction.atomic():
        org = Organization.objects.create(name="Recurrence bench", slug=SLUG)
        owners = []
        for n in range(10):
            user, _ = User.objects.get_or_create(email=f"bench-rep{n}@{SLUG}.test")
            owners.append(Membership.objects.create(organization=org, user=user, role=Role.REP).user_id)
        process, _ = process_import(org=org, data=PROCESS, by=None)
        stages = list(Stage.objects.filter(process=process).order_by("order"))
        accounts = bulk_insert(
            Account,
            ("organization_id", "name", "industry", "created_at"),
            [(org.id, f"Account {i}", INDUSTRIES[i % len(INDUSTRIES)], now) for i in range(400)],
            returning_ids=True,
        )
        contacts = bulk_insert(
            Contact,
            ("organization_id", "name", "email", "created_at"),
            [(org.id, f"Contact {i}", f"c{i}@customer.test", now) for i in range(40)],
            returning_ids=True,
        )
        rows, plans = [], []
        for i in range(deals):
            created = now - timedelta(days=rng.uniform(30, 360))
            reached = rng.randint(1, len(stages))
            status = rng.choices(["open", "won", "lost"], [0.4, 0.25, 0.35])[0]
            span = now - created
            entries = [created] + sorted(created + span * (0.7 * rng.random()) for _ in range(reached - 1))
            closed = entries[-1] + (now - entries[-1]) * rng.random() if status != "open" else None
            plans.append((entries, closed))
            account = rng.randrange(len(accounts))
            rows.append(
                (
                    org.id, f"Deal {i}", accounts[account], rng.choice(owners), process.id,
                    stages[reached - 1].id, status, Decimal(rng.randrange(10, 2000) * 100), "USD",
                    INDUSTRIES[account % len(INDUSTRIES)], entries[-1], entries[-1], created, created, closed,
                )
            )  # fmt: skip
        ids = bulk_insert(
            Deal,
            (
                "organization_id", "name", "account_id", "owner_id", "process_id", "stage_id", "status",
                "amount", "currency", "industry", "stage_entered_at", "last_activity_at", "created_at",
                "updated_at", "closed_at",
            ),
            rows,
            returning_ids=True,
        )  # fmt: skip
        changes, tags, people = [], [], []
        for deal_id, (entries, closed) in zip(ids, plans, strict=True):
            for k, entered in enumerate(entries):
                left = entries[k + 1] if k + 1 < len(entries) else closed
                changes.append((org.id, deal_id, stages[k].id, entered, left))
            for value in rng.sample(COMPETITORS, k=rng.choice([0, 0, 1, 1, 2])):
                tags.append((org.id, deal_id, "competitor", value))
            for contact in rng.sample(contacts, k=rng.choice([0, 1, 2, 3])):
                people.append((org.id, deal_id, contact, rng.choice(ROLES), now))
        bulk_insert(
            StageChange, ("organization_id", "deal_id", "to_stage_id", "entered_at", "left_at"), changes
        )
        bulk_insert(DealTag, ("organization_id", "deal_id", "kind", "value"), tags)
        bulk_insert(
            DealStakeholder, ("organization_id", "deal_id", "contact_id", "role", "created_at"), people
        )

        industry_of = [r[9] for r in rows]
        by_industry: dict[str, list[int]] = {}
        for index, industry in enumerate(industry_of):
            by_industry.setdefault(industry, []).append(index)
        step_rows = []
        themed = int(steps * recurring)
        for n in range(themed):
            theme = n % len(THEMES)
            # Most of a theme's steps are written on deals of "its" industry.
            if rng.random() < 0.7:
                index = rng.choice(by_industry[INDUSTRIES[theme % len(INDUSTRIES)]])
            else:
                index = rng.randrange(deals)
            step_rows.append((index, rng.choice(THEMES[theme])))
        step_rows += [(rng.randrange(deals), title) for title in noise_titles(rng, steps - themed)]
        out = []
        for position, (index, title) in enumerate(step_rows):
            entries, closed = plans[index]
            latest = closed or now
            written = entries[0] + (latest - entries[0]) * rng.random()
            out.append((org.id, ids[index], title, "custom", position, written))
        bulk_insert(
            DealStep, ("organization_id", "deal_id", "title", "source", "position", "created_at"), out
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--deals", type=int, default=5000)
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--recurring", type=float, default=0.6, help="share of steps from the themes")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--reuse", action="store_true", help="keep the organization of the last run")
    args = parser.parse_args()

    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salesproc.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from deals.models import DealStep
    from orgs.models import Organization
    from upstream.models import Promotion
    from upstream.recurrence import StepText, find_groups
    from upstream.recurrence_run import recurring_steps_refresh

    if connection.vendor != "postgresql":
        raise SystemExit("The recurrence benchmark runs on PostgreSQL: set DATABASE_URL=postgres://...")
    call_command("migrate", verbosity=0)
    now = datetime.now(UTC).replace(microsecond=0)
    org = Organization.objects.filter(slug=SLUG).first()
    fresh = not (
        org is not None and args.reuse and DealStep.objects.filter(organization=org).count() == args.steps
    )
    if fresh:
        if org is not None:
            with connection.cursor() as cursor:  # faster than the ORM's cascade
                for table in (
                    "upstream_promotionstep", "upstream_promotion", "deals_dealstep", "deals_dealtag",
                    "deals_dealstakeholder", "deals_stagechange", "deals_deal", "deals_contact", "deals_account",
                ):  # fmt: skip
                    cursor.execute(f"DELETE FROM {table} WHERE organization_id = %s", [org.id])
            org.delete()
        start = time.perf_counter()
        generate(deals=args.deals, steps=args.steps, recurring=args.recurring, seed=args.seed, now=now)
        print(
            f"generated {SLUG}: {args.deals} deals, {args.steps} custom steps "
            f"({args.recurring:.0%} from {len(THEMES)} themes) in {time.perf_counter() - start:.1f} s"
        )
        org = Organization.objects.get(slug=SLUG)
    Promotion.objects.filter(organization=org).delete()
    with connection.cursor() as cursor:
        for table in (
            "deals_deal",
            "deals_dealstep",
            "deals_dealtag",
            "deals_dealstakeholder",
            "deals_stagechange",
        ):
            cursor.execute(f"VACUUM ANALYZE {table}")
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]

    clocks = {label: Clock(pid) for label in ("first run", "second run", "grouping")}
    with clocks["first run"], CaptureQueriesContext(connection) as queries:
        first = recurring_steps_refresh(organization=org)
    with clocks["second run"]:
        second = recurring_steps_refresh(organization=org)
    rows = DealStep.objects.filter(organization=org, source="custom").values_list("id", "deal_id", "title")
    steps = [StepText(id=i, deal_id=d, title=t) for i, d, t in rows]
    with clocks["grouping"]:
        groups = find_groups(steps)

    theme_of = {title: n for n, titles in enumerate(THEMES) for title in titles}
    title_of = {s.id: s.title for s in steps}
    recovered = set()
    pure = 0
    for g in groups:
        themes = Counter(theme_of.get(title_of[i]) for i in g.step_ids)
        top, count = themes.most_common(1)[0]
        if top is not None:
            recovered.add(top)
            pure += count == len(g.step_ids)
    print(f"{first.steps} custom steps → {len(first.groups)} groups of ≥ 3 deals")
    print(
        f"  themes recovered: {len(recovered)}/{len(THEMES)}; groups led by a theme: "
        f"{sum(1 for g in groups if Counter(theme_of.get(title_of[i]) for i in g.step_ids).most_common(1)[0][0] is not None)}"
        f" ({pure} of them pure); the rest are recurring noise"
    )
    print(f"  first run: {first.created} proposals written, {len(queries)} queries")
    print(f"  second run: {second.updated} refreshed, {second.created} created, {second.removed} removed")
    for label, clock in clocks.items():
        print(f"  {label:<11} {clock}")


if __name__ == "__main__":
    main()
