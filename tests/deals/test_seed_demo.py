"""seed_demo: the demo org's people and processes, and a generated history that keeps every rule the
deal services keep, the same for the same seed."""

from collections import defaultdict
from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Max

from deals.demo import demo_seed
from deals.demo_data import DEMO_PASSWORD, NEW_BUSINESS_V2_CRITERION
from deals.models import (
    Activity,
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
from orgs.models import Membership, Organization, Role
from salesproc.models import CriterionKind, ExitCriterion, Importance, Process, ProcessVersion

ANCHOR = datetime(2026, 3, 1, tzinfo=UTC)


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def demo(db):
    report = demo_seed(deals=60, seed=1, anchor=ANCHOR)
    return report.org


def test_people_roles_and_reporting_lines(demo):
    members = {
        m.user.email: m
        for m in Membership.objects.filter(organization=demo).select_related("user", "manager")
    }
    assert {email: m.role for email, m in members.items()} == {
        "ops@demo.test": Role.OPS,
        "manager@demo.test": Role.MANAGER,
        "rep1@demo.test": Role.REP,
        "rep2@demo.test": Role.REP,
        "rep3@demo.test": Role.REP,
        "rep4@demo.test": Role.REP,
        "admin@demo.test": Role.ADMIN,
    }
    for n in range(1, 5):
        assert members[f"rep{n}@demo.test"].manager == members["manager@demo.test"]
    assert all(m.user.check_password(DEMO_PASSWORD) for m in members.values())
    assert demo.name == "Demo Co" and demo.slug == "demo"


def test_processes_cover_every_phase_kind_and_importance(demo):
    new_business = Process.objects.get(organization=demo, name="New business")
    expansion = Process.objects.get(organization=demo, name="Expansion")
    assert new_business.stages.count() == 7 and expansion.stages.count() == 4
    assert set(new_business.stages.values_list("phase", flat=True)) == {"change", "decision", "value"}
    criteria = ExitCriterion.objects.filter(stage__process=new_business)
    assert set(criteria.values_list("kind", flat=True)) == set(CriterionKind.values)
    assert set(criteria.values_list("importance", flat=True)) == set(Importance.values)
    # Version 2 added the economic-buyer criterion six months before the anchor.
    v1, v2 = ProcessVersion.objects.filter(process=new_business).order_by("number")
    assert new_business.current_version == v2
    assert v2.changes == [f'Business case: added critical criterion "{NEW_BUSINESS_V2_CRITERION}"']
    assert v1.created_at < v2.created_at < ANCHOR


def test_deals_spread_over_processes_reps_outcomes_and_stages(demo):
    deals = list(Deal.objects.filter(organization=demo).select_related("stage", "process"))
    assert len(deals) == 60
    statuses = {d.status for d in deals}
    assert statuses == {DealStatus.OPEN, DealStatus.WON, DealStatus.LOST}
    assert {d.process.name for d in deals} == {"New business", "Expansion"}
    assert len({d.owner_id for d in deals}) == 4
    open_stages = {d.stage_id for d in deals if d.status == DealStatus.OPEN}
    all_stages = set(Process.objects.filter(organization=demo).values_list("stages", flat=True))
    assert open_stages == all_stages
    assert all(d.lost_reason for d in deals if d.status == DealStatus.LOST)
    assert not any(d.lost_reason for d in deals if d.status != DealStatus.LOST)
    created = [d.created_at for d in deals]
    assert (ANCHOR - min(created)).days > 300 and max(created) < ANCHOR
    assert all(d.industry and d.amount > 0 for d in deals)


def test_history_has_every_kind_of_row(demo):
    scoped = {"organization": demo}
    kinds = set(Activity.objects.filter(**scoped).values_list("kind", flat=True))
    assert kinds == {"call", "meeting", "email", "note"}
    assert set(DealTag.objects.filter(**scoped).values_list("kind", flat=True)) == {
        TagKind.COMPETITOR,
        TagKind.OBJECTION,
    }
    stakeholders = DealStakeholder.objects.filter(**scoped)
    assert stakeholders.values("role").distinct().count() >= 5
    assert stakeholders.values("attitude").distinct().count() >= 4
    steps = DealStep.objects.filter(**scoped)
    assert steps.filter(source=StepSource.STAGE, completed_at__isnull=False).exists()
    assert steps.filter(source=StepSource.STAGE, completed_at__isnull=True).exists()
    assert steps.filter(source=StepSource.CUSTOM).exists()
    assert CriterionAnswer.objects.filter(**scoped).exists()
    # Back-moves and skips both happen.
    moves = StageChange.objects.filter(**scoped, from_stage__isnull=False).select_related(
        "from_stage", "to_stage"
    )
    steps_moved = {m.to_stage.order - m.from_stage.order for m in moves}
    assert any(s < 0 for s in steps_moved) and 2 in steps_moved


def test_stage_history_chain_keeps_the_services_rules(demo):
    entries = defaultdict(list)
    for e in StageChange.objects.filter(organization=demo).order_by("deal_id", "entered_at", "id"):
        entries[e.deal_id].append(e)
    deals = Deal.objects.filter(organization=demo).select_related("process")
    versions = dict(ProcessVersion.objects.filter(organization=demo).values_list("id", "process_id"))
    activity = dict(
        Activity.objects.filter(organization=demo).values_list("deal_id").annotate(m=Max("occurred_at"))
    )
    for deal in deals:
        chain = entries[deal.id]
        assert chain, deal
        assert chain[0].from_stage_id is None
        for before, after in zip(chain, chain[1:], strict=False):
            assert before.left_at == after.entered_at
            assert after.from_stage_id == before.to_stage_id
        for e in chain:
            assert versions[e.process_version_id] == deal.process_id
            assert e.left_at is None or e.left_at > e.entered_at
        last = chain[-1]
        open_entries = [e for e in chain if e.left_at is None]
        if deal.status == DealStatus.OPEN:
            assert open_entries == [last] and deal.closed_at is None
        else:
            assert open_entries == [] and last.left_at == deal.closed_at
        assert deal.stage_id == last.to_stage_id
        assert deal.stage_entered_at == last.entered_at
        assert deal.version == len(chain) + (deal.status != DealStatus.OPEN)
        latest = [last.entered_at, deal.closed_at, activity.get(deal.id)]
        assert deal.last_activity_at == max(t for t in latest if t is not None)


def _met(criterion, deal, entry, facts) -> bool:
    """Whether `criterion` held when the deal left `entry`."""
    left = entry.left_at
    if criterion.kind == CriterionKind.STEP:
        done = facts["steps"].get((deal.id, criterion.id))
        return done is not None and done <= left
    if criterion.kind == CriterionKind.FIELD:
        if criterion.field_name in ("competitors", "objections"):
            return (deal.id, criterion.field_name[:-1]) in facts["tags"]
        return getattr(deal, criterion.field_name) not in (None, "", 0)
    if criterion.kind == CriterionKind.STAKEHOLDER_ROLE:
        return any(at <= left for at in facts["roles"].get((deal.id, criterion.role), []))
    if criterion.kind == CriterionKind.ACTIVITY_KIND:
        times = facts["activities"].get((deal.id, criterion.activity_kind), [])
        return any(entry.entered_at <= at <= left for at in times)
    answered = facts["answers"].get((deal.id, criterion.id))
    return answered is not None and answered <= left


def test_deals_left_stages_forward_only_through_their_exit_criteria(demo):
    """Critical criteria always held; mandatory ones held or a manager overrode them on the move."""
    scoped = {"organization": demo}
    facts = {
        "steps": {
            (d, c): at
            for d, c, at in DealStep.objects.filter(**scoped, criterion__isnull=False).values_list(
                "deal_id", "criterion_id", "completed_at"
            )
            if at is not None
        },
        "tags": set(DealTag.objects.filter(**scoped).values_list("deal_id", "kind")),
        "roles": defaultdict(list),
        "activities": defaultdict(list),
        "answers": {
            (d, c): at
            for d, c, at in CriterionAnswer.objects.filter(**scoped).values_list(
                "deal_id", "criterion_id", "answered_at"
            )
        },
    }
    for d, role, at in DealStakeholder.objects.filter(**scoped).values_list("deal_id", "role", "created_at"):
        facts["roles"][(d, role)].append(at)
    for d, kind, at in Activity.objects.filter(**scoped).values_list("deal_id", "kind", "occurred_at"):
        facts["activities"][(d, kind)].append(at)
    criteria = defaultdict(list)
    for c in ExitCriterion.objects.filter(**scoped).order_by("order"):
        criteria[c.stage_id].append(c)
    v2_start = ProcessVersion.objects.get(
        process__organization=demo, process__name="New business", number=2
    ).created_at
    deals = {d.id: d for d in Deal.objects.filter(**scoped)}
    chains = defaultdict(list)
    for e in StageChange.objects.filter(**scoped).select_related("to_stage").order_by("entered_at", "id"):
        chains[e.deal_id].append(e)
    checked = overridden = 0
    for deal_id, chain in chains.items():
        deal = deals[deal_id]
        for i, entry in enumerate(chain):
            after = chain[i + 1] if i + 1 < len(chain) else None
            forward = after.to_stage.order > entry.to_stage.order if after else deal.status == DealStatus.WON
            if not forward:
                continue
            waived = {c["id"] for c in after.overridden_criteria} if after else set()
            if after is not None and after.override_reason:
                assert waived and after.by_id != deal.owner_id  # the manager overrode
                overridden += 1
            for c in criteria[entry.to_stage_id]:
                if c.importance == Importance.OPTIONAL:
                    continue
                if c.label == NEW_BUSINESS_V2_CRITERION and entry.entered_at < v2_start:
                    continue
                if c.id in waived:
                    assert c.importance == Importance.MANDATORY
                    continue
                assert _met(c, deal, entry, facts), (deal.name, entry.to_stage.name, c.label)
                checked += 1
    assert checked > 50 and overridden > 0


def test_the_same_seed_gives_the_same_deals_and_history(db):
    def snapshot(org):
        names = dict(Process.objects.filter(organization=org).values_list("stages", "stages__name"))
        entries = defaultdict(list)
        for deal_id, stage_id, entered in (
            StageChange.objects.filter(organization=org)
            .order_by("deal_id", "entered_at", "id")
            .values_list("deal_id", "to_stage_id", "entered_at")
        ):
            entries[deal_id].append((names[stage_id], entered))
        return [
            (d.name, d.amount, d.status, d.closed_at, d.lost_reason, entries[d.id], d.activities.count())
            for d in Deal.objects.filter(organization=org).order_by("id")
        ]

    first = demo_seed(deals=40, seed=7, anchor=ANCHOR, slug="demo-a", name="Demo A").org
    second = demo_seed(deals=40, seed=7, anchor=ANCHOR, slug="demo-b", name="Demo B").org
    other = demo_seed(deals=40, seed=8, anchor=ANCHOR, slug="demo-c", name="Demo C").org
    assert snapshot(first) == snapshot(second)
    assert snapshot(first) != snapshot(other)


def test_command_prints_the_logins_and_if_empty_keeps_existing_data(db):
    out = seed("--deals", "30", "--seed", "2")
    assert "Loaded Demo Co: 30 deals" in out
    assert f"password for all: {DEMO_PASSWORD}" in out
    for email in (
        "ops@demo.test",
        "manager@demo.test",
        "rep1@demo.test",
        "rep4@demo.test",
        "admin@demo.test",
    ):
        assert email in out
    deals, entries = Deal.objects.count(), StageChange.objects.count()

    again = seed("--deals", "30", "--seed", "2", "--if-empty")
    assert "Demo Co is already loaded." in again and "rep2@demo.test" in again
    assert (Deal.objects.count(), StageChange.objects.count(), Organization.objects.count()) == (
        deals,
        entries,
        1,
    )

    with pytest.raises(CommandError, match="already exists"):
        seed("--deals", "30")
    assert Deal.objects.count() == deals


def test_if_empty_on_an_empty_database_seeds(db):
    assert "Loaded Demo Co: 12 deals" in seed("--deals", "12", "--if-empty")
    assert Deal.objects.filter(organization__slug="demo").count() == 12


@pytest.mark.django_db
def test_the_demo_has_playbooks_whose_plays_attach_where_they_apply(django_capture_on_commit_callbacks):
    from playbooks.conditions import evaluate, parse
    from playbooks.models import DealPlay, Play

    with django_capture_on_commit_callbacks(execute=True):
        demo_seed(deals=60, seed=1, anchor=ANCHOR)

    plays = list(Play.objects.select_related("playbook").order_by("name"))
    assert len(plays) == 5 and all(p.active for p in plays)
    for play in plays:
        attached = set(
            DealPlay.objects.filter(play=play, detached_at__isnull=True).values_list("deal_id", flat=True)
        )
        deals = Deal.objects.filter(status=DealStatus.OPEN)
        if play.playbook.process_id:
            deals = deals.filter(process_id=play.playbook.process_id)
        condition = parse(play.condition)
        assert attached == {d.id for d in deals if evaluate(condition, d)}, play.name
    assert DealPlay.objects.exists() and DealStep.objects.filter(source=StepSource.PLAY).exists()
