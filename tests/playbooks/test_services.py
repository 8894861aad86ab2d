"""Playbook services: only ops edit, another organization's objects are refused, conditions are validated
with their paths and nothing is written when anything is wrong, plays are version-guarded, history is
never deleted; and the selectors that read what the services wrote."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from deals.models import DealStep
from deals.services import step_set_done
from playbooks.models import (
    DealPlay,
    Play,
    PlayAnswer,
    Playbook,
    PlayEvaluationRun,
    PlayQuestion,
    PlayResource,
    PlayStep,
)
from playbooks.selectors import deal_plays_attached, play_attachments, play_preview
from playbooks.services import (
    MAX_RESOURCE_BYTES,
    StalePlay,
    play_answer_set,
    play_create,
    play_delete,
    play_question_add,
    play_question_delete,
    play_question_reorder,
    play_question_update,
    play_resource_add,
    play_resource_delete,
    play_set_active,
    play_step_add,
    play_step_delete,
    play_step_reorder,
    play_step_update,
    play_update,
    playbook_create,
    playbook_delete,
    playbook_update,
)
from playbooks.triggering import deal_plays_evaluate
from salesproc.lib.errors import InvalidInput, NotAllowed, StaleVersion
from tests.factories import PlayFactory, PlayQuestionFactory, PlayStepFactory

BIG = {"field": "amount", "op": "gte", "value": 10000}


@pytest.fixture
def playbook(org, ops, process):
    return playbook_create(org=org, by=ops, name="Enterprise", process=process)


@pytest.fixture
def play(playbook, ops):
    return play_create(
        playbook=playbook, by=ops, name="Big deal", condition=BIG, talk_track="Ask about *scale*"
    )


def attach(deal):
    deal_plays_evaluate(deal_id=deal.id)


# ---------------------------------------------------------------------------------------------------
# Roles and tenancy


@pytest.mark.parametrize("role", ["rep", "manager"])
def test_only_ops_and_admins_create_playbooks(request, org, role):
    member = request.getfixturevalue(role)
    with pytest.raises(NotAllowed):
        playbook_create(org=org, by=member, name="Mine")
    assert not Playbook.objects.exists()


def test_an_admin_edits_playbooks_too(org, admin):
    playbook = playbook_create(org=org, by=admin, name="Admin's")
    assert playbook.owner == admin


@pytest.mark.parametrize("role", ["rep", "manager"])
def test_only_ops_edit_plays(request, playbook, play, role):
    member = request.getfixturevalue(role)
    with pytest.raises(NotAllowed):
        play_create(playbook=playbook, by=member, name="Sneaky", condition=BIG)
    with pytest.raises(NotAllowed):
        play_update(play=play, by=member, expected_version=play.version, name="Renamed")
    with pytest.raises(NotAllowed):
        play_set_active(play=play, by=member, active=False)
    with pytest.raises(NotAllowed):
        play_step_add(play=play, by=member, title="Extra")
    with pytest.raises(NotAllowed):
        play_question_add(play=play, by=member, text="Why?")
    play.refresh_from_db()
    assert (play.name, play.active, play.version) == ("Big deal", True, 1)
    assert list(Play.objects.values_list("name", flat=True)) == ["Big deal"]
    assert not PlayStep.objects.exists() and not PlayQuestion.objects.exists()


def test_another_organizations_playbook_is_not_found(playbook, play, other_org_world):
    outsider = other_org_world["member"]
    for call in (
        lambda: playbook_update(playbook=playbook, by=outsider, name="Taken"),
        lambda: play_update(play=play, by=outsider, expected_version=1, name="Taken"),
        lambda: play_delete(play=play, by=outsider),
        lambda: play_step_add(play=play, by=outsider, title="Taken"),
    ):
        with pytest.raises(InvalidInput) as exc:
            call()
        assert exc.value.errors == {"__all__": ["Not found."]}
    assert Play.objects.get().name == "Big deal" and Playbook.objects.get().name == "Enterprise"
    assert not PlayStep.objects.exists()


def test_a_playbook_for_another_organizations_process_is_refused(org, ops, other_org_world):
    with pytest.raises(InvalidInput) as exc:
        playbook_create(org=org, by=ops, name="Theirs", process=other_org_world["process"])
    assert exc.value.errors == {"process": ["Unknown process."]}
    assert not Playbook.objects.exists()


def test_a_condition_naming_another_organizations_stage_is_refused(playbook, ops, other_org_world):
    stage = other_org_world["process"].stages.first()
    with pytest.raises(InvalidInput) as exc:
        play_create(
            playbook=playbook,
            by=ops,
            name="Theirs",
            condition={"field": "stage", "op": "eq", "value": stage.id},
        )
    assert exc.value.errors == {"condition": [f"value: unknown stage {stage.id}"]}
    assert not Play.objects.exists()


# ---------------------------------------------------------------------------------------------------
# Conditions and fields


def test_a_bad_condition_is_refused_with_its_paths_and_nothing_is_written(playbook, ops):
    bad = {
        "all": [
            BIG,
            {"field": "amount", "op": "gtt", "value": 1},
            {"field": "colour", "op": "eq", "value": 1},
        ]
    }
    with pytest.raises(InvalidInput) as exc:
        play_create(playbook=playbook, by=ops, name="", condition=bad, priority="high")
    assert exc.value.errors == {
        "name": ["Required."],
        "condition": ['all[1].op: unknown operator "gtt"', 'all[2].field: unknown field "colour"'],
        "priority": ["A whole number from -1000 to 1000."],
    }
    assert not Play.objects.exists() and not PlayEvaluationRun.objects.exists()


def test_a_bad_condition_in_an_update_writes_nothing(play, ops):
    with pytest.raises(InvalidInput) as exc:
        play_update(play=play, by=ops, expected_version=1, name="Renamed", condition='{"any": []}')
    assert exc.value.errors == {"condition": ["any: expected at least one condition"]}
    play.refresh_from_db()
    assert (play.name, play.condition, play.version) == ("Big deal", BIG, 1)


def test_the_condition_is_stored_normalized(playbook, ops):
    play = play_create(
        playbook=playbook,
        by=ops,
        name="Normalized",
        condition='{"all": [{"field": "amount", "op": "gte", "value": "1e4"}, '
        '{"field": "industry", "op": "in", "value": [" Retail ", "retail", "Energy"]}]}',
    )
    play.refresh_from_db()
    assert play.condition == {
        "all": [
            {"field": "amount", "op": "gte", "value": 10000},
            {"field": "industry", "op": "in", "value": ["Retail", "Energy"]},
        ]
    }


def test_a_play_needs_a_condition(playbook, ops):
    with pytest.raises(InvalidInput) as exc:
        play_create(playbook=playbook, by=ops, name="No condition")
    assert list(exc.value.errors) == ["condition"]


def test_a_target_stage_must_belong_to_the_playbooks_process(playbook, ops, other_org_world):
    with pytest.raises(InvalidInput) as exc:
        play_create(
            playbook=playbook,
            by=ops,
            name="Elsewhere",
            condition=BIG,
            target_stage=other_org_world["process"].stages.first(),
        )
    assert exc.value.errors == {"target_stage": ["Choose a stage of the playbook's process."]}


def test_play_names_are_unique_in_a_playbook(playbook, play, ops):
    with pytest.raises(InvalidInput) as exc:
        play_create(playbook=playbook, by=ops, name="big DEAL", condition=BIG)
    assert exc.value.errors == {"name": ['This playbook already has a play named "big DEAL".']}


def test_unknown_fields_are_refused(play, ops):
    with pytest.raises(InvalidInput) as exc:
        play_update(play=play, by=ops, expected_version=1, version=7)
    assert exc.value.errors == {"version": ["This field cannot be changed here."]}


# ---------------------------------------------------------------------------------------------------
# Optimistic lock and re-evaluation requests


def test_a_play_update_bumps_the_version(play, ops):
    updated = play_update(play=play, by=ops, expected_version=1, talk_track="New words")
    assert updated.version == 2
    play.refresh_from_db()
    assert (play.talk_track, play.version) == ("New words", 2)


def test_a_stale_play_update_writes_nothing(play, ops):
    play_update(play=Play.objects.get(pk=play.pk), by=ops, expected_version=1, name="First")
    with pytest.raises(StaleVersion) as exc:
        play_update(play=play, by=ops, expected_version=1, name="Second")
    assert isinstance(exc.value, StalePlay) and exc.value.current_version == 2
    assert "This play was changed by someone else" in exc.value.message
    play.refresh_from_db()
    assert (play.name, play.version) == ("First", 2)


def test_creating_an_active_play_queues_one_reevaluation_after_commit(
    playbook, ops, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        play = play_create(playbook=playbook, by=ops, name="Queued", condition=BIG)
    [run] = PlayEvaluationRun.objects.filter(play=play)
    assert run.status == "queued" and run.requested_by == ops.user
    assert len(callbacks) == 1


def test_only_condition_and_active_changes_reevaluate(play, ops):
    PlayEvaluationRun.objects.all().delete()
    play_update(play=play, by=ops, expected_version=1, talk_track="Words", priority=5)
    assert not PlayEvaluationRun.objects.exists()
    play_update(play=play, by=ops, expected_version=2, condition={"field": "amount", "op": "gte", "value": 1})
    assert PlayEvaluationRun.objects.filter(play=play, status="queued").count() == 1
    # A second change while the run waits joins it: it reads the play when it starts.
    play_set_active(play=play, by=ops, active=False)
    assert PlayEvaluationRun.objects.filter(play=play).count() == 1


def test_playbook_scope_changes_reevaluate_its_plays(playbook, play, ops):
    PlayEvaluationRun.objects.all().delete()
    playbook_update(playbook=playbook, by=ops, description="Words")
    assert not PlayEvaluationRun.objects.exists()
    playbook_update(playbook=playbook, by=ops, process=None)
    assert list(PlayEvaluationRun.objects.values_list("play_id", flat=True)) == [play.id]


# ---------------------------------------------------------------------------------------------------
# History is never deleted


def test_a_play_that_was_attached_cannot_be_deleted(play, ops, deal):
    attach(deal)
    assert DealPlay.objects.filter(play=play).exists()
    with pytest.raises(InvalidInput) as exc:
        play_delete(play=play, by=ops)
    assert "deactivate it instead" in exc.value.errors["__all__"][0]
    with pytest.raises(InvalidInput):
        playbook_delete(playbook=play.playbook, by=ops)
    assert Play.objects.filter(pk=play.pk).exists()


def test_a_play_never_attached_is_deleted(play, ops):
    play_delete(play=play, by=ops)
    assert not Play.objects.exists()


def test_an_answered_question_cannot_be_deleted(play, ops, rep, deal):
    question = play_question_add(play=play, by=ops, text="Who signs?")
    attach(deal)
    play_answer_set(deal=deal, question=question, text="The CFO", by=rep)
    with pytest.raises(InvalidInput):
        play_question_delete(question=question, by=ops)
    assert PlayQuestion.objects.filter(pk=question.pk).exists()


# ---------------------------------------------------------------------------------------------------
# Questions, resources, steps


def test_questions_are_added_in_order_edited_and_reordered(play, ops):
    first = play_question_add(play=play, by=ops, text="Who signs?")
    second = play_question_add(play=play, by=ops, text="  By when?  ")
    assert (first.order, second.order, second.text) == (1, 2, "By when?")
    play_question_update(question=first, by=ops, text="Who signs the order?")
    play_question_reorder(play=play, by=ops, question_ids=[second.id, first.id])
    assert list(play.questions.order_by("order").values_list("text", flat=True)) == [
        "By when?",
        "Who signs the order?",
    ]
    with pytest.raises(InvalidInput):
        play_question_reorder(play=play, by=ops, question_ids=[second.id])
    play_question_delete(question=first, by=ops)
    assert list(play.questions.values_list("id", flat=True)) == [second.id]


@pytest.mark.parametrize(
    ("kwargs", "errors"),
    [
        ({"url": "javascript:alert(1)"}, {"url": ["Enter a web address starting with http:// or https://."]}),
        (
            {"url": "ftp://example.com/deck.pdf"},
            {"url": ["Enter a web address starting with http:// or https://."]},
        ),
        ({}, {"__all__": ["Give a link or a file."]}),
        (
            {"url": "https://example.com", "file": SimpleUploadedFile("a.pdf", b"x")},
            {"__all__": ["Give either a link or a file, not both."]},
        ),
        ({"file": SimpleUploadedFile("empty.pdf", b"")}, {"file": ["The file is empty."]}),
    ],
)
def test_bad_resources_are_refused(play, ops, kwargs, errors):
    with pytest.raises(InvalidInput) as exc:
        play_resource_add(play=play, by=ops, title="Battle card", **kwargs)
    assert exc.value.errors == errors
    assert not PlayResource.objects.exists()


def test_a_file_over_the_limit_is_refused(play, ops):
    big = SimpleUploadedFile("huge.pdf", b"x")
    big.size = MAX_RESOURCE_BYTES + 1
    with pytest.raises(InvalidInput) as exc:
        play_resource_add(play=play, by=ops, title="Huge", file=big)
    assert exc.value.errors == {"file": ["At most 10 MB."]}


def test_links_and_files_are_stored_and_deleted(
    play, ops, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = tmp_path
    link = play_resource_add(play=play, by=ops, title="Case study", url="https://example.com/case")
    upload = play_resource_add(
        play=play, by=ops, title="Battle card", file=SimpleUploadedFile("card.pdf", b"%PDF-1.4 card")
    )
    assert (link.order, upload.order) == (1, 2)
    stored = tmp_path / upload.file.name
    assert upload.file.name.startswith("play_resources/") and stored.read_bytes() == b"%PDF-1.4 card"
    with django_capture_on_commit_callbacks(execute=True):
        play_resource_delete(resource=upload, by=ops)
    assert not stored.exists()
    assert list(PlayResource.objects.values_list("title", flat=True)) == ["Case study"]


def test_step_edits_reach_open_plan_lines_and_spare_completed_ones(play, ops, rep, deal, stages):
    first = play_step_add(play=play, by=ops, title="Map the buying committee")
    second = play_step_add(play=play, by=ops, title="Send the ROI model", stage=stages[1])
    attach(deal)
    line_one = DealStep.objects.get(deal=deal, play_step=first)
    step_set_done(step=line_one, by=rep, done=True)
    play_step_update(step=first, by=ops, title="Map the committee")
    play_step_update(step=second, by=ops, title="Send the business case", stage=stages[2])
    line_one.refresh_from_db()
    line_two = DealStep.objects.get(deal=deal, play_step=second)
    assert line_one.title == "Map the buying committee"
    assert (line_two.title, line_two.stage) == ("Send the business case", stages[2])

    play_step_reorder(play=play, by=ops, step_ids=[second.id, first.id])
    assert list(play.steps.order_by("order").values_list("id", flat=True)) == [second.id, first.id]

    play_step_delete(step=second, by=ops)
    play_step_delete(step=first, by=ops)
    # The open line left the plan; the completed one stays, no longer pointing at a play step.
    [kept] = DealStep.objects.filter(deal=deal, source="play")
    assert (kept.pk, kept.play_step_id, kept.completed_at is not None) == (line_one.pk, None, True)


def test_a_step_stage_must_belong_to_the_playbooks_process(play, ops, other_org_world):
    with pytest.raises(InvalidInput) as exc:
        play_step_add(play=play, by=ops, title="Elsewhere", stage=other_org_world["process"].stages.first())
    assert exc.value.errors == {"stage": ["Choose a stage of the playbook's process."]}
    assert not PlayStep.objects.exists()


# ---------------------------------------------------------------------------------------------------
# Answers


def test_the_deal_owner_answers_a_question_of_an_attached_play(play, ops, rep, deal):
    question = play_question_add(play=play, by=ops, text="Who signs?")
    attach(deal)
    answer = play_answer_set(deal=deal, question=question, text=" The CFO ", by=rep)
    assert (answer.text, answer.answered_by) == ("The CFO", rep.user)
    play_answer_set(deal=deal, question=question, text="The CEO", by=rep)
    assert PlayAnswer.objects.get().text == "The CEO"
    assert play_answer_set(deal=deal, question=question, text="", by=rep) is None
    assert not PlayAnswer.objects.exists()


def test_only_who_may_edit_the_deal_answers(play, ops, other_rep, deal):
    question = play_question_add(play=play, by=ops, text="Who signs?")
    attach(deal)
    with pytest.raises(NotAllowed):
        play_answer_set(deal=deal, question=question, text="Me", by=other_rep)
    assert not PlayAnswer.objects.exists()


def test_a_question_of_a_play_not_attached_is_refused(playbook, ops, rep, deal):
    other = play_create(
        playbook=playbook, by=ops, name="Small", condition={"field": "amount", "op": "lt", "value": 5}
    )
    question = play_question_add(play=other, by=ops, text="Why so small?")
    attach(deal)
    with pytest.raises(InvalidInput) as exc:
        play_answer_set(deal=deal, question=question, text="Pilot", by=rep)
    assert exc.value.errors == {
        "question": ["This question belongs to a play that is not attached to this deal."]
    }
    assert not PlayAnswer.objects.exists()


# ---------------------------------------------------------------------------------------------------
# Selectors


def test_deal_plays_attached_costs_the_same_queries_whatever_the_plays(org, playbook, ops, rep, deal):
    def read():
        with CaptureQueriesContext(connection) as ctx:
            rows = deal_plays_attached(deal=deal)
            for row in rows:
                for q in row.play.questions.all():
                    _ = q.answer
                list(row.play.resources.all())
                list(row.play.steps.all())
                _ = row.play.playbook.name
        return rows, len(ctx.captured_queries)

    first = PlayFactory(playbook=playbook)
    question = PlayQuestionFactory(play=first)
    PlayStepFactory(play=first)
    attach(deal)
    play_answer_set(deal=deal, question=question, text="Yes", by=rep)
    rows, one = read()
    assert [r.play for r in rows] == [first] and rows[0].play.questions.all()[0].answer.text == "Yes"
    for _ in range(4):
        extra = PlayFactory(playbook=playbook)
        PlayQuestionFactory(play=extra)
        PlayStepFactory(play=extra)
    attach(deal)
    rows, five = read()
    assert len(rows) == 5 and five == one == 5


def test_play_attachments_now_and_history(play, rep, deal):
    from deals.services import deal_update

    attach(deal)
    assert [r.deal for r in play_attachments(play=play)] == [deal]
    deal_update(deal=deal, by=rep, expected_version=deal.version, amount="10")
    attach(deal)
    assert not play_attachments(play=play).exists()
    assert [r.deal for r in play_attachments(play=play, attached=False)] == [deal]


def test_play_preview_counts_and_samples_open_deals(org, process, rep, account, deal):
    from deals.services import deal_create, deal_win

    small = deal_create(by=rep, process=process, name="Small", account=account, amount="50")
    won = deal_create(by=rep, process=process, name="Won", account=account, amount="90000")
    deal_win(deal=won, by=rep, expected_version=won.version)
    with CaptureQueriesContext(connection) as ctx:
        preview = play_preview(org=org, condition=BIG, process=process)
    assert (preview.count, [d.name for d in preview.sample]) == (1, ["Globex rollout"])
    assert preview.description == "amount is at least 10,000"
    assert len(ctx.captured_queries) == 2
    assert play_preview(org=org, condition={"not": BIG}).count == 1 and small
    with pytest.raises(InvalidInput) as exc:
        play_preview(org=org, condition={"field": "amount"})
    assert exc.value.errors == {"condition": ['condition: missing "op"']}
