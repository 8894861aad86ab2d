"""The playbooks admin keeps the services' rules: conditions validated and normalized, a saved play bumps
its version and is re-evaluated, deleting a step takes its open lines out of the plans."""

import pytest
from django.urls import reverse

from deals.models import DealStep
from orgs.models import User
from playbooks.models import Play, PlayEvaluationRun, PlayStep
from playbooks.triggering import deal_plays_evaluate
from tests.factories import PlaybookFactory, PlayFactory, PlayStepFactory


@pytest.fixture
def staff_client(client, db):
    client.force_login(User.objects.create_superuser("root@example.test", "pass-word-123"))
    return client


@pytest.fixture
def play(org, process):
    return PlayFactory(playbook=PlaybookFactory(organization=org, process=process), name="Big")


def post_play(staff_client, play, condition: str):
    return staff_client.post(
        reverse("admin:playbooks_play_change", args=[play.pk]),
        {"playbook": play.playbook_id, "name": play.name, "description": "", "condition": condition,
         "talk_track": "", "priority": "0", "active": "on", "target_stage": "",
         "questions-TOTAL_FORMS": "0", "questions-INITIAL_FORMS": "0",
         "steps-TOTAL_FORMS": "0", "steps-INITIAL_FORMS": "0"},
    )  # fmt: skip


def test_a_bad_condition_is_refused_with_its_paths(staff_client, play):
    response = post_play(staff_client, play, '{"field": "amount", "op": "gtt", "value": 1}')
    assert response.status_code == 200
    assert "op: unknown operator" in response.content.decode()
    play.refresh_from_db()
    assert (play.condition, play.version) == ({"field": "amount", "op": "gte", "value": 0}, 1)


def test_a_saved_play_is_normalized_bumped_and_reevaluated(staff_client, play):
    response = post_play(staff_client, play, '{"field": "amount", "op": "gte", "value": "1e4"}')
    assert response.status_code == 302, response.content.decode()[:2000]
    play.refresh_from_db()
    assert (play.condition, play.version) == ({"field": "amount", "op": "gte", "value": 10000}, 2)
    assert PlayEvaluationRun.objects.filter(play=play, status="queued").exists()


def test_deleting_a_step_in_the_admin_takes_its_open_lines_out_of_plans(staff_client, play, deal):
    step = PlayStepFactory(play=play)
    deal_plays_evaluate(deal_id=deal.id)
    assert DealStep.objects.filter(play_step=step).exists()
    response = staff_client.post(reverse("admin:playbooks_playstep_delete", args=[step.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not PlayStep.objects.exists() and not DealStep.objects.filter(source="play").exists()
    assert Play.objects.filter(pk=play.pk).exists()
