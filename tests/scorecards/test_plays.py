"""The scorecard's result and score are play conditions: answering re-evaluates the deal's plays after
commit, and a change that recomputes every deal re-evaluates the plays that read them."""

import pytest

from playbooks.models import DealPlay, PlayEvaluationRun
from playbooks.services import play_create, playbook_create
from scorecards.services import deal_scorecard_answer, scorecard_criterion_update

pytestmark = pytest.mark.django_db


@pytest.fixture
def no_go_play(org, process, ops, django_capture_on_commit_callbacks):
    playbook = playbook_create(org=org, by=ops, name="Qualification", process=process)
    with django_capture_on_commit_callbacks(execute=True):
        return play_create(
            playbook=playbook,
            by=ops,
            name="Requalify or walk away",
            condition={"field": "scorecard_result", "op": "eq", "value": "no_go"},
        )


def test_a_no_go_answer_brings_the_play_and_a_go_takes_it_away(
    deal, rep, criteria, no_go_play, django_capture_on_commit_callbacks
):
    budget, pain, champion = criteria

    with django_capture_on_commit_callbacks(execute=True):
        deal_scorecard_answer(deal=deal, criterion=budget, value=0, by=rep)
        deal_scorecard_answer(deal=deal, criterion=pain, value=0, by=rep)
        deal_scorecard_answer(deal=deal, criterion=champion, value=0, by=rep)  # 0 of 100: no-go
    assert DealPlay.objects.filter(deal=deal, play=no_go_play, detached_at__isnull=True).exists()

    with django_capture_on_commit_callbacks(execute=True):
        deal_scorecard_answer(deal=deal, criterion=budget, value=1, by=rep)
        deal_scorecard_answer(deal=deal, criterion=champion, value=5, by=rep)  # 80 of 100: go
    assert not DealPlay.objects.filter(deal=deal, play=no_go_play, detached_at__isnull=True).exists()


def test_a_new_weight_rematches_the_plays_that_read_the_scorecard(ops, criteria, no_go_play):
    before = PlayEvaluationRun.objects.filter(play=no_go_play).count()

    scorecard_criterion_update(criterion=criteria[0], by=ops, weight=9)

    assert PlayEvaluationRun.objects.filter(play=no_go_play).count() == before + 1
