"""Django admin: every model is registered and its pages open; writes keep the services' rules."""

import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from deals.models import (
    Activity,
    CriterionAnswer,
    Deal,
    DealStakeholder,
    DealStep,
    DealTag,
    DigestRun,
    StageChange,
    StageRollup,
    StepComment,
)
from deals.services import (
    activity_log,
    answer_set,
    deal_create,
    deal_win,
    stakeholder_add,
    step_add,
    step_comment_add,
)
from iteration.models import HistoryImport, MetricRun, MetricSnapshot, StallFlag, StallRule, Suggestion
from journey.models import DealLink, ValueConfirmation
from journey.services import expansion_deal_create, value_confirmation_record, value_plan_create
from orgs.models import User
from playbooks.models import DealPlay, PlayAnswer, PlayEvaluationRun, PlayResource
from playbooks.services import play_answer_set
from playbooks.triggering import deal_plays_evaluate
from salesproc.models import ExitCriterion, ProcessVersion, Stage
from salesproc.services import criterion_add
from scorecards.models import DealScorecard, DealScorecardAnswer
from scorecards.services import deal_scorecard_answer, scorecard_create, scorecard_criterion_add
from strategy.models import DealComment, DealStrategy, Notification, StrategyRevision
from strategy.services import comment_add, strategy_update
from tests.factories import PlayQuestionFactory, PlayStepFactory
from upstream.models import Promotion, PromotionStep
from upstream.services import promotion_propose_from_step

OUR_APPS = (
    "orgs",
    "salesproc",
    "deals",
    "iteration",
    "playbooks",
    "strategy",
    "scorecards",
    "journey",
    "upstream",
)
READ_ONLY = {
    StageChange,
    StageRollup,
    ProcessVersion,
    DigestRun,
    HistoryImport,
    MetricRun,
    MetricSnapshot,
    StallFlag,
    Suggestion,
    DealPlay,
    PlayAnswer,
    PlayEvaluationRun,
    DealStrategy,
    StrategyRevision,
    DealComment,
    Notification,
    DealScorecard,
    DealScorecardAnswer,
    ValueConfirmation,
    DealLink,
    StepComment,
    Promotion,
    PromotionStep,
}


@pytest.fixture
def staff_client(client, db):
    user = User.objects.create_superuser("root@example.test", "pass-word-123")
    client.force_login(user)
    return client


@pytest.fixture
def world(org, admin, ops, rep, deal, contact, stages):
    """One row of every model."""
    answer_question = criterion_add(
        stage=stages[0], by=ops, kind="answer", label="Why now", question="Why now?", importance="optional"
    )
    stakeholder = stakeholder_add(deal=deal, by=rep, contact=contact, role="champion")
    activity_log(deal=deal, by=rep, kind="call", subject="Intro", stakeholder=stakeholder)
    step = step_add(deal=deal, by=rep, title="Send the deck", stakeholder=stakeholder)
    step_comment_add(step=step, by=rep, body="Sent; @ops please check the numbers")
    promotion_propose_from_step(step=step, by=rep)
    answer_set(deal=deal, by=rep, criterion=answer_question, text="Audit finding")
    DealTag.objects.create(organization=org, deal=deal, kind="competitor", value="Northbeam")
    DigestRun.objects.create(
        organization=org, day=timezone.localdate(), recipient=rep.user, claim="0" * 32, deal_count=1
    )
    HistoryImport.objects.create(
        organization=org, process=deal.process, deals_filename="deals.csv", history_filename="history.csv"
    )
    run = MetricRun.objects.create(organization=org, process=deal.process, status="succeeded")
    MetricSnapshot.objects.create(
        organization=org, process=deal.process, run=run, computed_at=timezone.now(), overall={"stages": []}
    )
    StallRule.objects.create(organization=org, stage=stages[0], kind="age", advice_days=30)
    StallFlag.objects.create(
        organization=org,
        deal=deal,
        stage=stages[0],
        rule="no_activity",
        level="advice",
        days=15,
        threshold=14,
        reason="No activity for 15 days",
    )
    Suggestion.objects.create(
        organization=org,
        process=deal.process,
        stage=stages[0],
        kind="review_stage",
        subject=f"stage:{stages[0].id}",
        title="Review this stage",
    )
    question = PlayQuestionFactory(play=PlayStepFactory(play__playbook__organization=org).play)
    PlayResource.objects.create(organization=org, play=question.play, title="Card", url="https://example.com")
    PlayEvaluationRun.objects.create(organization=org, play=question.play)
    deal_plays_evaluate(deal_id=deal.id)
    play_answer_set(deal=deal, question=question, text="Yes", by=rep)
    strategy_update(deal=deal, by=rep, expected_version=0, risks="Budget freeze")
    comment_add(deal=deal, by=rep, body="@ops can you check the process?")
    scorecard = scorecard_create(process=deal.process, by=ops)
    budget = scorecard_criterion_add(scorecard=scorecard, by=ops, label="Budget", scale="yes_no")
    deal_scorecard_answer(deal=deal, criterion=budget, value=1, by=rep)
    won = deal_create(by=rep, process=deal.process, name="Won deal", account=deal.account)
    stakeholder_add(deal=won, by=rep, contact=contact, role="economic_buyer")
    deal_win(deal=won, by=rep, expected_version=won.version)
    [confirmation] = value_plan_create(deal=won, by=rep)
    value_confirmation_record(
        confirmation=confirmation,
        by=rep,
        held_at=timezone.localdate(),
        confirmed_value="Faster quotes",
        next_opportunity="EMEA rollout",
    )
    expansion_deal_create(confirmation=confirmation, by=rep, process=deal.process)
    return deal


def test_every_model_of_our_apps_is_registered():
    models = [m for app in OUR_APPS for m in apps.get_app_config(app).get_models()]
    assert len(models) == 45
    assert [m.__name__ for m in models if not admin.site.is_registered(m)] == []


def test_every_changelist_add_and_change_page_opens(staff_client, world):
    for app in OUR_APPS:
        for model in apps.get_app_config(app).get_models():
            opts = model._meta
            name = f"admin:{opts.app_label}_{opts.model_name}"
            changelist = staff_client.get(reverse(f"{name}_changelist"), {"q": "a"})
            assert changelist.status_code == 200, model
            add = staff_client.get(reverse(f"{name}_add"))
            assert add.status_code == (403 if model in READ_ONLY else 200), model
            obj = model.objects.order_by("pk").first()
            assert obj is not None, model
            change = staff_client.get(reverse(f"{name}_change", args=[obj.pk]))
            assert change.status_code == 200, model


def test_deal_changelist_query_count_does_not_grow_with_rows(staff_client, world, rep, process, account):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from deals.services import deal_create

    url = reverse("admin:deals_deal_changelist")
    with CaptureQueriesContext(connection) as one:
        staff_client.get(url)
    for i in range(5):
        deal_create(by=rep, process=process, name=f"More {i}", account=account)
    with CaptureQueriesContext(connection) as six:
        staff_client.get(url)
    assert len(six.captured_queries) == len(one.captured_queries)


def test_adding_a_deal_in_the_admin_goes_through_the_deal_service(
    staff_client, admin, rep, process, stages, account
):
    response = staff_client.post(
        reverse("admin:deals_deal_add"),
        {"process": process.pk, "stage": "", "name": "Admin deal", "account": account.pk, "owner": rep.user.pk,
         "amount": "5000", "currency": "USD", "stage_changes-TOTAL_FORMS": "0",
         "stage_changes-INITIAL_FORMS": "0"},
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    deal = Deal.objects.get(name="Admin deal")
    assert (
        deal.stage == stages[0] and deal.owner == rep.user and deal.organization_id == process.organization_id
    )
    [entry] = StageChange.objects.filter(deal=deal)
    assert entry.left_at is None and entry.process_version == process.current_version


def test_a_deal_owner_outside_the_org_is_refused(staff_client, admin, process, account, other_org_world):
    outsider = other_org_world["member"].user
    response = staff_client.post(
        reverse("admin:deals_deal_add"),
        {"process": process.pk, "name": "Wrong owner", "account": account.pk, "owner": outsider.pk,
         "amount": "1", "currency": "USD", "stage_changes-TOTAL_FORMS": "0", "stage_changes-INITIAL_FORMS": "0"},
    )  # fmt: skip
    assert response.status_code == 200
    assert "The owner must be an active member" in response.content.decode()
    assert not Deal.objects.filter(name="Wrong owner").exists()


def test_editing_a_deal_in_the_admin_bumps_its_version(staff_client, admin, deal, rep):
    url = reverse("admin:deals_deal_change", args=[deal.pk])
    response = staff_client.post(
        url,
        {"name": "Renamed", "account": deal.account_id, "owner": rep.user.pk, "amount": "99", "currency": "USD",
         "stage_changes-TOTAL_FORMS": "1", "stage_changes-INITIAL_FORMS": "1"},
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    deal.refresh_from_db()
    assert (deal.name, deal.amount, deal.version) == ("Renamed", 99, 2)
    assert StageChange.objects.filter(deal=deal).count() == 1


def test_editing_a_stage_in_the_admin_records_a_process_version(staff_client, process, stages):
    before = ProcessVersion.objects.filter(process=process).count()
    stage = stages[1]
    response = staff_client.post(
        reverse("admin:salesproc_stage_change", args=[stage.pk]),
        {"name": stage.name, "order": stage.order, "phase": "decision", "probability": 30, "expected_days": 9,
         "guidance": "", "criteria-TOTAL_FORMS": "1", "criteria-INITIAL_FORMS": "0",
         "criteria-0-kind": "field", "criteria-0-label": "Budget known", "criteria-0-importance": "mandatory",
         "criteria-0-order": "0", "criteria-0-field_name": "budget", "criteria-0-role": "",
         "criteria-0-activity_kind": "", "criteria-0-question": "", "criteria-0-description": ""},
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:3000]
    assert ProcessVersion.objects.filter(process=process).count() == before + 1
    latest = ProcessVersion.objects.filter(process=process).order_by("-number").first()
    assert "Discover: phase change → decision" in latest.changes
    assert 'Discover: added mandatory criterion "Budget known"' in latest.changes
    criterion = ExitCriterion.objects.get(label="Budget known")
    assert criterion.organization_id == stage.organization_id
    assert Stage.objects.get(pk=stage.pk).expected_days == 9


def test_a_criterion_with_the_wrong_parameter_is_refused(staff_client, stages):
    response = staff_client.post(
        reverse("admin:salesproc_exitcriterion_add"),
        {"stage": stages[0].pk, "kind": "field", "label": "Headcount", "importance": "mandatory", "order": "0",
         "field_name": "headcount", "role": "", "activity_kind": "", "question": "", "description": ""},
    )  # fmt: skip
    assert response.status_code == 200
    assert "Choose one of amount" in response.content.decode()
    assert not ExitCriterion.objects.filter(label="Headcount").exists()


def test_logging_an_activity_in_the_admin_moves_last_activity_forward(staff_client, deal, rep):
    later = timezone.now() + timezone.timedelta(hours=1)
    response = staff_client.post(
        reverse("admin:deals_activity_add"),
        {"deal": deal.pk, "kind": "note", "subject": "Support note", "body": "",
         "occurred_at_0": later.strftime("%Y-%m-%d"), "occurred_at_1": later.strftime("%H:%M:%S"),
         "stakeholder": "", "by": rep.user.pk, "created_at_0": later.strftime("%Y-%m-%d"),
         "created_at_1": later.strftime("%H:%M:%S")},
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:3000]
    activity = Activity.objects.get(subject="Support note")
    assert activity.organization_id == deal.organization_id
    deal.refresh_from_db()
    assert deal.last_activity_at == activity.occurred_at


def test_a_stakeholder_from_another_org_is_refused(staff_client, deal, other_org_world):
    response = staff_client.post(
        reverse("admin:deals_dealstakeholder_add"),
        {"deal": deal.pk, "contact": other_org_world["contact"].pk, "role": "champion", "influence": 3,
         "attitude": "neutral", "desired_results": "", "wins": "", "created_at_0": "2026-01-01",
         "created_at_1": "10:00:00"},
    )  # fmt: skip
    assert response.status_code == 200
    assert "This belongs to another organization." in response.content.decode()
    assert not DealStakeholder.objects.exists()


def test_read_only_models_refuse_changes(staff_client, world):
    entry = StageChange.objects.first()
    response = staff_client.post(
        reverse("admin:deals_stagechange_change", args=[entry.pk]), {"override_reason": "edited"}
    )
    assert response.status_code == 403
    entry.refresh_from_db()
    assert entry.override_reason == ""
    assert DealStep.objects.exists() and CriterionAnswer.objects.exists()
