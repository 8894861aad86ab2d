"""Roles enforced in the services themselves, so pages, API, tasks and importers inherit them: who may
change which deal, who may edit the process, who may manage members. Refusals write nothing.

The page and API refusals are covered where those live: process editing in
tests/salesproc/test_editor_pages.py (403 for reps and managers) and tests/api/test_processes.py (import
403), member invitation and editing in tests/orgs/test_pages.py (403 for rep, manager and ops)."""

import pytest
from django.core import mail

from deals.models import Activity, CriterionAnswer, Deal, DealStakeholder, DealStep, StageChange
from deals.selectors import deal_page, deals_for_page
from deals.services import (
    activity_log,
    answer_set,
    deal_create,
    deal_lose,
    deal_move,
    deal_update,
    deal_win,
    stakeholder_add,
    step_add,
    step_set_done,
)
from orgs.models import Membership, Role, User
from orgs.selectors import can_edit_deal
from orgs.services import member_invite, member_update
from salesproc.lib.errors import NotAllowed
from salesproc.models import ExitCriterion, Process, ProcessVersion, Stage
from salesproc.services import (
    criterion_add,
    criterion_delete,
    criterion_update,
    process_create,
    process_import,
    stage_add,
    stage_delete,
    stage_move,
    stage_reorder,
    stage_update,
)
from tests.factories import ContactFactory, MembershipFactory
from tests.fixtures import SIMPLE_PROCESS

# Deals


def deal_writes(deal, stages, criterion):
    """Every service that changes a deal or its plan, as (name, call taking the acting membership)."""
    step = DealStep.objects.create(organization=deal.organization, deal=deal, title="Existing step")
    contact = ContactFactory(organization=deal.organization)
    return {
        "deal_update": lambda by: deal_update(deal=deal, by=by, expected_version=deal.version, name="Mine"),
        "deal_move": lambda by: deal_move(
            deal=deal, to_stage=stages[1], by=by, expected_version=deal.version
        ),
        "deal_win": lambda by: deal_win(deal=deal, by=by, expected_version=deal.version),
        "deal_lose": lambda by: deal_lose(deal=deal, by=by, expected_version=deal.version, reason="Price"),
        "step_add": lambda by: step_add(deal=deal, by=by, title="Sneaky step"),
        "step_set_done": lambda by: step_set_done(step=step, by=by, done=True),
        "activity_log": lambda by: activity_log(deal=deal, by=by, kind="call", subject="Hello"),
        "stakeholder_add": lambda by: stakeholder_add(deal=deal, by=by, contact=contact, role="champion"),
        "answer_set": lambda by: answer_set(deal=deal, by=by, criterion=criterion, text="Because"),
    }


WRITES = [
    "deal_update",
    "deal_move",
    "deal_win",
    "deal_lose",
    "step_add",
    "step_set_done",
    "activity_log",
    "stakeholder_add",
    "answer_set",
]


def deal_state(deal) -> tuple:
    """Everything a deal write could change."""
    return (
        Deal.objects.values_list("version", "name", "stage_id", "status", "closed_at").get(pk=deal.pk),
        StageChange.objects.filter(deal=deal).count(),
        list(DealStep.objects.filter(deal=deal).values_list("id", "title", "completed_at")),
        Activity.objects.filter(deal=deal).count(),
        DealStakeholder.objects.filter(deal=deal).count(),
        CriterionAnswer.objects.filter(deal=deal).count(),
    )


@pytest.fixture
def question(stages):
    """An optional question on the first stage, so answer_set has something to answer."""
    return criterion_add(
        stage=stages[0], by=None, kind="answer", label="Why now", question="Why now?", importance="optional"
    )


@pytest.fixture
def second_team(org):
    """Another manager with a rep of their own: a team that is not `manager`'s."""
    boss = MembershipFactory(organization=org, role=Role.MANAGER, user__email="manager2@acme.test")
    their_rep = MembershipFactory(organization=org, role=Role.REP, manager=boss, user__email="rep3@acme.test")
    return boss, their_rep


@pytest.mark.parametrize("write", WRITES)
def test_a_rep_cannot_change_another_reps_deal(write, other_rep, deal, stages, question):
    calls = deal_writes(deal, stages, question)
    before = deal_state(deal)

    with pytest.raises(NotAllowed, match="belongs to another rep"):
        calls[write](other_rep)

    assert deal_state(deal) == before


@pytest.mark.parametrize("write", WRITES)
def test_ops_cannot_change_a_deal(write, ops, deal, stages, question):
    calls = deal_writes(deal, stages, question)
    before = deal_state(deal)

    with pytest.raises(NotAllowed):
        calls[write](ops)

    assert deal_state(deal) == before


def test_a_rep_reads_another_reps_deal(other_rep, deal):
    found = deals_for_page(org=other_rep.organization).get(pk=deal.pk)
    page = deal_page(deal=found)

    assert page.deal.name == "Globex rollout"
    assert [s.name for s in page.stages] == [s["name"] for s in SIMPLE_PROCESS["stages"]]
    assert not can_edit_deal(other_rep, found)


@pytest.mark.parametrize("write", WRITES)
def test_a_manager_changes_the_deals_of_their_reports(write, manager, deal, stages, question):
    calls = deal_writes(deal, stages, question)
    before = deal_state(deal)

    calls[write](manager)

    assert deal_state(deal) != before


def test_a_managers_team_includes_indirect_reports(org, manager, process, stages, account):
    lead = MembershipFactory(organization=org, role=Role.MANAGER, manager=manager)
    junior = MembershipFactory(organization=org, role=Role.REP, manager=lead)
    deal = deal_create(by=junior, process=process, name="Junior's deal", account=account)

    deal_move(deal=deal, to_stage=stages[1], by=manager, expected_version=deal.version)

    deal.refresh_from_db()
    assert deal.stage_id == stages[1].id
    assert StageChange.objects.get(deal=deal, to_stage=stages[1]).by_id == manager.user_id


@pytest.mark.parametrize("write", WRITES)
def test_a_manager_cannot_change_another_teams_deal(
    write, manager, second_team, process, stages, account, question
):
    _, their_rep = second_team
    deal = deal_create(by=their_rep, process=process, name="Not yours", account=account)
    calls = deal_writes(deal, stages, question)
    before = deal_state(deal)

    with pytest.raises(NotAllowed):
        calls[write](manager)

    assert deal_state(deal) == before


def test_a_manager_cannot_change_the_deal_of_a_rep_outside_any_team(manager, other_rep, process, account):
    deal = deal_create(by=other_rep, process=process, name="Solo", account=account)
    before = deal_state(deal)

    with pytest.raises(NotAllowed):
        deal_update(deal=deal, by=manager, expected_version=deal.version, name="Taken over")

    assert deal_state(deal) == before


def test_an_admin_changes_any_deal_of_the_org(admin, second_team, process, stages, account):
    _, their_rep = second_team
    deal = deal_create(by=their_rep, process=process, name="Anyone's", account=account)

    deal_update(deal=deal, by=admin, expected_version=deal.version, name="Renamed by admin")
    deal_move(deal=deal, to_stage=stages[1], by=admin, expected_version=deal.version)

    deal.refresh_from_db()
    assert (deal.name, deal.stage_id, deal.version) == ("Renamed by admin", stages[1].id, 3)


def test_a_member_of_another_org_cannot_change_the_deal(deal, stages, other_org_world):
    before = deal_state(deal)

    with pytest.raises(NotAllowed):
        deal_move(deal=deal, to_stage=stages[1], by=other_org_world["member"], expected_version=deal.version)

    assert deal_state(deal) == before


# The process


def process_writes(process, stages, criterion):
    """Every service that edits a process, as (name, call taking the acting membership)."""
    org = process.organization
    edited = {**SIMPLE_PROCESS, "description": "Edited by file"}
    return {
        "process_create": lambda by: process_create(org=org, by=by, name="Partner deals"),
        "process_import": lambda by: process_import(org=org, data=edited, by=by),
        "stage_add": lambda by: stage_add(process=process, by=by, name="Sneaky"),
        "stage_update": lambda by: stage_update(stage=stages[1], by=by, probability=99),
        "stage_reorder": lambda by: stage_reorder(
            process=process, by=by, stage_ids=[s.id for s in reversed(stages)]
        ),
        "stage_move": lambda by: stage_move(stage=stages[1], by=by, direction=1),
        "stage_delete": lambda by: stage_delete(stage=stages[3], by=by),
        "criterion_add": lambda by: criterion_add(stage=stages[1], by=by, kind="step", label="Demo"),
        "criterion_update": lambda by: criterion_update(criterion=criterion, by=by, importance="critical"),
        "criterion_delete": lambda by: criterion_delete(criterion=criterion, by=by),
    }


PROCESS_WRITES = [
    "process_create",
    "process_import",
    "stage_add",
    "stage_update",
    "stage_reorder",
    "stage_move",
    "stage_delete",
    "criterion_add",
    "criterion_update",
    "criterion_delete",
]


def process_state(org) -> tuple:
    """Everything a process edit could write."""
    return (
        list(Process.objects.filter(organization=org).order_by("id").values()),
        list(Stage.objects.filter(organization=org).order_by("id").values()),
        list(ExitCriterion.objects.filter(organization=org).order_by("id").values()),
        ProcessVersion.objects.filter(organization=org).count(),
    )


@pytest.mark.parametrize("write", PROCESS_WRITES)
@pytest.mark.parametrize("who", ["rep", "manager"])
def test_reps_and_managers_cannot_edit_the_process(write, who, request, process, stages, question):
    member = request.getfixturevalue(who)
    calls = process_writes(process, stages, question)
    before = process_state(process.organization)

    with pytest.raises(NotAllowed, match="Only ops can edit the process"):
        calls[write](member)

    assert process_state(process.organization) == before


@pytest.mark.parametrize("write", PROCESS_WRITES)
@pytest.mark.parametrize("who", ["ops", "admin"])
def test_ops_and_admins_edit_the_process_and_each_edit_is_a_version(
    write, who, request, process, stages, question
):
    member = request.getfixturevalue(who)
    calls = process_writes(process, stages, question)
    versions = ProcessVersion.objects.filter(organization=process.organization).count()

    calls[write](member)

    latest = ProcessVersion.objects.filter(organization=process.organization).order_by("-id").first()
    assert ProcessVersion.objects.filter(organization=process.organization).count() == versions + 1
    assert latest.author_id == member.user_id


@pytest.mark.parametrize("write", PROCESS_WRITES)
def test_ops_of_another_org_cannot_edit_the_process(write, other_org, process, stages, question):
    foreign_ops = MembershipFactory(organization=other_org, role=Role.OPS)
    calls = process_writes(process, stages, question)
    before = process_state(process.organization)

    with pytest.raises(NotAllowed):
        calls[write](foreign_ops)

    assert process_state(process.organization) == before


# Members


def member_state() -> tuple:
    return (
        list(User.objects.order_by("id").values_list("id", "email")),
        list(Membership.objects.order_by("id").values_list("id", "role", "manager_id", "is_active")),
    )


@pytest.mark.parametrize("who", ["rep", "manager", "ops"])
def test_only_admins_invite_members(who, request, org, django_capture_on_commit_callbacks):
    member = request.getfixturevalue(who)
    before = member_state()

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(NotAllowed, match="Only admins"):
        member_invite(org=org, by=member, email="newbie@acme.test", role=Role.REP)

    assert member_state() == before
    assert mail.outbox == []


@pytest.mark.parametrize("who", ["rep", "manager", "ops"])
def test_only_admins_change_members(who, request, org, rep, manager):
    member = request.getfixturevalue(who)
    before = member_state()

    with pytest.raises(NotAllowed, match="Only admins"):
        member_update(membership=rep, by=member, role=Role.ADMIN, manager=None, is_active=False)

    assert member_state() == before


def test_a_rep_cannot_promote_themselves(rep):
    with pytest.raises(NotAllowed):
        member_update(membership=rep, by=rep, role=Role.ADMIN)

    rep.refresh_from_db()
    assert rep.role == Role.REP


def test_an_admin_of_another_org_cannot_manage_this_orgs_members(org, rep, other_org_world):
    foreign_admin = other_org_world["member"]
    before = member_state()

    with pytest.raises(NotAllowed):
        member_invite(org=org, by=foreign_admin, email="spy@acme.test", role=Role.ADMIN)
    with pytest.raises(NotAllowed):
        member_update(membership=rep, by=foreign_admin, role=Role.ADMIN)

    assert member_state() == before


def test_an_admin_invites_and_changes_members(org, admin, manager, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        invited, _ = member_invite(
            org=org, by=admin, email="Newbie@Acme.test", role=Role.REP, manager=manager
        )

    member_update(membership=invited, by=admin, role=Role.OPS, manager=None)

    invited.refresh_from_db()
    assert (invited.user.email, invited.role, invited.manager_id) == ("newbie@acme.test", Role.OPS, None)
    assert mail.outbox[0].to == ["newbie@acme.test"]
