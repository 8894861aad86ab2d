"""Triggering: plays attach and detach as deals change (after commit), their steps join and leave the
plan, completed steps stay; evaluating again changes nothing; the bulk re-evaluation of a play reaches
the same state as evaluating deal by deal; the Celery job reports progress; what one evaluation costs."""

import random
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from deals.models import DealStep, StakeholderRole
from deals.services import (
    deal_create,
    deal_lose,
    deal_move,
    deal_update,
    deal_win,
    stakeholder_add,
    stakeholder_remove,
    stakeholder_update,
    step_set_done,
)
from playbooks.models import DealPlay, Play, PlayEvaluationRun
from playbooks.services import play_create, play_set_active, play_step_add, play_update, playbook_update
from playbooks.tasks import reevaluate_play
from playbooks.triggering import deal_plays_evaluate, play_evaluation_request, play_reevaluate
from salesproc.services import process_import
from tests.factories import ContactFactory, PlaybookFactory, PlayFactory, PlayStepFactory
from tests.fixtures import SIMPLE_PROCESS

CHAMPION = {"field": "stakeholder_roles", "op": "contains", "value": "champion"}


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run what the services schedule after commit, as a real commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def playbook(org, process):
    return PlaybookFactory(organization=org, process=process, name="Enterprise")


def make_play(playbook, condition, *, steps=("First step", "Second step"), **kwargs):
    play = PlayFactory(playbook=playbook, condition=condition, **kwargs)
    for i, title in enumerate(steps):
        PlayStepFactory(play=play, title=title, order=i)
    return play


def attached(deal) -> set[str]:
    return set(
        DealPlay.objects.filter(deal=deal, detached_at__isnull=True).values_list("play__name", flat=True)
    )


def play_lines(deal) -> list[tuple[str, bool]]:
    return [
        (s.title, s.completed_at is not None)
        for s in DealStep.objects.filter(deal=deal, source="play").order_by("position", "id")
    ]


# ---------------------------------------------------------------------------------------------------
# Each kind of change


def test_a_new_deal_gets_its_matching_plays_and_their_steps(committed, playbook, rep, process, account):
    make_play(playbook, {"field": "amount", "op": "gte", "value": 10000}, name="Big")
    make_play(playbook, {"field": "amount", "op": "lt", "value": 10000}, name="Small")
    with committed():
        deal = deal_create(by=rep, process=process, name="Big one", account=account, amount="50000")
    assert attached(deal) == {"Big"}
    lines = list(DealStep.objects.filter(deal=deal, source="play").order_by("position"))
    assert [(s.title, s.position, s.created_by_id, s.play_step.play.name) for s in lines] == [
        ("First step", 0, None, "Big"),
        ("Second step", 1, None, "Big"),
    ]
    assert DealPlay.objects.get(deal=deal).why == ["amount is at least 10,000"]


def test_nothing_happens_before_commit(playbook, rep, process, account):
    make_play(playbook, {"field": "amount", "op": "gte", "value": 0}, name="Any")
    deal = deal_create(by=rep, process=process, name="Uncommitted", account=account)
    assert attached(deal) == set()


def test_a_move_attaches_and_a_move_back_detaches(committed, playbook, rep, deal, stages):
    make_play(playbook, {"field": "stage", "op": "eq", "value": stages[1].id}, name="Discovery")
    with committed():
        deal_move(deal=deal, to_stage=stages[1], by=rep, expected_version=deal.version)
    assert attached(deal) == {"Discovery"}
    assert DealPlay.objects.get(deal=deal).why == ["stage is Discover"]
    with committed():
        deal_move(deal=deal, to_stage=stages[0], by=rep, expected_version=deal.version)
    assert attached(deal) == set()
    assert play_lines(deal) == []
    assert DealPlay.objects.filter(deal=deal, detached_at__isnull=False).count() == 1


def test_a_field_edit_attaches_and_detaches(committed, playbook, rep, deal):
    make_play(playbook, {"field": "industry", "op": "eq", "value": "healthcare"}, name="Healthcare")
    with committed():
        deal_update(deal=deal, by=rep, expected_version=deal.version, industry="Healthcare")
    assert attached(deal) == {"Healthcare"}
    with committed():
        deal_update(deal=deal, by=rep, expected_version=deal.version, industry="Retail")
    assert attached(deal) == set()


@pytest.mark.parametrize("field", ["competitors", "objections"])
def test_a_competitor_or_objection_added_attaches(committed, playbook, rep, deal, field):
    make_play(playbook, {"field": field, "op": "contains", "value": "Initech"}, name="Tagged")
    with committed():
        deal_update(deal=deal, by=rep, expected_version=deal.version, **{field: ["Globex"]})
    assert attached(deal) == set()
    with committed():
        deal_update(deal=deal, by=rep, expected_version=deal.version, **{field: ["Globex", "initech"]})
    assert attached(deal) == {"Tagged"}
    with committed():
        deal_update(deal=deal, by=rep, expected_version=deal.version, **{field: []})
    assert attached(deal) == set()


def test_a_stakeholder_role_added_changed_or_removed(committed, playbook, rep, deal, contact):
    make_play(playbook, CHAMPION, name="Champion")
    make_play(playbook, {"field": "stakeholder_roles", "op": "is_empty"}, name="Nobody", steps=())
    with committed():
        deal_plays_evaluate(deal_id=deal.id)
    assert attached(deal) == {"Nobody"}
    with committed():
        stakeholder = stakeholder_add(deal=deal, by=rep, contact=contact, role="champion")
    assert attached(deal) == {"Champion"}
    with committed():
        stakeholder_update(stakeholder=stakeholder, by=rep, role="blocker")
    assert attached(deal) == set()
    with committed():
        stakeholder_update(stakeholder=stakeholder, by=rep, role="champion")
    assert attached(deal) == {"Champion"}
    with committed():
        stakeholder_remove(stakeholder=stakeholder, by=rep)
    assert attached(deal) == {"Nobody"}


@pytest.mark.parametrize("close", ["win", "lose"])
def test_a_closed_deal_detaches_every_play_and_keeps_completed_steps(committed, playbook, rep, deal, close):
    make_play(playbook, {"field": "amount", "op": "gte", "value": 0}, name="Always")
    deal_plays_evaluate(deal_id=deal.id)
    step_set_done(step=DealStep.objects.get(deal=deal, title="First step"), by=rep, done=True)
    with committed():
        if close == "win":
            deal_win(deal=deal, by=rep, expected_version=deal.version)
        else:
            deal_lose(deal=deal, by=rep, expected_version=deal.version, reason="Budget cut")
    assert attached(deal) == set()
    assert play_lines(deal) == [("First step", True)]


def test_completed_steps_stay_and_are_not_added_twice_when_the_play_returns(committed, playbook, rep, deal):
    make_play(playbook, {"field": "industry", "op": "eq", "value": "Energy"}, name="Energy")
    with committed():
        deal_update(deal=deal, by=rep, expected_version=deal.version, industry="Energy")
    step_set_done(step=DealStep.objects.get(deal=deal, title="Second step"), by=rep, done=True)
    with committed():
        deal_update(deal=deal, by=rep, expected_version=deal.version, industry="Retail")
    assert play_lines(deal) == [("Second step", True)]
    with committed():
        deal_update(deal=deal, by=rep, expected_version=deal.version, industry="Energy")
    assert play_lines(deal) == [("Second step", True), ("First step", False)]
    assert DealPlay.objects.filter(deal=deal).count() == 2


def test_only_active_plays_of_active_playbooks_for_the_deals_process_apply(org, playbook, admin, deal):
    other_process, _ = process_import(org=org, data={**SIMPLE_PROCESS, "name": "Renewals"}, by=None)
    always = {"field": "amount", "op": "gte", "value": 0}
    make_play(playbook, always, name="Here")
    make_play(PlaybookFactory(organization=org, process=None), always, name="Everywhere")
    make_play(PlaybookFactory(organization=org, process=other_process), always, name="Elsewhere")
    make_play(PlaybookFactory(organization=org, process=None, active=False), always, name="Shelved book")
    make_play(playbook, always, name="Switched off", active=False)
    make_play(PlaybookFactory(process=None), always, name="Other org")
    deal_plays_evaluate(deal_id=deal.id)
    assert attached(deal) == {"Here", "Everywhere"}


def test_evaluating_again_changes_nothing(playbook, deal, contact, rep):
    stakeholder_add(deal=deal, by=rep, contact=contact, role="champion")
    make_play(playbook, CHAMPION, name="Champion")
    make_play(playbook, {"any": [CHAMPION, {"field": "budget", "op": "is_empty"}]}, name="Either")
    first = deal_plays_evaluate(deal_id=deal.id)
    assert first.changed and len(first.attached) == 2 and first.steps_added == 4
    rows = list(DealPlay.objects.values_list("id", "detached_at", "why"))
    steps = list(DealStep.objects.values_list("id", "position", "title"))
    again = deal_plays_evaluate(deal_id=deal.id)
    assert not again.changed
    assert list(DealPlay.objects.values_list("id", "detached_at", "why")) == rows
    assert list(DealStep.objects.values_list("id", "position", "title")) == steps
    assert DealPlay.objects.get(play__name="Either").why == [
        "stakeholder roles contain Champion",
        "budget is empty",
    ]


def test_a_step_added_to_an_attached_play_joins_the_plan_on_the_next_evaluation(playbook, deal):
    play = make_play(playbook, {"field": "amount", "op": "gte", "value": 0}, name="Always")
    deal_plays_evaluate(deal_id=deal.id)
    PlayStepFactory(play=play, title="Third step", order=9)
    result = deal_plays_evaluate(deal_id=deal.id)
    assert (result.attached, result.steps_added) == ([], 1)
    assert [t for t, _ in play_lines(deal)] == ["First step", "Second step", "Third step"]


def test_a_deleted_deal_is_no_error(deal):
    assert not deal_plays_evaluate(deal_id=deal.id + 1000).changed


# ---------------------------------------------------------------------------------------------------
# What one evaluation costs


def test_the_query_count_does_not_grow_with_the_number_of_plays(
    org, playbook, rep, process, account, contact, stages
):
    conditions = [
        {
            "all": [
                {"field": "phase", "op": "eq", "value": "change"},
                {"field": "competitors", "op": "is_empty"},
            ]
        },
        {"any": [CHAMPION, {"field": "objections", "op": "contains", "value": "Price"}]},
        {"not": {"field": "stage", "op": "eq", "value": stages[3].id}},
        {"field": "owner", "op": "eq", "value": rep.user_id},
    ]

    def cost(plays: int) -> tuple[int, int]:
        deal = deal_create(
            by=rep, process=process, name=f"With {plays}", account=account, objections=["Price"]
        )
        stakeholder_add(deal=deal, by=rep, contact=contact, role="champion")
        Play.objects.update(active=False)
        for i in range(plays):
            make_play(playbook, conditions[i % len(conditions)], name=f"{plays}-{i}")
        with CaptureQueriesContext(connection) as first:
            result = deal_plays_evaluate(deal_id=deal.id)
        assert len(result.attached) == plays
        with CaptureQueriesContext(connection) as again:
            assert not deal_plays_evaluate(deal_id=deal.id).changed
        return len(first.captured_queries), len(again.captured_queries)

    few, many = cost(4), cost(24)
    assert few == many
    assert few[0] <= 15 and few[1] <= 10


# ---------------------------------------------------------------------------------------------------
# One play across every open deal


@pytest.fixture
def many_deals(rep, process, account):
    return [
        deal_create(by=rep, process=process, name=f"Deal {i}", account=account, amount=str(1000 * i))
        for i in range(12)
    ]


def test_a_bulk_reevaluation_attaches_and_detaches_in_chunks_with_progress(playbook, many_deals, rep):
    play = make_play(playbook, {"field": "amount", "op": "gte", "value": 6000}, name="Big")
    seen = []
    result = play_reevaluate(
        play_id=play.id, chunk_size=4, progress=lambda done, total: seen.append((done, total))
    )
    assert (result.candidates, result.attached, result.steps_added) == (6, 6, 12)
    assert seen == [(0, 6), (4, 6), (6, 6)]
    assert {d.name for d in many_deals if attached(d)} == {f"Deal {i}" for i in range(6, 12)}
    step_set_done(step=DealStep.objects.filter(deal=many_deals[11]).first(), by=rep, done=True)

    Play.objects.filter(pk=play.pk).update(
        condition={"field": "amount", "op": "gte", "value": 9000}, version=2
    )
    result = play_reevaluate(play_id=play.id, chunk_size=4)
    assert (result.candidates, result.attached, result.detached, result.steps_removed) == (3, 0, 3, 6)
    assert {d.name for d in many_deals if attached(d)} == {"Deal 9", "Deal 10", "Deal 11"}
    assert play_lines(many_deals[11]) == [("First step", True), ("Second step", False)]

    again = play_reevaluate(play_id=play.id, chunk_size=4)
    assert (again.candidates, again.attached, again.detached, again.steps_added) == (0, 0, 0, 0)


def test_a_deactivated_play_or_playbook_detaches_everywhere(playbook, many_deals):
    play = make_play(playbook, {"field": "amount", "op": "gte", "value": 0}, name="All")
    play_reevaluate(play_id=play.id)
    assert DealPlay.objects.filter(detached_at__isnull=True).count() == 12
    Play.objects.filter(pk=play.pk).update(active=False)
    assert play_reevaluate(play_id=play.id).detached == 12
    Play.objects.filter(pk=play.pk).update(active=True)
    play_reevaluate(play_id=play.id)
    playbook.active = False
    playbook.save()
    assert play_reevaluate(play_id=play.id).detached == 12
    assert not DealStep.objects.filter(source="play").exists()


def test_steps_added_to_a_play_reach_the_deals_it_is_attached_to(playbook, many_deals):
    play = make_play(playbook, {"field": "amount", "op": "gte", "value": 10000}, name="Big", steps=("One",))
    play_reevaluate(play_id=play.id)
    PlayStepFactory(play=play, title="Two", order=5)
    result = play_reevaluate(play_id=play.id)
    assert (result.candidates, result.attached, result.steps_added) == (2, 0, 2)
    assert [t for t, _ in play_lines(many_deals[11])] == ["One", "Two"]


def test_a_run_stops_when_its_play_changes_under_it(playbook, many_deals):
    play = make_play(playbook, {"field": "amount", "op": "gte", "value": 0}, name="All")

    def edit_midway(done, total):
        if done == 4:
            Play.objects.filter(pk=play.pk).update(version=2)

    result = play_reevaluate(play_id=play.id, chunk_size=4, progress=edit_midway)
    assert result.superseded and result.attached == 4


def test_a_bulk_reevaluation_stays_in_its_organization(playbook, many_deals, other_org_world):
    play = make_play(playbook, {"field": "amount", "op": "gte", "value": 0}, name="All")
    play_reevaluate(play_id=play.id)
    assert not DealPlay.objects.filter(deal=other_org_world["deal"]).exists()


# ---------------------------------------------------------------------------------------------------
# The Celery job


def test_editing_a_play_runs_the_job_after_commit(committed, playbook, ops, many_deals):
    with committed():
        play = play_create(
            playbook=playbook, by=ops, name="Big", condition={"field": "amount", "op": "gte", "value": 6000}
        )
        play_step_add(play=play, by=ops, title="Call the CFO")
    [run] = PlayEvaluationRun.objects.all()
    assert (run.status, run.total, run.done, run.attached, run.percent) == ("done", 6, 6, 6, 100)
    assert run.started_at and run.finished_at
    assert DealStep.objects.filter(title="Call the CFO").count() == 6

    with committed():
        play = play_update(
            play=play, by=ops, expected_version=1, condition={"field": "amount", "op": "gte", "value": 10000}
        )
    assert PlayEvaluationRun.objects.order_by("-id").first().detached == 4
    with committed():
        play_set_active(play=play, by=ops, active=False)
    assert not DealPlay.objects.filter(detached_at__isnull=True).exists()
    with committed():
        play_set_active(play=play, by=ops, active=True)
        playbook_update(playbook=playbook, by=ops, active=False)
    assert not DealPlay.objects.filter(detached_at__isnull=True).exists()


def test_a_redelivered_task_does_nothing(playbook, many_deals):
    play = make_play(playbook, {"field": "amount", "op": "gte", "value": 0}, name="All")
    run = play_evaluation_request(play=play)
    assert reevaluate_play.delay(run.id).get() is True
    assert reevaluate_play.delay(run.id).get() is False
    run.refresh_from_db()
    assert (run.status, run.attached) == ("done", 12)


# ---------------------------------------------------------------------------------------------------
# Bulk equals deal by deal


def snapshot():
    plays = {(d.deal_id, d.play_id, tuple(d.why)) for d in DealPlay.objects.filter(detached_at__isnull=True)}
    history = sorted(DealPlay.objects.filter(detached_at__isnull=False).values_list("deal_id", "play_id"))
    steps = set(
        DealStep.objects.filter(source="play").values_list(
            "deal_id", "play_step_id", "title", "stage_id", "completed_at"
        )
    )
    return plays, history, steps


def test_bulk_reevaluation_equals_deal_by_deal_evaluation(org, process, stages, admin, rep, manager, account):
    rng = random.Random(7)
    now = timezone.now()
    second, _ = process_import(org=org, data={**SIMPLE_PROCESS, "name": "Renewals"}, by=None)
    contacts = [ContactFactory(organization=org, account=account) for _ in range(3)]
    deals = []
    for i in range(40):
        proc = process if i % 4 else second
        deal = deal_create(
            by=admin,
            process=proc,
            stage=rng.choice(list(proc.stages.all())),
            at=now - timedelta(days=rng.choice([0, 3, 10, 40])),
            name=f"Deal {i}",
            account=account,
            owner=rng.choice([admin, rep, manager]).user_id,
            amount=rng.choice(["0", "5000", "25000", "90000"]),
            budget=rng.choice([None, "1000", "50000"]),
            industry=rng.choice(["Healthcare", "retail", "", "Energy"]),
            competitors=rng.sample(["Globex", "Initech", "Hooli"], k=rng.randint(0, 2)),
            objections=rng.sample(["Price", "Timing"], k=rng.randint(0, 1)),
        )
        for contact, role in zip(
            contacts, rng.sample(list(StakeholderRole.values), k=rng.randint(0, 3)), strict=False
        ):
            stakeholder_add(deal=deal, by=admin, contact=contact, role=role)
        if i % 9 == 0:
            deal_win(deal=deal, by=admin, expected_version=deal.version)
        deals.append(deal)

    everywhere = PlaybookFactory(organization=org, process=None)
    renewals = PlaybookFactory(organization=org, process=second)
    here = PlaybookFactory(organization=org, process=process)
    conditions = [
        (here, {"field": "amount", "op": "gte", "value": 25000}),
        (here, {"any": [CHAMPION, {"field": "competitors", "op": "contains", "value": "globex"},
                        {"field": "stage", "op": "in", "value": [stages[1].id, stages[2].id]}]}),
        (everywhere, {"all": [{"field": "phase", "op": "eq", "value": "change"},
                              {"not": {"field": "industry", "op": "is_empty"}}]}),
        (everywhere, {"any": [{"all": [{"field": "budget", "op": "lt", "value": 10000},
                                       {"field": "days_in_stage", "op": "gte", "value": 3}]},
                              {"field": "owner", "op": "in", "value": [rep.user_id]}]}),
        (renewals, {"field": "objections", "op": "is_not_empty"}),
        (everywhere, {"field": "stakeholder_roles", "op": "not_in", "value": ["blocker", "user"]}),
    ]  # fmt: skip
    plays = [make_play(book, cond, steps=("A", "B")[: i % 3]) for i, (book, cond) in enumerate(conditions)]

    # 1. Bulk from nothing; deal by deal then finds nothing to do.
    for play in plays:
        play_reevaluate(play_id=play.id, now=now, chunk_size=7)
    bulk = snapshot()
    assert bulk[0], "the conditions should match some deals"
    for deal in deals:
        assert not deal_plays_evaluate(deal_id=deal.id, now=now).changed, deal.name
    assert snapshot() == bulk

    # 2. Plays and deals change; deal by deal first, then bulk finds nothing to do.
    for deal in deals[1::5]:
        step = DealStep.objects.filter(deal=deal, source="play").first()
        if step is not None:
            step_set_done(step=step, by=admin, done=True)
    Play.objects.filter(pk=plays[0].pk).update(
        condition={"field": "amount", "op": "lt", "value": 25000}, version=2
    )
    Play.objects.filter(pk=plays[2].pk).update(active=False)
    PlayStepFactory(play=plays[4], title="C")
    for deal in deals[::3]:
        deal.refresh_from_db()
        if deal.status == "open":
            deal_update(
                deal=deal, by=admin, expected_version=deal.version, competitors=["Globex"], industry=""
            )
    later = now + timedelta(days=5)
    for deal in deals:
        deal_plays_evaluate(deal_id=deal.id, now=later)
    by_deal = snapshot()
    assert by_deal != bulk
    for play in plays:
        result = play_reevaluate(play_id=play.id, now=later, chunk_size=7)
        assert (result.attached, result.detached, result.steps_added, result.steps_removed) == (0, 0, 0, 0)
    assert snapshot() == by_deal


@pytest.mark.postgres
def test_key_checks_are_back_on_after_a_chunk(playbook, many_deals):
    play = make_play(playbook, {"field": "amount", "op": "gte", "value": 0}, name="All")
    assert play_reevaluate(play_id=play.id, chunk_size=5).attached == 12
    with connection.cursor() as cursor:
        cursor.execute("SHOW session_replication_role")
        assert cursor.fetchone()[0] == "origin"
        # Every row written while the checks were off references a row that exists.
        cursor.execute(
            "SELECT COUNT(*) FROM deals_dealstep s LEFT JOIN playbooks_playstep ps ON ps.id = s.play_step_id"
            " LEFT JOIN deals_deal d ON d.id = s.deal_id WHERE s.source = 'play' AND (ps.id IS NULL OR d.id IS NULL)"
        )
        assert cursor.fetchone()[0] == 0
