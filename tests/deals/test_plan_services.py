"""The deal plan's services: a step's stakeholder, editing and deleting steps, the plan's order, the next
step, and the playbook refresh after an activity."""

from datetime import timedelta

import pytest
from django.utils import timezone

from deals.models import DealStep, StepComment, StepSource
from deals.selectors import deal_page, next_step
from deals.services import (
    activity_log,
    deal_create,
    stakeholder_add,
    stakeholder_remove,
    step_add,
    step_comment_add,
    step_delete,
    step_move,
    step_set_done,
    step_update,
    steps_reorder,
)
from orgs.models import Role
from salesproc.lib.errors import InvalidInput, NotAllowed
from tests.factories import ContactFactory, MembershipFactory


@pytest.fixture
def champion(deal, rep, contact):
    return stakeholder_add(deal=deal, by=rep, contact=contact, role="champion")


@pytest.fixture
def other_deal(rep, process, account):
    return deal_create(by=rep, process=process, name="Other deal", account=account)


def stage_step(deal, title="Confirm the budget", position=0) -> DealStep:
    """A step from the exit criteria, as stage entry writes it."""
    return DealStep.objects.create(
        organization_id=deal.organization_id,
        deal=deal,
        title=title,
        source=StepSource.STAGE,
        stage=deal.stage,
        position=position,
    )


def plan_titles(deal) -> list[str]:
    return list(DealStep.objects.filter(deal=deal).order_by("position", "id").values_list("title", flat=True))


# ---- the step's stakeholder


def test_a_custom_step_names_a_stakeholder_of_the_deal(deal, rep, champion):
    step = step_add(deal=deal, by=rep, title="Walk the champion through the ROI", stakeholder=champion.id)

    step.refresh_from_db()
    assert step.stakeholder == champion


def test_a_stakeholder_of_another_deal_is_refused_and_nothing_is_written(deal, other_deal, rep, org):
    theirs = stakeholder_add(
        deal=other_deal, by=rep, contact=ContactFactory(organization=org), role="economic_buyer"
    )

    with pytest.raises(InvalidInput) as caught:
        step_add(deal=deal, by=rep, title="Meet the CFO", stakeholder=theirs)

    assert caught.value.errors == {"stakeholder": ["That person is not a stakeholder on this deal."]}
    assert not DealStep.objects.filter(deal=deal).exists()


def test_removing_the_stakeholder_keeps_the_step(deal, rep, champion):
    step = step_add(deal=deal, by=rep, title="Coach the champion", stakeholder=champion)

    stakeholder_remove(stakeholder=champion, by=rep)

    step.refresh_from_db()
    assert step.stakeholder is None and step.title == "Coach the champion"


# ---- editing


def test_the_owner_edits_every_field_of_a_custom_step(deal, rep, manager, champion):
    step = step_add(deal=deal, by=rep, title="Draft", description="old")
    due = timezone.localdate() + timedelta(days=3)

    step_update(
        step=step,
        by=rep,
        title="Send the mutual action plan",
        description="With dates",
        due_date=due.isoformat(),
        assignee=manager.user_id,
        stakeholder=champion.id,
    )

    step.refresh_from_db()
    assert (step.title, step.description, step.due_date, step.assignee, step.stakeholder) == (
        "Send the mutual action plan",
        "With dates",
        due,
        manager.user,
        champion,
    )


@pytest.mark.parametrize("role", ["rep", "manager", "admin"])
def test_the_owner_their_manager_and_admins_may_edit(request, deal, role):
    step = step_add(deal=deal, by=request.getfixturevalue("rep"), title="Draft")

    step_update(step=step, by=request.getfixturevalue(role), title=f"By {role}")

    step.refresh_from_db()
    assert step.title == f"By {role}"


def test_another_rep_cannot_edit_delete_or_reorder(deal, rep, other_rep):
    step = step_add(deal=deal, by=rep, title="Mine")
    second = step_add(deal=deal, by=rep, title="Second")

    with pytest.raises(NotAllowed):
        step_update(step=step, by=other_rep, title="Theirs")
    with pytest.raises(NotAllowed):
        step_delete(step=step, by=other_rep)
    with pytest.raises(NotAllowed):
        steps_reorder(deal=deal, by=other_rep, step_ids=[second.id, step.id])

    assert plan_titles(deal) == ["Mine", "Second"]


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"title": "  "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"due_date": "next week"}, "due_date"),
        ({"assignee": 987654}, "assignee"),
        ({"stakeholder": 987654}, "stakeholder"),
        ({"priority": "high"}, "priority"),
    ],
)
def test_bad_edits_are_refused_and_change_nothing(deal, rep, fields, field):
    step = step_add(deal=deal, by=rep, title="Keep me", description="as is")

    with pytest.raises(InvalidInput) as caught:
        step_update(step=step, by=rep, description="changed", **fields)

    assert field in caught.value.errors
    step.refresh_from_db()
    assert (step.title, step.description) == ("Keep me", "as is")


def test_an_inactive_member_cannot_be_assigned(deal, rep, org):
    gone = MembershipFactory(organization=org, role=Role.REP, is_active=False)
    step = step_add(deal=deal, by=rep, title="Keep me")

    with pytest.raises(InvalidInput) as caught:
        step_update(step=step, by=rep, assignee=gone.user_id)

    assert "assignee" in caught.value.errors
    step.refresh_from_db()
    assert step.assignee_id is None


def test_a_stage_step_is_planned_but_its_title_is_the_processes(deal, rep, champion):
    step = stage_step(deal)
    due = timezone.localdate() + timedelta(days=2)

    step_update(step=step, by=rep, due_date=due, stakeholder=champion, title=step.title)
    with pytest.raises(InvalidInput) as caught:
        step_update(step=step, by=rep, title="My own wording", due_date=None)

    assert "exit criteria" in caught.value.errors["title"][0]
    step.refresh_from_db()
    assert (step.title, step.due_date, step.stakeholder) == ("Confirm the budget", due, champion)


# ---- deleting


def test_deleting_a_custom_step_takes_its_comments_and_closes_the_gap(deal, rep):
    first, middle, last = (step_add(deal=deal, by=rep, title=t) for t in ("A", "B", "C"))
    step_comment_add(step=middle, by=rep, body="Note")

    step_delete(step=middle, by=rep)

    assert plan_titles(deal) == ["A", "C"]
    assert not StepComment.objects.exists()
    assert list(
        DealStep.objects.filter(deal=deal).order_by("position").values_list("position", flat=True)
    ) == [
        first.position,
        middle.position,
    ]
    assert step_add(deal=deal, by=rep, title="D").position == last.position


@pytest.mark.parametrize("source", [StepSource.STAGE, StepSource.PLAY])
def test_stage_and_play_steps_cannot_be_deleted(deal, rep, source):
    step = stage_step(deal)
    DealStep.objects.filter(pk=step.pk).update(source=source)
    step.source = source

    with pytest.raises(InvalidInput) as caught:
        step_delete(step=step, by=rep)

    assert "Only the deal's own (custom) steps can be deleted" in caught.value.errors["step"][0]
    assert DealStep.objects.filter(pk=step.pk).exists()


# ---- order


def test_all_steps_share_one_order_and_new_steps_go_to_the_end(deal, rep):
    gate = stage_step(deal, position=0)
    a = step_add(deal=deal, by=rep, title="A")
    b = step_add(deal=deal, by=rep, title="B")

    assert steps_reorder(deal=deal, by=rep, step_ids=[b.id, gate.id, a.id]) == [b.id, gate.id, a.id]
    c = step_add(deal=deal, by=rep, title="C")

    assert plan_titles(deal) == ["B", "Confirm the budget", "A", "C"]
    assert [s.id for s in deal_page(deal=deal).steps] == [b.id, gate.id, a.id, c.id]


def test_reorder_writes_the_positions_in_one_statement(deal, rep, django_assert_num_queries):
    steps = [step_add(deal=deal, by=rep, title=str(i)) for i in range(12)]

    # the plan's rows locked and read + one UPDATE (inside its savepoint)
    with django_assert_num_queries(4):
        steps_reorder(deal=deal, by=rep, step_ids=[s.id for s in reversed(steps)])

    assert plan_titles(deal) == [str(i) for i in reversed(range(12))]


@pytest.mark.parametrize(
    "make_ids, message",
    [
        (lambda ids, other: ids[:-1], "missing"),
        (lambda ids, other: [*ids, ids[0]], "repeated"),
        (lambda ids, other: [*ids, other], "not steps of this deal's plan"),
        (lambda ids, other: [*ids[:-1], other], "missing"),
        (lambda ids, other: [], "missing"),
        (lambda ids, other: "1,2,3", "A list of the plan's step ids"),
        (lambda ids, other: [str(i) for i in ids], "A list of the plan's step ids"),
    ],
)
def test_a_wrong_order_is_refused_and_changes_nothing(deal, other_deal, rep, make_ids, message):
    steps = [step_add(deal=deal, by=rep, title=t) for t in ("A", "B", "C")]
    theirs = step_add(deal=other_deal, by=rep, title="Elsewhere")
    ids = [s.id for s in reversed(steps)]

    with pytest.raises(InvalidInput) as caught:
        steps_reorder(deal=deal, by=rep, step_ids=make_ids(ids, theirs.id))

    assert message in caught.value.errors["step_ids"][0]
    assert plan_titles(deal) == ["A", "B", "C"]


def test_move_up_and_down_swaps_with_the_neighbour(deal, rep):
    a, b, c = (step_add(deal=deal, by=rep, title=t) for t in ("A", "B", "C"))

    step_move(step=c, by=rep, direction="up")
    assert plan_titles(deal) == ["A", "C", "B"]
    step_move(step=a, by=rep, direction="down")
    assert plan_titles(deal) == ["C", "A", "B"]
    step_move(step=c, by=rep, direction="up")  # already first: unchanged
    assert plan_titles(deal) == ["C", "A", "B"]
    with pytest.raises(InvalidInput):
        step_move(step=b, by=rep, direction="sideways")


# ---- the next step


def test_the_next_step_is_the_open_step_due_first_then_the_plans_order(deal, rep):
    today = timezone.localdate()
    undated_first = step_add(deal=deal, by=rep, title="Undated, first in the plan")
    later = step_add(deal=deal, by=rep, title="Due later", due_date=today + timedelta(days=9))
    sooner = step_add(deal=deal, by=rep, title="Due sooner", due_date=today + timedelta(days=2))
    same_day = step_add(deal=deal, by=rep, title="Due sooner too", due_date=today + timedelta(days=2))

    assert deal_page(deal=deal).next_step == sooner
    # Same due date: the plan's order decides, so reordering changes the next step.
    steps_reorder(deal=deal, by=rep, step_ids=[undated_first.id, later.id, same_day.id, sooner.id])
    assert deal_page(deal=deal).next_step == same_day
    step_set_done(step=same_day, by=rep, done=True)
    step_set_done(step=sooner, by=rep, done=True)
    assert deal_page(deal=deal).next_step == later
    step_set_done(step=later, by=rep, done=True)
    # Only undated steps left: the first open one in the plan.
    assert deal_page(deal=deal).next_step == undated_first


def test_an_overdue_step_comes_before_the_plans_first_step(deal, rep):
    first = step_add(deal=deal, by=rep, title="First in the plan")
    overdue = step_add(deal=deal, by=rep, title="Overdue", due_date=timezone.localdate() - timedelta(days=1))

    assert next_step([first, overdue]) == overdue
    step_set_done(step=overdue, by=rep, done=True)
    assert deal_page(deal=deal).next_step == first


def test_no_next_step_when_everything_is_done(deal, rep):
    step = step_add(deal=deal, by=rep, title="Only")
    step_set_done(step=step, by=rep, done=True)

    assert deal_page(deal=deal).next_step is None


# ---- activities re-evaluate plays


def test_logging_an_activity_re_evaluates_the_deals_plays_after_the_commit(
    deal, rep, monkeypatch, django_capture_on_commit_callbacks
):
    evaluated = []
    monkeypatch.setattr(
        "playbooks.triggering.deal.deal_plays_evaluate", lambda *, deal_id: evaluated.append(deal_id)
    )

    with django_capture_on_commit_callbacks(execute=True):
        activity_log(deal=deal, by=rep, kind="meeting", subject="Met the champion")
        assert evaluated == []

    assert evaluated == [deal.id]


def test_a_refused_activity_re_evaluates_nothing(
    deal, other_rep, monkeypatch, django_capture_on_commit_callbacks
):
    evaluated = []
    monkeypatch.setattr(
        "playbooks.triggering.deal.deal_plays_evaluate", lambda *, deal_id: evaluated.append(deal_id)
    )

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(NotAllowed):
        activity_log(deal=deal, by=other_rep, kind="meeting", subject="Not mine")

    assert evaluated == []


def test_steps_of_a_stage_entered_later_join_the_end_of_a_reordered_plan_with_gaps(deal, rep, ops, stages):
    from deals.services import deal_move
    from salesproc.services import criterion_add

    criterion_add(stage=stages[1], by=ops, kind="step", label="Demo to the team", importance="optional")
    a, b, c = (step_add(deal=deal, by=rep, title=t) for t in ("A", "B", "C"))
    steps_reorder(deal=deal, by=rep, step_ids=[c.id, a.id, b.id])
    # A step leaving the plan without closing its gap, as a play that stops matching takes its steps.
    DealStep.objects.filter(pk=a.pk).delete()

    deal_move(deal=deal, to_stage=stages[1], by=rep, expected_version=deal.version)

    assert plan_titles(deal) == ["C", "B", "Demo to the team"]
