"""The play condition `stakeholder_gaps`: parsing, words, the meaning of each gap in Python and SQL alike
(hand-built deals at the edges: the 30-day boundary of single_threaded with `now` pinned, negations,
procurement added before and after the decision phase), what evaluating it costs, per-deal triggering,
and the nightly re-evaluation that catches gaps that come with time alone.

The random comparison of evaluate and to_q over every field is tests/playbooks/test_condition_properties.py;
its world has these edges too."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from deals.models import Activity, Deal, DealStakeholder
from deals.network import ENGAGEMENT_DAYS, GAP_CODES
from deals.services import activity_log, deal_create, deal_move, stakeholder_add, stakeholder_update
from playbooks.conditions import (
    FIELDS,
    LIST,
    TIME_BASED_FIELDS,
    InvalidCondition,
    describe,
    evaluate,
    explain,
    parse,
    to_q,
)
from playbooks.models import DealPlay, PlayEvaluationRun
from playbooks.services import play_create, playbook_create
from playbooks.tasks import reevaluate_time_based_plays
from playbooks.triggering import deal_plays_evaluate, time_based_plays_reevaluate
from tests.factories import AccountFactory, ContactFactory, PlaybookFactory, PlayFactory


def gap(op, value=None) -> dict:
    leaf = {"field": "stakeholder_gaps", "op": op}
    return leaf if value is None else {**leaf, "value": value}


def problems(data) -> list[str]:
    with pytest.raises(InvalidCondition) as exc:
        parse(data)
    return exc.value.problems


def make_deal(by, process, **fields):
    account = AccountFactory(organization=by.organization, industry="")
    return deal_create(by=by, process=process, name="Deal", account=account, **fields)


def person(deal, by, role="user", **fields):
    contact = ContactFactory(organization=deal.organization, account=deal.account)
    return stakeholder_add(deal=deal, by=by, contact=contact, role=role, **fields)


def holds_in_both(cond, deal, *, now=None) -> bool:
    """The condition's truth for the deal, asserting that Python (on a freshly loaded deal, without
    and with prefetching) and SQL agree, and that `not` is the exact complement in both."""
    plain = Deal.objects.get(pk=deal.pk)
    loaded = Deal.objects.select_related("stage").prefetch_related("stakeholders").get(pk=deal.pk)
    in_python = evaluate(cond, plain, now=now)
    assert evaluate(cond, loaded, now=now) == in_python, describe(cond)
    in_sql = Deal.objects.filter(pk=deal.pk).filter(to_q(cond, now=now)).exists()
    assert in_python == in_sql, describe(cond)
    negated = {"not": parse(cond).data}
    assert evaluate(negated, plain, now=now) is not in_python
    assert Deal.objects.filter(pk=deal.pk).filter(to_q(negated, now=now)).exists() is not in_sql
    return in_python


def has(deal, code, *, now=None) -> bool:
    return holds_in_both(gap("contains", code), deal, now=now)


# ---------------------------------------------------------------------------------------------------
# The field


def test_the_field_is_a_list_of_the_gap_codes_with_their_labels():
    fld = FIELDS["stakeholder_gaps"]
    assert fld.type == LIST and fld.label == "stakeholder gaps"
    assert list(fld.choices) == list(GAP_CODES)
    assert fld.choices["no_champion"] == "no champion"
    assert {"days_in_stage", "stakeholder_gaps"} == TIME_BASED_FIELDS


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            gap("contains", "no_budget"),
            [
                'value: expected one of "no_economic_buyer", "no_champion", "single_threaded", '
                '"opponent_high_influence", "procurement_in_decision" for field "stakeholder_gaps"'
            ],
        ),
        (
            gap("in", ["no_champion", "No_Champion"]),
            [
                'value[1]: expected one of "no_economic_buyer", "no_champion", "single_threaded", '
                '"opponent_high_influence", "procurement_in_decision" for field "stakeholder_gaps"'
            ],
        ),
        (
            gap("eq", "no_champion"),
            [
                'op: operator "eq" does not apply to field "stakeholder_gaps" (list); use one of contains, '
                "not_contains, in, not_in, is_empty, is_not_empty"
            ],
        ),
        (gap("is_empty", "no_champion"), ['value: operator "is_empty" takes no value']),
        (gap("in", []), ['value: expected a non-empty list for operator "in"']),
    ],
)
def test_bad_gap_conditions_name_the_problem(data, expected):
    assert problems(data) == expected


def test_describe_reads_well():
    assert describe(gap("contains", "no_champion")) == "stakeholder gaps contain no champion"
    assert (
        describe(gap("not_contains", "single_threaded")) == "stakeholder gaps do not contain single-threaded"
    )
    assert (
        describe(gap("in", ["no_economic_buyer", "opponent_high_influence"]))
        == "stakeholder gaps contain any of no economic buyer, influential opponent"
    )
    assert (
        describe(gap("not_in", ["procurement_in_decision"]))
        == "stakeholder gaps contain none of procurement joined in decision"
    )
    assert describe(gap("is_empty")) == "no stakeholder gaps"
    assert describe(gap("is_not_empty")) == "has stakeholder gaps"


def test_explain_names_the_gap_that_held(admin, process):
    deal = make_deal(admin, process)
    person(deal, admin, "economic_buyer")
    cond = {
        "any": [
            gap("contains", "no_champion"),
            gap("contains", "no_economic_buyer"),
            {"field": "amount", "op": "gt", "value": 1},
        ]
    }
    assert explain(cond, deal) == ["stakeholder gaps contain no champion"]


# ---------------------------------------------------------------------------------------------------
# Each gap, in Python and SQL alike


def test_role_gaps(admin, process):
    deal = make_deal(admin, process)
    assert has(deal, "no_economic_buyer") and has(deal, "no_champion")
    assert holds_in_both(gap("in", ["no_champion", "single_threaded"]), deal)
    person(deal, admin, "champion")
    assert has(deal, "no_economic_buyer") and not has(deal, "no_champion")
    assert not holds_in_both(gap("in", ["no_champion", "single_threaded"]), deal)
    assert holds_in_both(gap("not_in", ["no_champion", "opponent_high_influence"]), deal)
    person(deal, admin, "economic_buyer")
    assert not has(deal, "no_economic_buyer")
    assert holds_in_both(gap("is_empty"), deal)
    assert not holds_in_both(gap("is_not_empty"), deal)


def test_single_threaded_at_the_30_day_boundary_with_now_pinned(admin, process):
    now = timezone.now()
    deal = make_deal(admin, process, at=now - timedelta(days=60))
    one, other = person(deal, admin, "champion"), person(deal, admin, "economic_buyer")
    # Nobody engaged: idle, not single-threaded (the stall rules report it).
    assert not has(deal, "single_threaded", now=now)
    assert holds_in_both(gap("is_empty"), deal, now=now)

    talked = now - timedelta(days=ENGAGEMENT_DAYS)
    activity_log(deal=deal, by=admin, kind="call", subject="Call", stakeholder=one, occurred_at=talked)
    # Exactly 30 days ago still counts; a microsecond later it does not.
    assert has(deal, "single_threaded", now=now)
    assert not has(deal, "single_threaded", now=now + timedelta(microseconds=1))
    assert holds_in_both(gap("is_empty"), deal, now=now + timedelta(microseconds=1))

    # A second stakeholder engaged in the window: no longer single-threaded, until that too ages out.
    activity_log(
        deal=deal,
        by=admin,
        kind="meeting",
        subject="Meet",
        stakeholder=other,
        occurred_at=now - timedelta(days=2),
    )
    assert not has(deal, "single_threaded", now=now)
    assert has(deal, "single_threaded", now=now + timedelta(microseconds=1))
    # Activities with nobody named do not count, however recent.
    activity_log(deal=deal, by=admin, kind="note", subject="Internal", occurred_at=now)
    assert has(deal, "single_threaded", now=now + timedelta(microseconds=1))


def test_influential_opponent(admin, process):
    deal = make_deal(admin, process)
    person(deal, admin, attitude="opponent", influence=3)
    person(deal, admin, attitude="skeptic", influence=5)
    assert not has(deal, "opponent_high_influence")
    person(deal, admin, attitude="opponent", influence=4)
    assert has(deal, "opponent_high_influence")


def _move(deal, stage, by, at):
    deal.refresh_from_db()
    deal_move(deal=deal, to_stage=stage, by=by, expected_version=deal.version, at=at)


def test_procurement_added_before_entering_the_decision_phase_is_not_the_gap(admin, process, stages):
    now = timezone.now()
    deal = make_deal(admin, process, at=now - timedelta(days=10))
    buyer = person(deal, admin, "procurement")
    DealStakeholder.objects.filter(pk=buyer.pk).update(created_at=now - timedelta(days=9))
    _move(deal, stages[2], admin, now - timedelta(days=5))  # Propose: decision phase
    assert not has(deal, "procurement_in_decision", now=now)


def test_procurement_added_after_entering_the_decision_phase_is_the_gap(admin, process, stages):
    now = timezone.now()
    deal = make_deal(admin, process, at=now - timedelta(days=10))
    _move(deal, stages[2], admin, now - timedelta(days=5))
    buyer = person(deal, admin, "procurement")
    DealStakeholder.objects.filter(pk=buyer.pk).update(created_at=now - timedelta(days=5))  # as it entered
    assert has(deal, "procurement_in_decision", now=now)
    _move(deal, stages[3], admin, now - timedelta(days=1))  # Negotiate: still decision
    assert has(deal, "procurement_in_decision", now=now)
    _move(deal, stages[1], admin, now)  # back in the change phase
    assert not has(deal, "procurement_in_decision", now=now)


# ---------------------------------------------------------------------------------------------------
# What evaluating costs


def test_role_gaps_of_a_prefetched_deal_cost_no_query_and_single_threaded_one(
    admin, process, django_assert_num_queries
):
    deal = make_deal(admin, process)
    person(deal, admin, "champion")
    loaded = Deal.objects.select_related("stage").prefetch_related("stakeholders").get(pk=deal.pk)
    roles = {
        "all": [
            gap("not_contains", "no_champion"),
            gap("contains", "no_economic_buyer"),
            gap("not_in", ["opponent_high_influence"]),
        ]
    }
    with django_assert_num_queries(0):
        assert evaluate(roles, loaded)
    with django_assert_num_queries(1):  # the recent activities, once for both leaves
        assert evaluate({"all": [gap("not_contains", "single_threaded"), gap("is_not_empty")]}, loaded)


def test_without_prefetch_roles_and_gaps_share_one_query_of_the_stakeholders(
    admin, process, django_assert_num_queries
):
    deal = make_deal(admin, process)
    person(deal, admin, "champion")
    plain = Deal.objects.get(pk=deal.pk)
    cond = {
        "all": [
            {"field": "stakeholder_roles", "op": "contains", "value": "champion"},
            gap("contains", "no_economic_buyer"),
        ]
    }
    with django_assert_num_queries(1):
        assert evaluate(cond, plain)


# ---------------------------------------------------------------------------------------------------
# Triggering


@pytest.fixture
def playbook(org, process):
    return PlaybookFactory(organization=org, process=process, name="Coverage")


def open_plays(deal) -> set[str]:
    return set(
        DealPlay.objects.filter(deal=deal, detached_at__isnull=True).values_list("play__name", flat=True)
    )


def test_a_play_on_a_gap_attaches_and_detaches_as_stakeholders_change(playbook, admin, process):
    PlayFactory(playbook=playbook, name="Find a champion", condition=gap("contains", "no_champion"))
    deal = make_deal(admin, process)
    deal_plays_evaluate(deal_id=deal.id)
    assert open_plays(deal) == {"Find a champion"}
    assert DealPlay.objects.get(deal=deal).why == ["stakeholder gaps contain no champion"]
    person(deal, admin, "champion")
    deal_plays_evaluate(deal_id=deal.id)
    assert open_plays(deal) == set()


@pytest.fixture
def aging_deal(admin, process):
    """A deal whose two stakeholders were engaged 20 and 25 days ago: not single-threaded today."""
    now = timezone.now()
    deal = make_deal(admin, process, at=now - timedelta(days=40))
    for days in (20, 25):
        activity_log(
            deal=deal,
            by=admin,
            kind="call",
            subject="Call",
            stakeholder=person(deal, admin),
            occurred_at=now - timedelta(days=days),
        )
    return deal


def test_the_nightly_job_attaches_a_play_whose_gap_came_with_time(
    django_capture_on_commit_callbacks, playbook, aging_deal, admin, process
):
    play = PlayFactory(playbook=playbook, name="Multi-thread", condition=gap("contains", "single_threaded"))
    PlayFactory(playbook=playbook, name="Amount", condition={"field": "amount", "op": "gte", "value": 0})
    deal_plays_evaluate(deal_id=aging_deal.id)
    assert open_plays(aging_deal) == {"Amount"}
    # Time passes, no edit: the older activity is now 31 days old (moved back rather than the clock on).
    oldest = Activity.objects.filter(deal=aging_deal).order_by("occurred_at").first()
    Activity.objects.filter(pk=oldest.pk).update(occurred_at=timezone.now() - timedelta(days=31))

    # Tasks run eagerly in tests; the bulk job's task is sent after commit, as in production.
    with django_capture_on_commit_callbacks(execute=True):
        assert reevaluate_time_based_plays.delay().get() == 1

    assert open_plays(aging_deal) == {"Amount", "Multi-thread"}
    [run] = PlayEvaluationRun.objects.all()
    assert (run.play_id, run.status, run.attached) == (play.id, "done", 1)


def test_the_nightly_job_takes_only_active_plays_that_read_a_time_based_field(org, playbook, admin):
    days = PlayFactory(
        playbook=playbook, name="Slow", condition={"field": "days_in_stage", "op": "gt", "value": 30}
    )
    gaps = PlayFactory(
        playbook=playbook,
        name="Gaps",
        condition={"not": {"all": [{"field": "amount", "op": "gt", "value": 5}, gap("is_not_empty")]}},
    )
    PlayFactory(playbook=playbook, name="Roles", condition={"field": "stakeholder_roles", "op": "is_empty"})
    PlayFactory(playbook=playbook, name="Off", condition=gap("is_empty"), active=False)
    PlayFactory(playbook=PlaybookFactory(organization=org, active=False), condition=gap("is_empty"))

    assert time_based_plays_reevaluate() == [days.id, gaps.id]
    assert set(PlayEvaluationRun.objects.values_list("play_id", flat=True)) == {days.id, gaps.id}


def test_the_nightly_job_is_scheduled():
    entry = settings.CELERY_BEAT_SCHEDULE["time-based-plays"]
    assert entry["task"] == "playbooks.tasks.reevaluate_time_based_plays"
    assert entry["schedule"] == 60 * 60 * 24
    assert reevaluate_time_based_plays.name == entry["task"]


# ---------------------------------------------------------------------------------------------------
# The condition builder of the play editor

HTMX = {"HX-Request": "true"}


@pytest.fixture
def gap_play(org, ops, process):
    playbook = playbook_create(org=org, by=ops, name="Coverage", process=process)
    return play_create(
        playbook=playbook,
        by=ops,
        name="Find a champion",
        condition={"all": [gap("contains", "no_champion")]},
        active=False,
    )


def builder_post(rows) -> dict:
    data: dict = {"node": []}
    for path, *rest in rows:
        data["node"].append(path)
        if len(rest) == 1:
            data[f"{path}:kind"] = rest[0]
        else:
            data[f"{path}:field"], data[f"{path}:op"], data[f"{path}:value"] = rest
    return data


def test_the_builder_offers_the_gaps_with_their_labels(client, ops, gap_play):
    client.force_login(ops.user)

    html = client.get(reverse("play_edit", args=[gap_play.id])).content.decode()

    assert '<option value="stakeholder_gaps" selected>Stakeholder gaps</option>' in html
    assert '<option value="contains" selected>include</option>' in html
    assert '<option value="no_champion" selected>No champion</option>' in html
    assert '<option value="single_threaded">Single-threaded</option>' in html
    assert '<option value="procurement_in_decision">Procurement joined in decision</option>' in html


def test_choosing_the_field_in_the_builder_offers_its_operators_and_gaps(client, ops, gap_play):
    client.force_login(ops.user)
    data = builder_post([("r", "all"), ("r.0", "stakeholder_gaps", "eq", "x")])

    html = client.post(
        reverse("play_builder", args=[gap_play.id]), {**data, "action": "field:r.0"}, headers=HTMX
    ).content.decode()

    assert '<option value="in">include any of</option>' in html
    assert '<option value="is_empty">are empty</option>' in html
    assert '<option value="">Choose…</option>' in html
    assert '<option value="opponent_high_influence">Influential opponent</option>' in html


def test_the_builder_preview_counts_the_deals_with_the_chosen_gaps(client, ops, rep, process, gap_play):
    with_champion = make_deal(rep, process)
    person(with_champion, rep, "champion")
    make_deal(rep, process)
    make_deal(rep, process)
    client.force_login(ops.user)
    data = builder_post([("r", "all"), ("r.0", "stakeholder_gaps", "in", "")])
    data["r.0:value"] = ["no_champion", "opponent_high_influence"]

    html = client.post(reverse("play_preview", args=[gap_play.id]), data, headers=HTMX).content.decode()

    assert "Matches 2 open deals now" in html
    assert "stakeholder gaps contain any of no champion, influential opponent" in html


def test_an_unknown_gap_from_the_builder_is_marked_on_its_row(client, ops, gap_play):
    client.force_login(ops.user)
    data = builder_post([("r", "all"), ("r.0", "stakeholder_gaps", "contains", "no_budget")])

    html = client.post(reverse("play_preview", args=[gap_play.id]), data, headers=HTMX).content.decode()

    assert 'data-testid="preview-invalid"' in html


def test_logging_an_activity_or_changing_a_stakeholder_re_evaluates_the_gap_plays(
    django_capture_on_commit_callbacks, playbook, admin, process
):
    PlayFactory(playbook=playbook, name="Multi-thread", condition=gap("contains", "single_threaded"))
    PlayFactory(playbook=playbook, name="Neutralise", condition=gap("contains", "opponent_high_influence"))
    deal = make_deal(admin, process)
    one = person(deal, admin, "champion")

    with django_capture_on_commit_callbacks(execute=True):
        activity_log(deal=deal, by=admin, kind="call", subject="Call", stakeholder=one)
    assert open_plays(deal) == {"Multi-thread"}

    with django_capture_on_commit_callbacks(execute=True):
        stakeholder_update(stakeholder=one, by=admin, attitude="opponent", influence=5)
    assert open_plays(deal) == {"Multi-thread", "Neutralise"}

    with django_capture_on_commit_callbacks(execute=True):
        activity_log(deal=deal, by=admin, kind="meeting", subject="Meet", stakeholder=person(deal, admin))
    assert open_plays(deal) == {"Neutralise"}


def test_evaluating_a_deal_costs_the_same_for_4_or_24_gap_plays(playbook, admin, process, stages):
    conditions = [
        gap("contains", "no_champion"),
        gap("not_contains", "single_threaded"),
        {"any": [gap("contains", "procurement_in_decision"), gap("is_empty")]},
        {
            "all": [
                gap("in", ["opponent_high_influence", "no_economic_buyer"]),
                {"field": "phase", "op": "eq", "value": "decision"},
            ]
        },
    ]

    def cost(plays: int) -> int:
        deal = make_deal(admin, process, stage=stages[2])
        person(deal, admin, "procurement")
        person(deal, admin, attitude="opponent", influence=5)
        DealPlay.objects.all().delete()
        PlayEvaluationRun.objects.all().delete()
        playbook.plays.update(active=False)
        for i in range(plays):
            PlayFactory(playbook=playbook, name=f"{plays}-{i}", condition=conditions[i % len(conditions)])
        with CaptureQueriesContext(connection) as ctx:
            result = deal_plays_evaluate(deal_id=deal.id)
        assert len(result.attached) == plays // 4 * 4  # every condition holds for this deal
        return len(ctx.captured_queries)

    few, many = cost(4), cost(24)
    # The gaps add two queries to an evaluation, once for all plays: the recent activities and the
    # decision-phase stays (procurement sits on this decision-phase deal).
    assert few == many <= 17


def test_the_nightly_job_prunes_old_finished_runs_but_keeps_each_plays_latest(org, playbook):
    from datetime import timedelta

    from django.utils import timezone

    from playbooks.triggering.runs import RUN_KEEP_DAYS, evaluation_runs_prune

    now = timezone.now()
    old = now - timedelta(days=RUN_KEEP_DAYS + 1)
    first = PlayFactory(
        playbook=playbook, name="First", condition={"field": "amount", "op": "gt", "value": 5}
    )
    second = PlayFactory(
        playbook=playbook, name="Second", condition={"field": "amount", "op": "gt", "value": 9}
    )

    def run(play, status, at):
        return PlayEvaluationRun.objects.create(
            organization=org, play=play, status=status, created_at=at, finished_at=at
        )

    pruned = [run(first, "done", old - timedelta(days=2)), run(first, "failed", old - timedelta(days=1))]
    kept = [
        run(first, "done", now - timedelta(days=1)),  # recent
        run(second, "done", old - timedelta(days=5)),  # old, but the play's latest
        run(second, "running", old - timedelta(days=9)),  # not finished
    ]
    assert evaluation_runs_prune(now=now) == 2
    assert set(PlayEvaluationRun.objects.values_list("id", flat=True)) == {r.id for r in kept}
    assert not PlayEvaluationRun.objects.filter(id__in=[r.id for r in pruned]).exists()
    assert evaluation_runs_prune(now=now) == 0
