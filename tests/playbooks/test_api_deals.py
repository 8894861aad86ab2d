"""The playbooks API where plays meet deals: a deal's attached plays (why, talk track, questions with
the deal's answers, resources, steps with the plan's state), answers, a play's deals, its evaluation
runs and effectiveness, and the preview of a condition."""

import pytest

from deals.models import DealStep
from deals.services import deal_create, deal_lose, deal_win, step_set_done
from playbooks.models import PlayAnswer, PlayEvaluationRun
from playbooks.services import (
    play_answer_set,
    play_create,
    play_question_add,
    play_resource_add,
    play_step_add,
    playbook_create,
)
from playbooks.triggering import deal_plays_evaluate, play_evaluation_run_execute
from tests.api.conftest import api_client  # noqa: F401  (the fixture)
from tests.factories import AccountFactory

BIG = {"field": "amount", "op": "gte", "value": 10000}
SMALL = {"field": "amount", "op": "lt", "value": 100}


@pytest.fixture
def playbook(org, ops, process):
    return playbook_create(org=org, by=ops, name="Enterprise", process=process)


@pytest.fixture
def play(playbook, ops):
    return play_create(
        playbook=playbook,
        by=ops,
        name="Big deal",
        condition=BIG,
        talk_track="Ask about **scale**.\n\n[Deck](javascript:alert(1))",
        priority=3,
    )


# ---------------------------------------------------------------------------------------------------
# A deal's plays


def test_a_deals_plays_show_why_talk_track_questions_answers_resources_and_steps(
    api_client, ops, rep, manager, play, playbook, deal
):
    first = play_question_add(play=play, by=ops, text="Who signs?")
    play_question_add(play=play, by=ops, text="By when?")
    play_resource_add(play=play, by=ops, title="Case study", url="https://example.com/case")
    step = play_step_add(play=play, by=ops, title="Book the executive call")
    play_create(playbook=playbook, by=ops, name="Tiny deal", condition=SMALL)
    deal_plays_evaluate(deal_id=deal.id)
    play_answer_set(deal=deal, question=first, text="The CFO", by=rep)
    line = DealStep.objects.get(deal=deal, play_step=step)
    step_set_done(step=line, by=rep, done=True)

    response = api_client(manager).get(f"/api/deals/{deal.id}/plays/")

    assert response.status_code == 200
    [attached] = response.json()
    assert attached["play"] == {
        "id": play.id,
        "name": "Big deal",
        "description": "",
        "priority": 3,
        "playbook": {"id": playbook.id, "name": "Enterprise"},
    }
    assert attached["why"] == ["amount is at least 10,000"]
    assert attached["talk_track"].startswith("Ask about **scale**.")
    assert "<strong>scale</strong>" in attached["talk_track_html"]
    assert "javascript" not in attached["talk_track_html"]
    assert [(q["text"], q["answer"] and q["answer"]["text"]) for q in attached["questions"]] == [
        ("Who signs?", "The CFO"),
        ("By when?", None),
    ]
    assert attached["questions"][0]["answer"]["answered_by"] == {
        "id": rep.user_id,
        "name": rep.user.display_name,
    }
    assert [(r["title"], r["kind"]) for r in attached["resources"]] == [("Case study", "link")]
    [step_body] = attached["steps"]
    assert step_body["title"] == "Book the executive call"
    assert step_body["deal_step"]["id"] == line.id and step_body["deal_step"]["done"] is True


def test_a_play_step_without_a_plan_line_says_so(api_client, ops, rep, play, deal):
    deal_plays_evaluate(deal_id=deal.id)
    # Added after the play attached: the plan gets it from the re-evaluation run, not yet done here.
    play_step_add(play=play, by=ops, title="Later step")

    [attached] = api_client(rep).get(f"/api/deals/{deal.id}/plays/").json()

    assert [(s["title"], s["deal_step"]) for s in attached["steps"]] == [("Later step", None)]


def test_another_organizations_deal_plays_are_404(api_client, rep, other_org_world):
    response = api_client(rep).get(f"/api/deals/{other_org_world['deal'].id}/plays/")

    assert response.status_code == 404


# token + membership + the deal + the attached plays (with playbooks) + questions + resources + steps
# + the deal's answers + the deal's plan lines of those steps.
DEAL_PLAYS_QUERIES = 9


@pytest.mark.parametrize("n", [1, 6])
def test_a_deals_plays_cost_the_same_queries_whatever_the_plays(
    api_client, django_assert_num_queries, ops, rep, playbook, deal, n
):
    for i in range(n):
        play = play_create(playbook=playbook, by=ops, name=f"Play {i}", condition=BIG)
        for j in range(2):
            play_question_add(play=play, by=ops, text=f"Question {j}?")
            play_resource_add(play=play, by=ops, title=f"Link {j}", url=f"https://example.com/{j}")
            play_step_add(play=play, by=ops, title=f"Step {j}")
    deal_plays_evaluate(deal_id=deal.id)
    for question in deal.deal_plays.first().play.questions.all():
        play_answer_set(deal=deal, question=question, text="Yes", by=rep)
    client = api_client(rep)

    with django_assert_num_queries(DEAL_PLAYS_QUERIES):
        response = client.get(f"/api/deals/{deal.id}/plays/")

    assert len(response.json()) == n
    assert all(len(p["questions"]) == len(p["resources"]) == len(p["steps"]) == 2 for p in response.json())
    assert all(s["deal_step"] is not None for p in response.json() for s in p["steps"])


# ---------------------------------------------------------------------------------------------------
# Answers


def test_the_deal_owner_answers_and_clears_an_answer(api_client, ops, rep, play, deal):
    question = play_question_add(play=play, by=ops, text="Who signs?")
    deal_plays_evaluate(deal_id=deal.id)
    client = api_client(rep)
    url = f"/api/deals/{deal.id}/play-answers/{question.id}/"

    answered = client.put(url, {"text": " The CFO "}, format="json")

    assert answered.status_code == 200, answered.json()
    assert answered.json()["text"] == "The CFO"
    assert answered.json()["answered_by"] == {"id": rep.user_id, "name": rep.user.display_name}
    assert PlayAnswer.objects.get().text == "The CFO"
    cleared = client.put(url, {"text": ""}, format="json")
    assert (
        cleared.status_code == 200 and cleared.json()["text"] == "" and cleared.json()["answered_at"] is None
    )
    assert not PlayAnswer.objects.exists()


def test_the_owners_manager_answers_too(api_client, ops, manager, play, deal):
    question = play_question_add(play=play, by=ops, text="Who signs?")
    deal_plays_evaluate(deal_id=deal.id)

    response = api_client(manager).put(
        f"/api/deals/{deal.id}/play-answers/{question.id}/", {"text": "The board"}, format="json"
    )

    assert response.status_code == 200 and PlayAnswer.objects.get().answered_by == manager.user


def test_a_rep_who_may_not_edit_the_deal_is_403_and_nothing_is_written(
    api_client, ops, other_rep, play, deal
):
    question = play_question_add(play=play, by=ops, text="Who signs?")
    deal_plays_evaluate(deal_id=deal.id)

    response = api_client(other_rep).put(
        f"/api/deals/{deal.id}/play-answers/{question.id}/", {"text": "Me"}, format="json"
    )

    assert response.status_code == 403
    assert not PlayAnswer.objects.exists()


def test_answering_a_question_of_a_play_not_attached_is_400(api_client, ops, rep, playbook, play, deal):
    tiny = play_create(playbook=playbook, by=ops, name="Tiny deal", condition=SMALL)
    question = play_question_add(play=tiny, by=ops, text="Why so small?")
    deal_plays_evaluate(deal_id=deal.id)

    response = api_client(rep).put(
        f"/api/deals/{deal.id}/play-answers/{question.id}/", {"text": "Pilot"}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {
        "question": ["This question belongs to a play that is not attached to this deal."]
    }
    assert not PlayAnswer.objects.exists()


# ---------------------------------------------------------------------------------------------------
# A play's deals, runs, effectiveness


def test_a_plays_deals_now_and_history(api_client, rep, ops, process, account, play, deal):
    later = deal_create(by=rep, process=process, name="Later", account=account, amount="50000")
    deal_plays_evaluate(deal_id=deal.id)
    deal_plays_evaluate(deal_id=later.id)
    deal_lose(deal=deal, by=rep, expected_version=deal.version, reason="No budget")
    deal_plays_evaluate(deal_id=deal.id)
    client = api_client(rep)
    url = f"/api/plays/{play.id}/deals/"

    now = client.get(url).json()["results"]
    history = client.get(url, {"attached": "false"}).json()["results"]
    both = client.get(url, {"attached": "all"}).json()["results"]
    bad = client.get(url, {"attached": "maybe"})

    assert [r["deal"]["name"] for r in now] == ["Later"]
    assert now[0]["detached_at"] is None and now[0]["why"] == ["amount is at least 10,000"]
    assert now[0]["deal"]["stage"]["name"] == "Qualify" and now[0]["deal"]["owner"]["id"] == rep.user_id
    assert [(r["deal"]["name"], r["deal"]["status"]) for r in history] == [("Globex rollout", "lost")]
    assert {r["deal"]["name"] for r in both} == {"Later", "Globex rollout"}
    assert bad.status_code == 400 and "attached" in bad.json()


# token + membership + the play + one page of attachments (with deal, stage, owner).
PLAY_DEALS_QUERIES = 4


@pytest.mark.parametrize("n", [1, 8])
def test_a_plays_deals_cost_the_same_queries_whatever_the_deals(
    api_client, django_assert_num_queries, org, rep, process, play, n
):
    for i in range(n):
        d = deal_create(
            by=rep,
            process=process,
            name=f"Deal {i}",
            account=AccountFactory(organization=org),
            amount="20000",
        )
        deal_plays_evaluate(deal_id=d.id)
    client = api_client(rep)

    with django_assert_num_queries(PLAY_DEALS_QUERIES):
        response = client.get(f"/api/plays/{play.id}/deals/")

    assert len(response.json()["results"]) == n


def test_a_plays_deals_page_with_a_cursor(api_client, org, rep, process, play):
    for i in range(5):
        d = deal_create(
            by=rep,
            process=process,
            name=f"Deal {i}",
            account=AccountFactory(organization=org),
            amount="20000",
        )
        deal_plays_evaluate(deal_id=d.id)
    client = api_client(rep)

    first = client.get(f"/api/plays/{play.id}/deals/", {"page_size": 3}).json()
    second = client.get(first["next"]).json()

    names = [r["deal"]["name"] for r in first["results"] + second["results"]]
    assert sorted(names) == [f"Deal {i}" for i in range(5)] and second["next"] is None


def test_an_evaluation_run_reports_its_progress(api_client, rep, play, deal):
    run = PlayEvaluationRun.objects.get(play=play)
    client = api_client(rep)
    url = f"/api/play-evaluation-runs/{run.id}/"

    queued = client.get(url).json()
    play_evaluation_run_execute(run.id)
    done = client.get(url).json()

    assert (queued["status"], queued["progress"], queued["play"]) == ("queued", 0, play.id)
    assert (done["status"], done["progress"], done["total"], done["attached"]) == ("done", 100, 1, 1)


def test_another_organizations_run_is_404(api_client, rep, other_org_world):
    other = other_org_world["member"]
    foreign_playbook = playbook_create(org=other.organization, by=other, name="Theirs")
    foreign = play_create(playbook=foreign_playbook, by=other, name="Theirs", condition=BIG)
    run = PlayEvaluationRun.objects.get(play=foreign)

    assert api_client(rep).get(f"/api/play-evaluation-runs/{run.id}/").status_code == 404
    assert api_client(rep).get(f"/api/plays/{foreign.id}/deals/").status_code == 404


@pytest.mark.parametrize("role", ["manager", "ops", "admin"])
def test_managers_ops_and_admins_read_a_plays_effectiveness(
    api_client, request, role, org, rep, process, play, deal
):
    deal_plays_evaluate(deal_id=deal.id)
    deal_win(deal=deal, by=rep, expected_version=deal.version)
    other = deal_create(
        by=rep, process=process, name="Small", account=AccountFactory(organization=org), amount="50"
    )
    deal_lose(deal=other, by=rep, expected_version=other.version, reason="Price")

    response = api_client(request.getfixturevalue(role)).get(f"/api/plays/{play.id}/effectiveness/")

    assert response.status_code == 200
    body = response.json()
    assert (body["play_id"], body["stage_conversion"], body["target_stage"]) == (play.id, None, None)
    treated = body["win_rate"]["treated"]
    assert (treated["won"], treated["lost"], treated["n"], treated["rate"]) == (1, 0, 1, 1.0)
    assert body["verdict"] == "not enough data yet" and body["win_rate"]["more_needed"] > 0


def test_a_target_stage_plays_effectiveness_has_the_stage_conversion(api_client, manager, ops, play, stages):
    api_client(ops).patch(
        f"/api/plays/{play.id}/", {"version": 1, "target_stage": stages[0].id}, format="json"
    )

    body = api_client(manager).get(f"/api/plays/{play.id}/effectiveness/").json()

    assert body["target_stage"] == "Qualify"
    assert set(body["stage_conversion"]) >= {"treated", "comparison", "excluded", "verdict", "difference_ci"}


def test_a_rep_does_not_read_effectiveness(api_client, rep, play):
    response = api_client(rep).get(f"/api/plays/{play.id}/effectiveness/")

    assert response.status_code == 403


# ---------------------------------------------------------------------------------------------------
# Preview


@pytest.fixture
def preview_deals(org, rep, process, account, deal):
    """Open deals of 12,000 (the `deal` fixture), 50,000 and 50, a won one of 90,000, and one of
    30,000 in another process."""
    from salesproc.services import process_import
    from tests.fixtures import SIMPLE_PROCESS

    big = deal_create(by=rep, process=process, name="Big", account=account, amount="50000")
    deal_create(by=rep, process=process, name="Small", account=account, amount="50")
    won = deal_create(by=rep, process=process, name="Won", account=account, amount="90000")
    deal_win(deal=won, by=rep, expected_version=won.version)
    renewals, _ = process_import(org=org, data={**SIMPLE_PROCESS, "name": "Renewals"}, by=None)
    elsewhere = deal_create(by=rep, process=renewals, name="Renewal", account=account, amount="30000")
    return {"deal": deal, "big": big, "renewals": renewals, "elsewhere": elsewhere}


def test_a_preview_counts_the_open_deals_a_condition_matches(api_client, ops, process, preview_deals):
    client = api_client(ops)

    everywhere = client.post("/api/plays/preview/", {"condition": BIG}, format="json")
    one_process = client.post("/api/plays/preview/", {"condition": BIG, "process": process.id}, format="json")
    none = client.post(
        "/api/plays/preview/", {"condition": {"field": "amount", "op": "gt", "value": 10**6}}, format="json"
    )

    assert everywhere.status_code == 200, everywhere.json()
    assert everywhere.json()["matching_open_deals"] == 3
    assert everywhere.json()["description"] == "amount is at least 10,000"
    body = one_process.json()
    assert body["matching_open_deals"] == 2
    assert [(d["name"], d["stage"]["name"]) for d in body["sample"]] == [
        ("Big", "Qualify"),
        ("Globex rollout", "Qualify"),
    ]
    assert none.json() == {
        "matching_open_deals": 0,
        "description": "amount is more than 1,000,000",
        "sample": [],
    }


def test_a_preview_sample_is_bounded(api_client, ops, preview_deals):
    body = api_client(ops).post("/api/plays/preview/", {"condition": BIG, "sample": 1}, format="json").json()

    assert body["matching_open_deals"] == 3 and len(body["sample"]) == 1


def test_a_preview_of_a_bad_condition_is_400_naming_each_path(api_client, ops, other_org_world):
    bad = {
        "any": [
            {"field": "amount", "op": "gtt", "value": 1},
            {"field": "stage", "op": "eq", "value": other_org_world["deal"].stage_id},
        ]
    }

    response = api_client(ops).post("/api/plays/preview/", {"condition": bad}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "condition": [
            'any[0].op: unknown operator "gtt"',
            f"any[1].value: unknown stage {other_org_world['deal'].stage_id}",
        ]
    }


def test_a_preview_of_another_organizations_process_is_400(api_client, ops, other_org_world):
    response = api_client(ops).post(
        "/api/plays/preview/", {"condition": BIG, "process": other_org_world["process"].id}, format="json"
    )

    assert response.status_code == 400 and response.json() == {"process": ["Unknown process."]}
