"""The demo organization behind `seed_demo`: people, two processes and N deals with 18 months of history.

People and processes go through the services (they are few). Deals and everything that happens to them
are generated in memory and bulk-inserted in chunks, never a query per deal, so 100k deals take well
under two minutes on PostgreSQL. The generated rows keep the rules the deal services keep:

- one StageChange per stage entry, chained: each entry's `left_at` is the next one's `entered_at`; an
  open deal has exactly one open entry, a closed deal none, and its last entry left at `closed_at`;
- every entry names the process version in force when it happened;
- `stage_entered_at` is the open (or last) entry's time; `last_activity_at` is the latest activity,
  stage entry or close; `closed_at` is set on won and lost deals only;
- a deal only left a stage forward when the stage's critical and mandatory exit criteria held, or a
  manager overrode a mandatory one with a reason recorded on the move; steps and answers are unique per
  criterion, stakeholders per contact;
- the board's column totals (StageRollup) are rebuilt from the inserted deals, in the same transaction.

Determinism: every choice comes from one `random.Random(seed)` drawn in a fixed order, and every time
is an offset from an anchor (today, 00:00 UTC), so the same seed gives the same deals and history,
shifted only with the anchor.
"""

import bisect
import math
import queue
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time
from decimal import Decimal
from itertools import accumulate, product

from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django.utils import timezone

from deals.criteria import CriterionStatus
from deals.demo_data import (
    ACTIVITY_KIND_WEIGHTS,
    ACTIVITY_SUBJECTS,
    ANSWERS,
    COMPETITORS,
    CONTACT_TITLES,
    CUSTOM_STEPS,
    DEAL_DESCRIPTIONS,
    DEMO_NAME,
    DEMO_PASSWORD,
    DEMO_PEOPLE,
    DEMO_SLUG,
    EXPANSION,
    FIRST_NAMES,
    INDUSTRIES,
    LAST_NAMES,
    LEAD_SOURCES,
    LOST_REASONS,
    NAME_FIRST,
    NAME_SECOND,
    NAME_SUFFIX,
    NEW_BUSINESS,
    NEW_BUSINESS_V1,
    NEW_BUSINESS_V2_CRITERION,
    NEW_BUSINESS_V2_NOTE,
    OBJECTIONS,
    PROCESS_BEHAVIOUR,
    REP_PROFILES,
    ROLE_PROFILE,
)
from deals.models import (
    Account,
    Activity,
    Contact,
    CriterionAnswer,
    Deal,
    DealStakeholder,
    DealStatus,
    DealStep,
    DealTag,
    StageChange,
    StepSource,
    TagKind,
)
from deals.services.rollups import rollup_rebuild
from orgs.models import Membership, Organization, Role, User
from orgs.services import organization_create
from salesproc.lib.bulk_insert import bulk_insert
from salesproc.models import CriterionKind, ExitCriterion, Importance, Process, ProcessVersion, Stage
from salesproc.services import process_import

DAY = 24 * 60  # times are whole minutes relative to the anchor; negative is the past
HISTORY_DAYS = 540
V2_DAYS_AGO = 180
CHUNK_DEALS = 2000
OVERRIDE_REASONS = [
    "Customer asked to move fast; will complete it this week.",
    "Covered in the steering meeting; notes to follow.",
    "Agreed with the champion; not blocking for this customer.",
]


def demo_exists(slug: str = DEMO_SLUG) -> bool:
    return Organization.objects.filter(slug=slug).exists()


def demo_logins() -> list[tuple[str, str]]:
    """(email, role) of every demo user, in the order they are printed."""
    return [(email, Role(role).label) for email, _, role in DEMO_PEOPLE]


@dataclass
class SeedReport:
    org: Organization
    deals: int = 0
    won: int = 0
    lost: int = 0
    open: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def demo_seed(
    *,
    deals: int = 400,
    seed: int = 1,
    anchor: datetime | None = None,
    slug: str = DEMO_SLUG,
    name: str = DEMO_NAME,
) -> SeedReport:
    """Create the demo organization with `deals` deals, all or nothing. The caller checks that the
    slug is free (`demo_exists`); the demo users are shared by every demo organization."""
    started = time.monotonic()
    anchor = anchor or timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    with transaction.atomic():
        people = _seed_people(slug=slug, name=name)
        processes = _seed_processes(people, anchor)
        history = _History(random.Random(seed), anchor, people, processes)
        report = SeedReport(org=people.org)
        history.write_accounts(max(12, deals // 6), report)
        history.write_deals(deals, report)
        # The deals went in without the services: total the board's columns from them, once.
        rollup_rebuild(org=people.org)
        _seed_playbooks(people)
    report.seconds = time.monotonic() - started
    return report


@dataclass
class _People:
    org: Organization
    ops: Membership
    manager_user_id: int
    rep_user_ids: list[int]


def _seed_people(*, slug: str, name: str) -> _People:
    # One hash for the shared demo password: hashing it once per user would only cost time.
    password = make_password(DEMO_PASSWORD)
    users = {}
    for email, full_name, _role in DEMO_PEOPLE:
        user = User.objects.filter(email=email).first() or User(email=email)
        user.full_name, user.password, user.is_active = full_name, password, True
        user.save()
        users[email] = user
    admin_email = next(email for email, _, role in DEMO_PEOPLE if role == Role.ADMIN)
    org, _admin = organization_create(name=name, slug=slug, admin_email=admin_email)
    # Memberships directly rather than through member_invite, which emails each invitee.
    members = {}
    for email, _, role in DEMO_PEOPLE:
        if role == Role.ADMIN:
            continue
        manager = members.get("manager@demo.test") if role == Role.REP else None
        members[email] = Membership.objects.create(
            organization=org, user=users[email], role=role, manager=manager
        )
    reps = [m.user_id for e, m in members.items() if m.role == Role.REP]
    return _People(
        org=org,
        ops=members["ops@demo.test"],
        manager_user_id=members["manager@demo.test"].user_id,
        rep_user_ids=reps,
    )


class _Process:
    """A process as the generator needs it: stages in order, their criteria, and which version was in
    force when."""

    def __init__(self, process: Process, behaviour: dict, versions: list[tuple[int, int]]):
        self.process = process
        self.stages = list(Stage.objects.filter(process=process).order_by("order"))
        criteria = list(ExitCriterion.objects.filter(stage__process=process).order_by("order", "id"))
        self.criteria = [[c for c in criteria if c.stage_id == s.id] for s in self.stages]
        self.share = behaviour["share"]
        self.lose = behaviour["lose"]
        self.amount = behaviour["amount"]
        self.topics = behaviour["topics"]
        self.version_starts = [start for start, _ in versions]
        self.version_ids = [vid for _, vid in versions]
        self.v2_start = versions[1][0] if len(versions) > 1 else None

    def version_at(self, t: int) -> int:
        return self.version_ids[max(0, bisect.bisect_right(self.version_starts, t) - 1)]

    def lose_chance(self, k: int, t: int) -> float:
        base = self.lose[k]
        if self.v2_start is None or t < self.v2_start:
            return base
        # Since version 2 the economic buyer is required in the business case: a few more deals drop
        # there, far fewer are lost in negotiation. The iteration pages should show exactly that.
        if self.stages[k].name == "Business case":
            return base * 1.15
        if self.stages[k].name == "Negotiation":
            return base * 0.55
        return base


def _seed_processes(people: _People, anchor: datetime) -> list[_Process]:
    org, ops = people.org, people.ops
    nb, v1 = process_import(org=org, data=NEW_BUSINESS_V1, by=ops, note="First version")
    _, v2 = process_import(org=org, data=NEW_BUSINESS, by=ops, note=NEW_BUSINESS_V2_NOTE)
    ex, ex_v1 = process_import(org=org, data=EXPANSION, by=ops, note="First version")
    # The services stamp "now"; the demo's history starts 18 months back, so its versions do too.
    start = anchor - timedelta(days=HISTORY_DAYS + 10)
    Process.objects.filter(pk__in=[nb.pk, ex.pk]).update(created_at=start)
    ProcessVersion.objects.filter(pk__in=[v1.pk, ex_v1.pk]).update(created_at=start)
    ProcessVersion.objects.filter(pk=v2.pk).update(created_at=anchor - timedelta(days=V2_DAYS_AGO))
    never = -(10**9)
    return [
        _Process(nb, PROCESS_BEHAVIOUR[nb.name], [(never, v1.pk), (-V2_DAYS_AGO * DAY, v2.pk)]),
        _Process(ex, PROCESS_BEHAVIOUR[ex.name], [(never, ex_v1.pk)]),
    ]


@dataclass
class _Account:
    id: int
    name: str
    industry: str
    contacts: list[tuple[int, str]]  # (contact id, the role they usually take)


# Column orders of the generated rows (organization_id and deal_id are prepended on insert).
DEAL_COLUMNS = (
    "name", "account_id", "owner_id", "process_id", "stage_id", "status", "amount", "currency",
    "expected_close", "closed_at", "lost_reason", "industry", "budget", "lead_source", "description",
    "version", "stage_entered_at", "last_activity_at", "created_at", "updated_at",
)  # fmt: skip
STAGE_CHANGE_COLUMNS = (
    "from_stage_id", "to_stage_id", "entered_at", "left_at", "by_id", "process_version_id",
    "override_reason", "overridden_criteria",
)  # fmt: skip
STAKEHOLDER_COLUMNS = ("contact_id", "role", "influence", "attitude", "desired_results", "wins", "created_at")
ACTIVITY_COLUMNS = ("kind", "subject", "occurred_at", "stakeholder_id", "by_id", "created_at")
TAG_COLUMNS = ("kind", "value")
STEP_COLUMNS = (
    "title", "description", "source", "stage_id", "criterion_id", "position", "due_date", "assignee_id",
    "completed_at", "completed_by_id", "created_by_id", "created_at",
)  # fmt: skip
ANSWER_COLUMNS = ("criterion_id", "text", "answered_by_id", "answered_at")
DEAL_TIME_COLUMNS = {"closed_at", "stage_entered_at", "last_activity_at", "created_at", "updated_at"}
DEAL_CHILD = ("organization_id", "deal_id")


class _Deal:
    """One deal being generated: its row (by column name) and its children's rows, which get the
    deal's id when it has one."""

    __slots__ = (
        "row",
        "id",
        "entries",
        "stakeholders",
        "stakeholder_ids",
        "activities",
        "tags",
        "steps",
        "answers",
        "last_activity",
    )

    def __init__(self, row: dict):
        self.row = row
        self.id = 0
        self.entries: list[tuple] = []
        # STAKEHOLDER_COLUMNS with the minute as created_at; activities point at them by position
        self.stakeholders: list[list] = []
        self.stakeholder_ids: list[int] = []
        self.activities: list[tuple] = []  # (kind, subject, minute, stakeholder position, by)
        self.tags: list[tuple[str, str]] = []
        self.steps: dict[int | str, list] = {}  # stage steps by criterion id, custom steps by "custom-N"
        self.answers: dict[int, tuple] = {}
        self.last_activity = -(10**9)


class _History:
    def __init__(self, rng: random.Random, anchor: datetime, people: _People, processes: list[_Process]):
        self.rng = rng
        self.anchor = anchor
        self.org_id = people.org.id
        self.currency = people.org.default_currency
        self.manager_id = people.manager_user_id
        self.reps = list(zip(people.rep_user_ids, REP_PROFILES, strict=True))
        self.processes = processes
        self.accounts: list[_Account] = []
        self.kinds = [k for k, _ in ACTIVITY_KIND_WEIGHTS]
        self.kind_weights = list(accumulate(w for _, w in ACTIVITY_KIND_WEIGHTS))
        self.lead_sources = [s for s, _ in LEAD_SOURCES]
        self.lead_weights = list(accumulate(w for _, w in LEAD_SOURCES))
        # The first deals sit open in each stage of each process, so every column of every board has
        # something in it whatever N is.
        self.pinned = [(p, k) for p in range(len(processes)) for k in range(len(processes[p].stages))]
        # A generated time (minutes from the anchor) as the insert wants it.
        self.timestamp = _timestamps(anchor, as_text=connection.vendor == "postgresql")

    def at(self, minute: int) -> datetime:
        return self.anchor + timedelta(minutes=minute)

    def between(self, start: int, end: int) -> int:
        return self.rng.randint(start, max(start, end - 1))

    # Accounts and contacts ------------------------------------------------------------------------

    def write_accounts(self, count: int, report: SeedReport) -> None:
        rng, org = self.rng, self.org_id
        names = list(product(NAME_FIRST, NAME_SECOND, NAME_SUFFIX))
        rng.shuffle(names)
        created = self.at(-(HISTORY_DAYS + 5) * DAY)
        accounts, contacts = [], []
        for i in range(count):
            first, second, suffix = names[i % len(names)]
            round_ = i // len(names)
            name = f"{first} {second} {suffix}" + (f" {round_ + 1}" if round_ else "")
            domain = f"{first}-{second}-{suffix}{round_ or ''}".lower() + ".example"
            accounts.append((org, name, rng.choice(INDUSTRIES), f"https://{domain}", created))
            for title, role in rng.sample(CONTACT_TITLES, rng.randint(5, 7)):
                given, family = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
                phone = f"+1 555 {rng.randint(100, 999)} {rng.randint(1000, 9999)}"
                email = f"{given}.{family}@{domain}".lower()
                contacts.append((i, role, (org, f"{given} {family}", email, title, phone, created)))
        account_ids = bulk_insert(
            Account,
            ("organization_id", "name", "industry", "website", "created_at"),
            accounts,
            returning_ids=True,
        )
        contact_ids = bulk_insert(
            Contact,
            ("account_id", "organization_id", "name", "email", "title", "phone", "created_at"),
            [(account_ids[i], *row) for i, _, row in contacts],
            returning_ids=True,
        )
        by_account: list[list[tuple[int, str]]] = [[] for _ in accounts]
        for (i, role, _), contact_id in zip(contacts, contact_ids, strict=True):
            by_account[i].append((contact_id, role))
        self.accounts = [
            _Account(account_ids[i], row[1], row[2], by_account[i]) for i, row in enumerate(accounts)
        ]
        report.rows["accounts"] = len(accounts)
        report.rows["contacts"] = len(contacts)

    # Deals ----------------------------------------------------------------------------------------

    def write_deals(self, count: int, report: SeedReport) -> None:
        report.deals = count
        for key in ("stage changes", "activities", "stakeholders", "tags", "steps", "answers"):
            report.rows[key] = 0
        chunks = (range(start, min(count, start + CHUNK_DEALS)) for start in range(0, count, CHUNK_DEALS))
        if connection.vendor != "postgresql":
            for chunk in chunks:
                self.insert([self.deal(i) for i in chunk], report, cursor=None)
            return
        # PostgreSQL takes longer to store the rows than Python to make them, so a writer thread
        # inserts one chunk while this thread generates the next. It shares this connection (psycopg2
        # connections are thread-safe, and this thread does not use it meanwhile): one transaction.
        raw = connection.connection

        def write(built: list[_Deal]) -> None:
            with raw.cursor() as cursor:
                self.insert(built, report, cursor=cursor)

        with _Writer(write) as writer:
            for chunk in chunks:
                writer.put([self.deal(i) for i in chunk])

    def insert(self, built: list[_Deal], report: SeedReport, cursor) -> None:
        """Insert one chunk of generated deals and their children; ids flow from parents to children."""
        org, ts = self.org_id, self.timestamp
        ids = bulk_insert(
            Deal,
            ("organization_id", *DEAL_COLUMNS),
            [
                (org, *(ts(d.row[c]) if c in DEAL_TIME_COLUMNS else d.row[c] for c in DEAL_COLUMNS))
                for d in built
            ],
            returning_ids=True,
            cursor=cursor,
        )
        for d, deal_id in zip(built, ids, strict=True):
            d.id = deal_id
        stakeholder_ids = iter(
            bulk_insert(
                DealStakeholder,
                DEAL_CHILD + STAKEHOLDER_COLUMNS,
                [(org, d.id, *s[:-1], ts(s[-1])) for d in built for s in d.stakeholders],
                returning_ids=True,
                cursor=cursor,
            )
        )
        for d in built:
            d.stakeholder_ids = [next(stakeholder_ids) for _ in d.stakeholders]
        children = {
            "stage changes": (
                StageChange,
                STAGE_CHANGE_COLUMNS,
                [
                    (org, d.id, from_id, to_id, ts(entered), ts(left), by, version, reason, overridden)
                    for d in built
                    for from_id, to_id, entered, left, by, version, reason, overridden in d.entries
                ],
            ),
            "activities": (
                Activity,
                ACTIVITY_COLUMNS,
                [
                    (org, d.id, kind, subject, at, None if who is None else d.stakeholder_ids[who], by, at)
                    for d in built
                    for kind, subject, minute, who, by in d.activities
                    for at in (ts(minute),)
                ],
            ),
            "tags": (DealTag, TAG_COLUMNS, [(org, d.id, *t) for d in built for t in d.tags]),
            "steps": (
                DealStep,
                STEP_COLUMNS,
                [
                    (org, d.id, *s[:8], ts(s[8]), s[9], s[10], ts(s[11]))
                    for d in built
                    for s in d.steps.values()
                ],
            ),
            "answers": (
                CriterionAnswer,
                ANSWER_COLUMNS,
                [(org, d.id, c, text, by, ts(at)) for d in built for c, text, by, at in d.answers.values()],
            ),
        }
        for key, (model, columns, rows) in children.items():
            bulk_insert(model, DEAL_CHILD + columns, rows, cursor=cursor)
            report.rows[key] += len(rows)
        report.rows["stakeholders"] += sum(len(d.stakeholders) for d in built)
        for d in built:
            status = d.row["status"]
            report.won += status == DealStatus.WON
            report.lost += status == DealStatus.LOST
            report.open += status == DealStatus.OPEN

    def route(self, proc: _Process, profile: dict, pinned_stage: int | None) -> list[list]:
        """The deal's path: [stage index, entered, left or None, how it left] per stage entry."""
        rng, last = self.rng, len(proc.stages) - 1
        if pinned_stage is not None:
            durations = [self.duration(proc.stages[k], profile) for k in range(pinned_stage)]
            expected = (proc.stages[pinned_stage].expected_days or 21) * DAY
            t = -rng.randint(60, int(expected * 0.8)) - sum(durations)
            path = []
            for k, d in enumerate(durations):
                path.append([k, t, t + d, "next"])
                t += d
            return [*path, [pinned_stage, t, None, None]]
        t = -rng.randint(DAY, HISTORY_DAYS * DAY)
        k, backs, path = 0, 0, []
        while True:
            stay = self.duration(proc.stages[k], profile)
            lose = proc.lose_chance(k, t) * profile["lose"]
            r = rng.random()
            if r < lose:
                how, stay = "lost", int(stay * 1.3)
            elif k > 0 and backs < 2 and r < lose + 0.05:
                how = "back"
            elif k + 2 < last and r < lose + 0.09:
                how = "skip"
            else:
                how = "won" if k == last else "next"
            if t + stay >= 0:  # the anchor falls in this stage: the deal is still open here
                path.append([k, t, None, None])
                return path
            path.append([k, t, t + stay, how])
            if how in ("won", "lost"):
                return path
            backs += how == "back"
            k = {"back": k - 1, "skip": k + 2, "next": k + 1}[how]
            t += stay

    def duration(self, stage: Stage, profile: dict) -> int:
        days = (stage.expected_days or 21) * profile["speed"] * self.rng.lognormvariate(-0.25, 0.55)
        if self.rng.random() < 0.05:
            days *= self.rng.uniform(2.5, 6)  # a stall
        return max(120, int(days * DAY))

    def deal(self, i: int) -> _Deal:
        rng = self.rng
        pinned = self.pinned[i] if i < len(self.pinned) else None
        if pinned is not None:
            proc, (rep_id, profile) = self.processes[pinned[0]], self.reps[i % len(self.reps)]
        else:
            proc = self.processes[0] if rng.random() < self.processes[0].share else self.processes[1]
            rep_id, profile = self.reps[rng.randrange(len(self.reps))]
        new_business = proc is self.processes[0]
        # Expansion deals go to the older customers (the first 40% of accounts).
        pool = len(self.accounts) if new_business else max(1, len(self.accounts) * 2 // 5)
        account = self.accounts[rng.randrange(pool)]
        path = self.route(proc, profile, pinned[1] if pinned else None)
        first, final = path[0], path[-1]
        status = {"won": DealStatus.WON, "lost": DealStatus.LOST}.get(final[3], DealStatus.OPEN)
        closed = final[2] if status != DealStatus.OPEN else None
        if new_business:
            lead_source = self.lead_source() if rng.random() < 0.85 else ""
        else:
            lead_source = "Existing customer"
        d = _Deal(
            {
                "name": f"{account.name} — {rng.choice(proc.topics)}",
                "account_id": account.id,
                "owner_id": rep_id,
                "process_id": proc.process.id,
                "stage_id": proc.stages[final[0]].id,
                "status": status,
                "amount": Decimal(max(2000, round(rng.lognormvariate(math.log(proc.amount), 0.6), -2))),
                "currency": self.currency,
                "expected_close": None,
                "closed_at": closed,
                "lost_reason": "",
                "industry": account.industry,
                "budget": None,
                "lead_source": lead_source,
                "description": rng.choice(DEAL_DESCRIPTIONS),
                "version": len(path) + (closed is not None),
                "stage_entered_at": final[1],
                "created_at": first[1],
                "updated_at": closed if closed is not None else final[1],
            }
        )
        used_contacts: set[int] = set()
        for _ in range(rng.choices((0, 1, 2), cum_weights=(55, 90, 100))[0]):
            self.tag(d, TagKind.COMPETITOR, rng.choice(COMPETITORS))
        for _ in range(rng.choices((0, 1, 2), cum_weights=(60, 92, 100))[0]):
            self.tag(d, TagKind.OBJECTION, rng.choice(OBJECTIONS))
        self.stakeholder(d, account, used_contacts, None, first[1] + 60)
        overrides: list[dict] = []
        previous_stage_id = None
        for k, entered, left, how in path:
            stage = proc.stages[k]
            is_open = left is None
            end = left if not is_open else 0
            d.entries.append(
                (
                    previous_stage_id,
                    stage.id,
                    entered,
                    left,
                    self.manager_id if overrides else rep_id,
                    proc.version_at(entered),
                    rng.choice(OVERRIDE_REASONS) if overrides else "",
                    overrides,
                )
            )
            previous_stage_id = stage.id
            overrides = []
            for c in proc.criteria[k]:
                if c.kind == CriterionKind.STEP and c.id not in d.steps:
                    d.steps[c.id] = [
                        c.label, c.description, StepSource.STAGE, stage.id, c.id, len(d.steps), None, None,
                        None, None, rep_id, entered,
                    ]  # fmt: skip
            # An idle open deal: nothing logged for the last few weeks (the digest's material).
            quiet_from = end
            if is_open and entered < -15 * DAY and rng.random() < 0.35:
                quiet_from = -rng.randint(15 * DAY, -entered)
            forward = how in ("next", "skip", "won")
            for c in proc.criteria[k]:
                if forward:
                    required = c.importance != Importance.OPTIONAL
                    if (
                        c.label == NEW_BUSINESS_V2_CRITERION
                        and proc.v2_start is not None
                        and entered < proc.v2_start
                    ):
                        required = False  # not a criterion yet under version 1
                    wanted = required or rng.random() < 0.6
                    if (
                        required
                        and c.importance == Importance.MANDATORY
                        and how != "won"
                        and rng.random() < 0.02
                    ):
                        overrides.append(CriterionStatus(criterion=c, met=False).as_dict())
                        continue
                else:
                    wanted = rng.random() < 0.35
                if wanted:
                    self.satisfy(d, c, account, used_contacts, entered, min(end, quiet_from), rep_id)
            self.touches(d, entered, min(end, quiet_from), profile, rep_id)
            if is_open and rng.random() < 0.3:
                self.custom_step(d, entered, min(end, quiet_from), rep_id)
        if rng.random() < 0.3 and len(used_contacts) < len(account.contacts):
            self.stakeholder(d, account, used_contacts, None, self.between(first[1], final[2] or 0))
        self.finish(d, status, closed, final)
        return d

    def lead_source(self) -> str:
        return self.rng.choices(self.lead_sources, cum_weights=self.lead_weights)[0]

    def tag(self, d: _Deal, kind: str, value: str) -> None:
        if (kind, value) not in d.tags:
            d.tags.append((kind, value))

    def stakeholder(self, d: _Deal, account: _Account, used: set[int], role: str | None, minute: int) -> None:
        """Put an unused contact of the account on the deal: one who usually takes `role` if any."""
        free = [(cid, hint) for cid, hint in account.contacts if cid not in used]
        if not free:
            return
        matching = [c for c in free if c[1] == role] if role else []
        contact_id, hint = matching[0] if matching else self.rng.choice(free)
        role = role or hint
        (low, high), attitudes, results, wins = ROLE_PROFILE[role]
        rng = self.rng
        d.stakeholders.append(
            [
                contact_id,
                role,
                rng.randint(low, high),
                rng.choice(attitudes),
                results if rng.random() < 0.7 else "",
                wins if rng.random() < 0.5 else "",
                minute,
            ]
        )
        used.add(contact_id)

    def activity(self, d: _Deal, kind: str, subject: str, minute: int, by_id: int) -> None:
        present = [n for n, s in enumerate(d.stakeholders) if s[-1] <= minute]
        who = self.rng.choice(present) if present and self.rng.random() < 0.4 else None
        d.activities.append((kind, subject, minute, who, by_id))
        d.last_activity = max(d.last_activity, minute)

    def touches(self, d: _Deal, start: int, end: int, profile: dict, by_id: int) -> None:
        """The calls, meetings, emails and notes of one stage entry: about one every two to three weeks,
        on top of the ones the exit criteria ask for."""
        if end <= start:
            return
        rng = self.rng
        spans = (end - start) / (18 * DAY)
        for _ in range(min(4, int(spans * profile["touch"] * rng.uniform(0.5, 1.5) + 0.5))):
            kind = rng.choices(self.kinds, cum_weights=self.kind_weights)[0]
            self.activity(d, kind, rng.choice(ACTIVITY_SUBJECTS[kind]), self.between(start, end), by_id)

    def satisfy(
        self, d: _Deal, c: ExitCriterion, account: _Account, used: set[int], start: int, end: int, by_id: int
    ) -> None:
        """Make criterion `c` hold, by something that happened between `start` and `end`."""
        rng, row = self.rng, d.row
        end = max(start + 1, end)
        if c.kind == CriterionKind.STEP:
            step = d.steps[c.id]
            if step[8] is None:  # completed_at
                step[8], step[9] = self.between(start, end), by_id
        elif c.kind == CriterionKind.FIELD:
            if c.field_name == "expected_close" and row["expected_close"] is None:
                row["expected_close"] = self.at(end + rng.randint(7, 60) * DAY).date()
            elif c.field_name == "budget" and row["budget"] is None:
                row["budget"] = Decimal(round(float(row["amount"]) * rng.uniform(0.8, 1.6), -3))
            elif c.field_name == "lead_source" and not row["lead_source"]:
                row["lead_source"] = self.lead_source()
            elif c.field_name == "competitors" and not any(kind == TagKind.COMPETITOR for kind, _ in d.tags):
                self.tag(d, TagKind.COMPETITOR, rng.choice(COMPETITORS))
            elif c.field_name == "objections" and not any(kind == TagKind.OBJECTION for kind, _ in d.tags):
                self.tag(d, TagKind.OBJECTION, rng.choice(OBJECTIONS))
            # amount, industry and account are always filled.
        elif c.kind == CriterionKind.STAKEHOLDER_ROLE:
            if not any(s[1] == c.role for s in d.stakeholders):
                self.stakeholder(d, account, used, c.role, self.between(start, end))
        elif c.kind == CriterionKind.ACTIVITY_KIND:
            self.activity(d, c.activity_kind, c.label, self.between(start, end), by_id)
        elif c.id not in d.answers:
            text = rng.choice(ANSWERS.get(c.question, ["Confirmed with the customer."]))
            d.answers[c.id] = (c.id, text, by_id, self.between(start, end))

    def custom_step(self, d: _Deal, start: int, end: int, by_id: int) -> None:
        rng = self.rng
        created = self.between(start, max(start + 1, end))
        due = self.at(rng.randint(1, 21) * DAY).date()
        d.steps[f"custom-{len(d.steps)}"] = [
            rng.choice(CUSTOM_STEPS), "", StepSource.CUSTOM, None, None, len(d.steps), due, by_id, None, None,
            by_id, created,
        ]  # fmt: skip

    def finish(self, d: _Deal, status: str, closed: int | None, final: list) -> None:
        """Close, date and time-stamp the deal once its history is known."""
        rng, row = self.rng, d.row
        if status == DealStatus.LOST:
            reason = rng.choice(LOST_REASONS)
            if reason == "Chose a competitor":
                competitors = [value for kind, value in d.tags if kind == TagKind.COMPETITOR]
                rival = competitors[0] if competitors else rng.choice(COMPETITORS)
                self.tag(d, TagKind.COMPETITOR, rival)
                reason = "Chose to build it in-house" if rival == "In-house build" else f"Chose {rival}"
            row["lost_reason"] = reason
        if row["expected_close"] is None and rng.random() < 0.6:
            base = closed if closed is not None else 0
            row["expected_close"] = self.at(base + rng.randint(-20, 60) * DAY).date()
        if row["budget"] is None and rng.random() < 0.3:
            row["budget"] = Decimal(round(float(row["amount"]) * rng.uniform(0.7, 1.5), -3))
        last = max(d.last_activity, final[1], closed if closed is not None else final[1])
        row["last_activity_at"] = last


def _timestamps(anchor: datetime, *, as_text: bool):
    """Minutes from the anchor to datetimes, or (for COPY, when the anchor is midnight UTC) to text
    built from cached day and clock strings: about ten times cheaper than making and formatting a
    datetime for each of millions of values."""
    if not as_text or anchor.astimezone(UTC).time() != dt_time(0):
        return lambda minute: None if minute is None else anchor + timedelta(minutes=minute)
    base = anchor.astimezone(UTC).date()
    days: dict[int, str] = {}
    clock = [f"{h:02d}:{m:02d}:00+00" for h in range(24) for m in range(60)]

    def text(minute: int | None) -> str | None:
        if minute is None:
            return None
        day, rest = divmod(minute, DAY)
        date_text = days.get(day)
        if date_text is None:
            date_text = days[day] = (base + timedelta(days=day)).isoformat()
        return f"{date_text} {clock[rest]}"

    return text


class _Writer:
    """A thread that applies `write` to each item put, in order; its first error is raised here."""

    def __init__(self, write):
        self.write = write
        self.items: queue.Queue = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self.run, name="seed-writer", daemon=True)

    def run(self) -> None:
        while (item := self.items.get()) is not None:
            if self.error is None:
                try:
                    self.write(item)
                except BaseException as exc:  # handed to the main thread, which re-raises it
                    self.error = exc

    def put(self, item) -> None:
        if self.error is not None:
            raise self.error
        self.items.put(item)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.items.put(None)
        self.thread.join()
        if self.error is not None and exc_info[0] is None:
            raise self.error


def _seed_playbooks(people: _People) -> None:
    """The demo's playbooks, through the playbook services (each active play is matched against the open
    deals after commit, as when ops create one)."""
    from deals.demo_data import DEMO_PLAYBOOKS
    from playbooks.services import (
        play_create,
        play_question_add,
        play_resource_add,
        play_step_add,
        playbook_create,
    )

    org = people.org
    processes = {p.name: p for p in Process.objects.filter(organization=org)}
    for spec in DEMO_PLAYBOOKS:
        process = processes.get(spec["process"]) if spec["process"] else None
        if spec["process"] and process is None:
            continue
        playbook = playbook_create(
            org=org,
            by=None,
            name=spec["name"],
            description=spec["description"],
            process=process,
            owner=people.ops,
        )
        for p in spec["plays"]:
            target = None
            if p.get("target_stage") and process is not None:
                target = Stage.objects.filter(process=process, name=p["target_stage"]).first()
            play = play_create(
                playbook=playbook,
                by=None,
                name=p["name"],
                priority=p["priority"],
                condition=p["condition"],
                talk_track=p["talk_track"],
                target_stage=target,
            )
            for text in p["questions"]:
                play_question_add(play=play, by=None, text=text)
            for title, url in p["resources"]:
                play_resource_add(play=play, by=None, title=title, url=url)
            for title in p["steps"]:
                play_step_add(play=play, by=None, title=title)
