"""Property: for any condition and any deal, `evaluate` in Python and `filter(to_q(...))` in SQL agree.

Runs on whichever database the suite runs on (SQLite locally, PostgreSQL in CI). The deals are built
once per test to hit the edges: no budget, empty text, case variants, LIKE wildcards in values, tags
that differ only in case, stage entries exactly on a day boundary and a microsecond either side of it,
and for the stakeholder gaps: attitudes and influence either side of the threshold, activities with a
stakeholder exactly 30 days before `now` and a microsecond either side, activities with nobody named,
and procurement that joined before, during and after a decision-phase stay (hand-built deals beside the
random ones). Text values avoid upper-case non-ASCII letters: SQLite folds the case of ASCII only (see
playbooks.conditions)."""

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deals.models import Deal, DealStakeholder, StakeholderRole
from deals.network import ENGAGEMENT_DAYS, GAP_CODES
from deals.services import activity_log, deal_create, deal_move, stakeholder_add
from playbooks.conditions import FIELDS, LIST, OPERATORS, describe, evaluate, explain, parse, to_q
from salesproc.models import Phase
from scorecards.models import DealScorecard, Scorecard
from tests.factories import AccountFactory, ContactFactory

INDUSTRIES = [
    "Healthcare",
    "healthcare",
    "HEALTHCARE",
    "Health care",
    "Retail",
    "50% off",
    "a_b",
    "a\\b",
    "café",
    "",
]
LEAD_SOURCES = ["", "Web", "web", "Referral", "Partner_1"]
COMPETITORS = ["Globex", "initech", "Umbrella Corp", "100%_sure"]
OBJECTIONS = ["Price", "timing", "Security"]
AMOUNTS = ["0", "999.99", "1000", "5000", "12000.50", "50000"]
BUDGETS = [None, None, "0", "5000", "12000.50", "100000"]
DAYS = [0, 0, 1, 2, 7, 30]
# Offsets around the day boundary: exactly on it, a microsecond either side, half a day in.
OFFSETS = [timedelta(0), timedelta(microseconds=1), -timedelta(microseconds=1), -timedelta(hours=12)]
ROLES = [r.value for r in StakeholderRole]
ATTITUDES = ["opponent", "opponent", "skeptic", "neutral", "supporter", "advocate"]
# How long before `now` an activity with a stakeholder happened: either side of the 30-day window.
ACTIVITY_AGES = [
    timedelta(0),
    timedelta(days=3),
    timedelta(days=ENGAGEMENT_DAYS),
    timedelta(days=ENGAGEMENT_DAYS) - timedelta(microseconds=1),
    timedelta(days=ENGAGEMENT_DAYS) + timedelta(microseconds=1),
    timedelta(days=45),
]

TEXT_VALUES = [
    *INDUSTRIES[:-1],
    *LEAD_SOURCES[1:],
    "HEALTH",
    "care",
    "tail",
    "%",
    "_",
    "\\",
    "off",
    "CAFé",
    "é",
    "partner_",
    "x",
]
TAG_VALUES = [
    *COMPETITORS,
    *OBJECTIONS,
    "GLOBEX",
    "Initech",
    "umbrella corp",
    "Glob",
    "price",
    "SECURITY",
    "Hooli",
]
SOME_NUMBERS = [0, 1, 999.99, 1000, 5000, 12000.5, "12000.50", 50000, 100000, -5]
NUMBERS = st.one_of(st.sampled_from(SOME_NUMBERS), st.decimals(min_value=0, max_value=120000, places=2))
# The deals' own days and their neighbours, where gt and gte part ways.
SOME_DAYS = [0, 1, 2, 3, 6, 7, 8, 29, 30, 31]


@dataclass
class World:
    org: object
    now: datetime
    deals: list
    stage_ids: list[int]
    owner_ids: list[int]


@pytest.fixture
def world(org, process, stages, admin, manager, rep, other_rep) -> World:
    rng = random.Random(20240611)
    now = timezone.now()
    account = AccountFactory(organization=org, industry="")
    contacts = [ContactFactory(organization=org, account=account) for _ in range(3)]
    owners = [admin, manager, rep]
    ids = []
    for i in range(22):
        deal = deal_create(
            by=admin,
            process=process,
            stage=rng.choice(stages),
            at=now - timedelta(days=rng.choice(DAYS)) + rng.choice(OFFSETS),
            name=f"Deal {i}",
            account=account,
            owner=rng.choice(owners).user_id,
            amount=rng.choice(AMOUNTS),
            budget=rng.choice(BUDGETS),
            industry=rng.choice(INDUSTRIES),
            lead_source=rng.choice(LEAD_SOURCES),
            competitors=rng.sample(COMPETITORS, k=rng.randint(0, 2)),
            objections=rng.sample(OBJECTIONS, k=rng.randint(0, 2)),
        )
        people = [
            stakeholder_add(
                deal=deal,
                by=admin,
                contact=contact,
                role=role,
                attitude=rng.choice(ATTITUDES),
                influence=rng.randint(2, 5),
            )
            for contact, role in zip(contacts, rng.sample(ROLES, k=rng.randint(0, 3)), strict=False)
        ]
        for _ in range(rng.randint(0, 3)):
            activity_log(
                deal=deal,
                by=admin,
                kind="call",
                subject="Call",
                stakeholder=rng.choice([*people, None]) if people else None,
                occurred_at=now - rng.choice(ACTIVITY_AGES),
            )
        ids.append(deal.id)
    ids += gap_edge_deals(admin, process, stages, account, now)
    # Scorecards: some deals have none (no result, no score), the others any result and score.
    scorecard = Scorecard.objects.create(organization=org, process=process)
    for deal_id in ids:
        if rng.random() < 0.7:
            DealScorecard.objects.create(
                organization=org,
                deal_id=deal_id,
                scorecard=scorecard,
                result=rng.choice(["go", "no_go", "incomplete"]),
                score=Decimal(rng.choice(["0", "39.99", "40", "72.5", "100"])),
            )
    deals = list(
        Deal.objects.filter(id__in=ids).select_related("stage").prefetch_related("tags", "stakeholders")
    )
    return World(
        org=org,
        now=now,
        deals=deals,
        stage_ids=[s.id for s in stages],
        owner_ids=[m.user_id for m in (admin, manager, rep, other_rep)],
    )


def gap_edge_deals(admin, process, stages, account, now) -> list[int]:
    """Deals built by hand for the edges of each stakeholder gap (see the module docstring)."""
    qualify, discover, propose, negotiate = stages
    ids = []

    def deal_in(stage, days_ago):
        deal = deal_create(
            by=admin,
            process=process,
            stage=stage,
            at=now - timedelta(days=days_ago),
            name="Edge",
            account=account,
        )
        ids.append(deal.id)
        return deal

    def person(deal, role="user", *, joined_days_ago=None, **fields):
        contact = ContactFactory(organization=deal.organization, account=account)
        s = stakeholder_add(deal=deal, by=admin, contact=contact, role=role, **fields)
        if joined_days_ago is not None:
            DealStakeholder.objects.filter(pk=s.pk).update(created_at=now - timedelta(days=joined_days_ago))
        return s

    def move(deal, stage, days_ago):
        deal.refresh_from_db()
        deal_move(
            deal=deal,
            to_stage=stage,
            by=admin,
            expected_version=deal.version,
            at=now - timedelta(days=days_ago),
        )

    def talk(deal, stakeholder, age):
        activity_log(
            deal=deal, by=admin, kind="call", subject="Call", stakeholder=stakeholder, occurred_at=now - age
        )

    # Procurement added in the change phase, then the deal entered decision: no gap.
    before = deal_in(discover, 10)
    person(before, "procurement", joined_days_ago=9)
    move(before, propose, 5)
    # Procurement added while in decision: the gap.
    during = deal_in(propose, 10)
    person(during, "procurement", joined_days_ago=3)
    # Added in a decision stay, back to change, then decision again: it joined during the phase.
    returned = deal_in(propose, 10)
    person(returned, "procurement", joined_days_ago=8)
    move(returned, discover, 6)
    move(returned, negotiate, 2)
    # Added in decision, and the deal is back in change now: no gap.
    back = deal_in(negotiate, 10)
    person(back, "procurement", joined_days_ago=4)
    move(back, qualify, 1)
    # Added exactly as the deal entered decision (entered_at <= created_at): the gap.
    exact = deal_in(propose, 7)
    person(exact, "procurement", joined_days_ago=7)
    # One stakeholder engaged exactly 30 days before now (still counts), another a microsecond earlier.
    edge = deal_in(qualify, 40)
    one, other = person(edge, "champion"), person(edge, "economic_buyer")
    talk(edge, one, timedelta(days=ENGAGEMENT_DAYS))
    talk(edge, other, timedelta(days=ENGAGEMENT_DAYS) + timedelta(microseconds=1))
    # Two engaged lately, and one activity with nobody named: not single-threaded.
    two = deal_in(qualify, 3)
    a, b = person(two), person(two, "champion")
    talk(two, a, timedelta(days=1))
    talk(two, b, timedelta(days=ENGAGEMENT_DAYS))
    talk(two, None, timedelta(0))
    # No gap at all: both roles, nobody engaged lately (idle is not single-threaded).
    clean = deal_in(negotiate, 1)
    person(clean, "economic_buyer", attitude="opponent", influence=3)
    person(clean, "champion", joined_days_ago=0)
    # Opponents either side of the influence threshold.
    strong = deal_in(discover, 2)
    person(strong, attitude="opponent", influence=4)
    weak = deal_in(discover, 2)
    person(weak, attitude="opponent", influence=3)
    person(weak, "economic_buyer", attitude="skeptic", influence=5)
    return ids


def vocabulary(world: World, field: str) -> list:
    """The values the tests use for `field`: the deals' own values, their neighbours and variants."""
    return {
        "text": TEXT_VALUES,
        "number": SOME_NUMBERS,
        "days": SOME_DAYS,
        "stage": world.stage_ids,
        "phase": [p.value for p in Phase],
        "owner": world.owner_ids,
        "choice": list(FIELDS[field].choices or []),
        LIST: list(FIELDS[field].choices) if FIELDS[field].choices else TAG_VALUES,
    }[FIELDS[field].type]


def leaf_values(world: World, field: str, op: str):
    """A strategy for valid values of `field` under `op` (None: the operator takes no value)."""
    if op in ("is_empty", "is_not_empty"):
        return st.none()
    one = st.sampled_from(vocabulary(world, field))
    if FIELDS[field].type == "number":
        one = NUMBERS
    elif FIELDS[field].type == "days":
        one = st.one_of(one, st.integers(0, 40))
    if op in ("in", "not_in"):
        return st.lists(one, min_size=1, max_size=3)
    return one


@st.composite
def leaves(draw, world: World):
    field = draw(st.sampled_from(sorted(FIELDS)))
    op = draw(st.sampled_from(OPERATORS[FIELDS[field].type]))
    value = draw(leaf_values(world, field, op))
    return {"field": field, "op": op} if value is None else {"field": field, "op": op, "value": value}


def conditions(world: World, depth: int = 3):
    """Random conditions at most `depth` levels deep."""
    if depth == 1:
        return leaves(world)
    inner = conditions(world, depth - 1)
    return st.one_of(
        leaves(world),
        st.lists(inner, min_size=1, max_size=3).map(lambda c: {"all": c}),
        st.lists(inner, min_size=1, max_size=3).map(lambda c: {"any": c}),
        inner.map(lambda c: {"not": c}),
    )


def agree(world: World, cond) -> None:
    in_python = {d.id for d in world.deals if evaluate(cond, d, now=world.now)}
    in_sql = set(
        Deal.objects.filter(id__in=[d.id for d in world.deals])
        .filter(to_q(cond, now=world.now))
        .values_list("id", flat=True)
    )
    assert in_python == in_sql, describe(cond)


def test_every_leaf_and_its_negation_agree(world):
    # Exhaustive over the vocabulary: one leaf at a time, each operator, each value, and its `not`.
    for field in sorted(FIELDS):
        values = vocabulary(world, field)
        for op in OPERATORS[FIELDS[field].type]:
            if op in ("is_empty", "is_not_empty"):
                raws = [{"field": field, "op": op}]
            elif op in ("in", "not_in"):
                raws = [{"field": field, "op": op, "value": values[i : i + 2]} for i in range(len(values))]
            else:
                raws = [{"field": field, "op": op, "value": v} for v in values]
            for raw in raws:
                cond = parse(raw, organization=world.org)
                agree(world, cond)
                agree(world, parse({"not": cond.data}))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_evaluate_and_to_q_agree_on_every_deal(world, data):
    agree(world, parse(data.draw(conditions(world), label="condition"), organization=world.org))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_explain_has_reasons_exactly_when_the_condition_holds_and_data_round_trips(world, data):
    cond = parse(data.draw(conditions(world), label="condition"), organization=world.org)

    assert parse(cond.data).data == cond.data
    for deal in world.deals:
        assert bool(explain(cond, deal, now=world.now)) == evaluate(cond, deal, now=world.now)


def test_the_world_has_the_edges_the_property_needs(world):
    # Guards the fixture: without these the property would pass trivially.
    assert {d.budget for d in world.deals} >= {None, Decimal("0")}
    assert "" in {d.industry for d in world.deals}
    assert any(not d.tags.all() for d in world.deals) and any(d.tags.all() for d in world.deals)
    assert any(not d.stakeholders.all() for d in world.deals) and any(
        d.stakeholders.all() for d in world.deals
    )
    boundaries = {(world.now - d.stage_entered_at) % timedelta(days=1) for d in world.deals}
    assert timedelta(0) in boundaries and timedelta(days=1) - timedelta(microseconds=1) in boundaries
    # Every stakeholder gap is present on some deals and absent on others.
    for code in GAP_CODES:
        having = [
            evaluate({"field": "stakeholder_gaps", "op": "contains", "value": code}, d, now=world.now)
            for d in world.deals
        ]
        assert any(having) and not all(having), code
    assert any(
        evaluate({"field": "stakeholder_gaps", "op": "is_empty"}, d, now=world.now) for d in world.deals
    )
