"""The playbooks API: playbooks, plays and what they carry. Every member reads; ops and admins write
(a 403 otherwise, with nothing written); a bad condition is a 400 naming each problem's path; a stale
play version is a 409; another organization's objects are 404s; list query counts do not grow with
rows."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from deals.models import DealStep
from playbooks.models import (
    Play,
    PlayAnswer,
    Playbook,
    PlayEvaluationRun,
    PlayQuestion,
    PlayResource,
    PlayStep,
)
from playbooks.services import (
    play_answer_set,
    play_create,
    play_question_add,
    play_resource_add,
    play_step_add,
    playbook_create,
)
from playbooks.triggering import deal_plays_evaluate
from tests.api.conftest import api_client  # noqa: F401  (the fixture)
from tests.factories import PlaybookFactory, PlayFactory, PlayQuestionFactory

BIG = {"field": "amount", "op": "gte", "value": 10000}
BAD = {
    "all": [
        BIG,
        {"field": "amount", "op": "gtt", "value": 1},
        {"field": "colour", "op": "eq", "value": 1},
        {"any": [{"field": "stage", "op": "eq", "value": 999999}]},
    ]
}
BAD_PROBLEMS = [
    'all[1].op: unknown operator "gtt"',
    'all[2].field: unknown field "colour"',
    "all[3].any[0].value: unknown stage 999999",
]


@pytest.fixture
def playbook(org, ops, process):
    return playbook_create(org=org, by=ops, name="Enterprise", process=process)


@pytest.fixture
def play(playbook, ops):
    return play_create(
        playbook=playbook, by=ops, name="Big deal", condition=BIG, talk_track="Ask about **scale**"
    )


# ---------------------------------------------------------------------------------------------------
# Playbooks


def test_ops_create_read_edit_and_delete_a_playbook(api_client, ops, process):
    client = api_client(ops)

    created = client.post(
        "/api/playbooks/",
        {"name": "Enterprise", "description": "Big logos", "process": process.id},
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["name"] == "Enterprise" and body["process"] == process.id and body["active"] is True
    assert body["owner"] == {"id": ops.user_id, "name": ops.user.display_name}
    assert (body["plays_count"], body["active_plays_count"]) == (0, 0)
    url = f"/api/playbooks/{body['id']}/"

    edited = client.patch(url, {"name": "Enterprise deals", "process": None, "active": False}, format="json")
    assert edited.status_code == 200, edited.json()
    assert (edited.json()["name"], edited.json()["process"], edited.json()["active"]) == (
        "Enterprise deals",
        None,
        False,
    )
    assert client.get(url).json()["name"] == "Enterprise deals"

    assert client.delete(url).status_code == 204
    assert not Playbook.objects.exists()


def test_a_playbook_counts_its_plays(api_client, rep, playbook, ops):
    play_create(playbook=playbook, by=ops, name="One", condition=BIG)
    play_create(playbook=playbook, by=ops, name="Two", condition=BIG, active=False)

    listed = api_client(rep).get("/api/playbooks/").json()["results"]

    assert [(p["name"], p["plays_count"], p["active_plays_count"]) for p in listed] == [("Enterprise", 2, 1)]


def test_a_playbook_owner_must_be_a_member(api_client, ops, other_org_world):
    response = api_client(ops).post(
        "/api/playbooks/", {"name": "X", "owner": other_org_world["member"].user_id}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {"owner": ["No member of your organization has that id."]}
    assert not Playbook.objects.exists()


def test_a_duplicate_playbook_name_is_400(api_client, ops, playbook):
    response = api_client(ops).post("/api/playbooks/", {"name": "enterprise"}, format="json")

    assert response.status_code == 400
    assert response.json() == {"name": ['There is already a playbook named "enterprise".']}
    assert Playbook.objects.count() == 1


def test_a_playbook_whose_plays_were_attached_is_not_deleted(api_client, ops, playbook, play, deal):
    deal_plays_evaluate(deal_id=deal.id)

    response = api_client(ops).delete(f"/api/playbooks/{playbook.id}/")

    assert response.status_code == 400
    assert "deactivate it instead" in response.json()["non_field_errors"][0]
    assert Playbook.objects.filter(pk=playbook.pk).exists()


@pytest.mark.parametrize("role", ["rep", "manager"])
def test_reps_and_managers_read_playbooks_but_do_not_write_them(api_client, request, role, playbook, play):
    client = api_client(request.getfixturevalue(role))
    url = f"/api/playbooks/{playbook.id}/"

    assert client.get("/api/playbooks/").status_code == 200
    assert client.get(url).status_code == 200
    responses = [
        client.post("/api/playbooks/", {"name": "Mine"}, format="json"),
        client.patch(url, {"name": "Renamed"}, format="json"),
        client.delete(url),
        client.post(f"/api/playbooks/{playbook.id}/plays/", {"name": "P", "condition": BIG}, format="json"),
    ]

    assert [r.status_code for r in responses] == [403] * 4
    assert responses[0].json()["code"] == "not_allowed"
    assert list(Playbook.objects.values_list("name", flat=True)) == ["Enterprise"]
    assert list(Play.objects.values_list("name", flat=True)) == ["Big deal"]


# ---------------------------------------------------------------------------------------------------
# Plays


def test_ops_create_a_play_and_its_evaluation_is_queued(api_client, ops, playbook, stages):
    response = api_client(ops).post(
        f"/api/playbooks/{playbook.id}/plays/",
        {
            "name": "Late big deal",
            "condition": {"all": [BIG, {"field": "stage", "op": "eq", "value": stages[2].id}]},
            "talk_track": "Say *why now*.\n\n<script>alert(1)</script>",
            "priority": 5,
            "target_stage": stages[2].id,
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    play = Play.objects.get()
    assert body["id"] == play.id and body["version"] == 1 and body["priority"] == 5
    assert body["condition_text"] == "amount is at least 10,000 and stage is Propose"
    assert body["talk_track_html"].strip() == "<p>Say <em>why now</em>.</p>"  # the script is dropped
    assert body["target_stage"] == stages[2].id
    run = PlayEvaluationRun.objects.get(play=play)
    assert body["evaluation"]["id"] == run.id and body["evaluation"]["status"] == "queued"
    assert body["evaluation"]["status_url"] == f"/api/play-evaluation-runs/{run.id}/"


def test_a_bad_condition_is_400_naming_each_path_and_nothing_is_written(api_client, ops, playbook):
    response = api_client(ops).post(
        f"/api/playbooks/{playbook.id}/plays/", {"name": "Broken", "condition": BAD}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {"condition": BAD_PROBLEMS}
    assert not Play.objects.exists() and not PlayEvaluationRun.objects.exists()


def test_a_bad_condition_in_an_edit_writes_nothing(api_client, ops, play):
    response = api_client(ops).patch(
        f"/api/plays/{play.id}/", {"version": 1, "name": "Renamed", "condition": BAD}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {"condition": BAD_PROBLEMS}
    play.refresh_from_db()
    assert (play.name, play.condition, play.version) == ("Big deal", BIG, 1)


def test_a_play_edit_names_the_version_and_bumps_it(api_client, ops, play):
    client = api_client(ops)

    edited = client.patch(
        f"/api/plays/{play.id}/",
        {
            "version": 1,
            "talk_track": "New words",
            "condition": {"field": "industry", "op": "eq", "value": "Retail"},
        },
        format="json",
    )

    assert edited.status_code == 200, edited.json()
    assert edited.json()["version"] == 2
    assert edited.json()["condition_text"] == "industry is Retail"
    play.refresh_from_db()
    assert (play.talk_track, play.version) == ("New words", 2)


def test_a_stale_play_edit_is_409_and_writes_nothing(api_client, ops, play):
    client = api_client(ops)
    client.patch(f"/api/plays/{play.id}/", {"version": 1, "name": "First"}, format="json")

    response = client.patch(f"/api/plays/{play.id}/", {"version": 1, "name": "Second"}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "stale_version" and response.json()["current_version"] == 2
    play.refresh_from_db()
    assert (play.name, play.version) == ("First", 2)


def test_a_play_edit_without_a_version_is_400(api_client, ops, play):
    response = api_client(ops).patch(f"/api/plays/{play.id}/", {"name": "X"}, format="json")

    assert response.status_code == 400 and "version" in response.json()
    play.refresh_from_db()
    assert play.name == "Big deal"


def test_moving_a_play_to_another_playbook_is_refused(api_client, ops, play, org):
    other = PlaybookFactory(organization=org)

    response = api_client(ops).patch(
        f"/api/plays/{play.id}/", {"version": 1, "playbook": other.id}, format="json"
    )

    assert response.status_code == 400 and response.json() == {"playbook": ["Read-only."]}
    play.refresh_from_db()
    assert (play.playbook_id, play.version) == (play.playbook_id, 1)


def test_deactivate_and_activate_a_play(api_client, ops, play):
    client = api_client(ops)

    off = client.post(f"/api/plays/{play.id}/deactivate/")
    on = client.post(f"/api/plays/{play.id}/activate/")

    assert (off.status_code, off.json()["active"]) == (200, False)
    assert (on.status_code, on.json()["active"], on.json()["version"]) == (200, True, 3)


def test_a_play_is_deleted_unless_it_was_attached(api_client, ops, playbook, play, deal):
    spare = play_create(
        playbook=playbook, by=ops, name="Spare", condition={"field": "amount", "op": "lt", "value": 1}
    )
    deal_plays_evaluate(deal_id=deal.id)
    client = api_client(ops)

    refused = client.delete(f"/api/plays/{play.id}/")
    deleted = client.delete(f"/api/plays/{spare.id}/")

    assert refused.status_code == 400 and "deactivate it instead" in refused.json()["non_field_errors"][0]
    assert deleted.status_code == 204
    assert list(Play.objects.values_list("name", flat=True)) == ["Big deal"]


@pytest.mark.parametrize("role", ["rep", "manager"])
def test_reps_and_managers_read_plays_but_do_not_write_them(api_client, request, role, play):
    client = api_client(request.getfixturevalue(role))
    url = f"/api/plays/{play.id}/"

    read = client.get(url)
    responses = [
        client.patch(url, {"version": 1, "name": "Mine"}, format="json"),
        client.post(f"{url}deactivate/"),
        client.delete(url),
        client.post(f"{url}questions/", {"text": "Why?"}, format="json"),
        client.post(f"{url}resources/", {"title": "Card", "url": "https://example.com"}, format="json"),
        client.post(f"{url}steps/", {"title": "Call"}, format="json"),
        client.post("/api/plays/preview/", {"condition": BIG}, format="json"),
    ]

    assert (
        read.status_code == 200
        and read.json()["talk_track_html"] == "<p>Ask about <strong>scale</strong></p>"
    )
    assert [r.status_code for r in responses] == [403] * 7
    play.refresh_from_db()
    assert (play.name, play.active, play.version) == ("Big deal", True, 1)
    assert not (PlayQuestion.objects.exists() or PlayResource.objects.exists() or PlayStep.objects.exists())


def test_an_admin_writes_plays_too(api_client, admin, play):
    response = api_client(admin).patch(f"/api/plays/{play.id}/", {"version": 1, "priority": 9}, format="json")

    assert response.status_code == 200 and response.json()["priority"] == 9


def test_a_target_stage_of_another_organization_is_400(api_client, ops, play, other_org_world):
    foreign_stage = other_org_world["process"].stages.first()

    response = api_client(ops).patch(
        f"/api/plays/{play.id}/", {"version": 1, "target_stage": foreign_stage.id}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {"target_stage": ["Choose a stage of the playbook's process."]}


def test_another_organizations_playbooks_and_plays_are_404(api_client, ops, other_org_world):
    foreign_playbook = PlaybookFactory(organization=other_org_world["member"].organization)
    foreign_play = PlayFactory(playbook=foreign_playbook)
    foreign_question = PlayQuestionFactory(play=foreign_play)
    client = api_client(ops)

    responses = [
        client.get(f"/api/playbooks/{foreign_playbook.id}/"),
        client.patch(f"/api/playbooks/{foreign_playbook.id}/", {"name": "Mine"}, format="json"),
        client.get(f"/api/playbooks/{foreign_playbook.id}/plays/"),
        client.get(f"/api/plays/{foreign_play.id}/"),
        client.patch(f"/api/plays/{foreign_play.id}/", {"version": 1, "name": "Mine"}, format="json"),
        client.delete(f"/api/plays/{foreign_play.id}/"),
        client.post(f"/api/plays/{foreign_play.id}/deactivate/"),
        client.get(f"/api/play-questions/{foreign_question.id}/"),
        client.delete(f"/api/play-questions/{foreign_question.id}/"),
    ]

    assert [r.status_code for r in responses] == [404] * len(responses)
    assert client.get("/api/playbooks/").json()["results"] == []
    foreign_play.refresh_from_db()
    assert (foreign_play.active, foreign_play.version) == (True, 1)
    assert PlayQuestion.objects.filter(pk=foreign_question.pk).exists()


# ---------------------------------------------------------------------------------------------------
# Questions, resources, steps


def test_questions_are_added_edited_reordered_and_deleted(api_client, ops, play):
    client = api_client(ops)
    url = f"/api/plays/{play.id}/questions/"

    first = client.post(url, {"text": "Who signs?"}, format="json").json()
    second = client.post(url, {"text": "By when?"}, format="json").json()
    edited = client.patch(f"/api/play-questions/{first['id']}/", {"text": "Who signs off?"}, format="json")
    ordered = client.post(f"{url}order/", {"ids": [second["id"], first["id"]]}, format="json")

    assert (first["order"], second["order"]) == (1, 2)
    assert edited.status_code == 200 and edited.json()["text"] == "Who signs off?"
    assert ordered.status_code == 200
    assert [q["text"] for q in ordered.json()] == ["By when?", "Who signs off?"]
    assert [q["id"] for q in client.get(url).json()] == [second["id"], first["id"]]
    assert client.delete(f"/api/play-questions/{first['id']}/").status_code == 204
    assert list(PlayQuestion.objects.values_list("text", flat=True)) == ["By when?"]


def test_a_reorder_that_does_not_list_every_question_is_400(api_client, ops, play):
    a = play_question_add(play=play, by=ops, text="A?")
    b = play_question_add(play=play, by=ops, text="B?")

    response = api_client(ops).post(f"/api/plays/{play.id}/questions/order/", {"ids": [b.id]}, format="json")

    assert response.status_code == 400
    assert response.json() == {"ids": ["List every one of them exactly once."]}
    assert list(PlayQuestion.objects.order_by("order").values_list("id", flat=True)) == [a.id, b.id]


def test_a_question_another_playbook_owns_cannot_be_reordered_in(api_client, ops, playbook, play):
    other = play_create(playbook=playbook, by=ops, name="Other", condition=BIG)
    mine = play_question_add(play=play, by=ops, text="Mine?")
    theirs = play_question_add(play=other, by=ops, text="Theirs?")

    response = api_client(ops).post(
        f"/api/plays/{play.id}/questions/order/", {"ids": [theirs.id, mine.id]}, format="json"
    )

    assert response.status_code == 400
    assert PlayQuestion.objects.get(pk=theirs.pk).order == 1


def test_an_answered_question_is_not_deleted(api_client, ops, rep, play, deal):
    question = play_question_add(play=play, by=ops, text="Who signs?")
    deal_plays_evaluate(deal_id=deal.id)
    play_answer_set(deal=deal, question=question, text="The CFO", by=rep)

    response = api_client(ops).delete(f"/api/play-questions/{question.id}/")

    assert response.status_code == 400 and "reword it instead" in response.json()["non_field_errors"][0]
    assert PlayAnswer.objects.get().question_id == question.id


def test_a_link_resource_is_added_and_deleted(api_client, ops, play):
    client = api_client(ops)

    created = client.post(
        f"/api/plays/{play.id}/resources/",
        {"title": "Case study", "url": "https://example.com/case"},
        format="json",
    )

    assert created.status_code == 201, created.json()
    assert {k: created.json()[k] for k in ("title", "kind", "url", "file_url")} == {
        "title": "Case study",
        "kind": "link",
        "url": "https://example.com/case",
        "file_url": None,
    }
    assert client.delete(f"/api/play-resources/{created.json()['id']}/").status_code == 204
    assert not PlayResource.objects.exists()


def test_a_file_resource_is_uploaded_and_downloaded_by_members_only(
    api_client, ops, rep, play, settings, tmp_path, other_org_world
):
    settings.MEDIA_ROOT = tmp_path
    upload = SimpleUploadedFile("card.pdf", b"%PDF-1.4 card", content_type="application/pdf")

    created = api_client(ops).post(
        f"/api/plays/{play.id}/resources/", {"title": "Battle card", "file": upload}, format="multipart"
    )

    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["kind"], body["url"], body["file_name"]) == ("file", "", "card.pdf")
    downloaded = api_client(rep).get(body["file_url"])
    assert downloaded.status_code == 200
    assert b"".join(downloaded.streaming_content) == b"%PDF-1.4 card"
    assert downloaded["Content-Disposition"].startswith("attachment")
    assert api_client(other_org_world["member"]).get(body["file_url"]).status_code == 404


@pytest.mark.parametrize(
    "body, errors",
    [
        ({"title": "Card"}, {"non_field_errors": ["Give a link or a file."]}),
        (
            {"title": "Card", "url": "ftp://example.com/x"},
            {"url": ["Enter a web address starting with http:// or https://."]},
        ),
        ({"url": "https://example.com"}, {"title": ["This field is required."]}),
    ],
)
def test_bad_resources_are_400_and_nothing_is_written(api_client, ops, play, body, errors):
    response = api_client(ops).post(f"/api/plays/{play.id}/resources/", body, format="json")

    assert response.status_code == 400 and response.json() == errors
    assert not PlayResource.objects.exists()


def test_steps_are_added_edited_reordered_and_deleted(api_client, ops, play, stages):
    client = api_client(ops)
    url = f"/api/plays/{play.id}/steps/"

    first = client.post(url, {"title": "Map the committee"}, format="json")
    second = client.post(url, {"title": "Send the ROI model", "stage": stages[1].id}, format="json").json()
    first = first.json()
    edited = client.patch(
        f"/api/play-steps/{first['id']}/", {"description": "Names and roles"}, format="json"
    )
    ordered = client.post(f"{url}order/", {"ids": [second["id"], first["id"]]}, format="json")

    assert second["stage"] == stages[1].id and second["order"] == 2
    assert edited.status_code == 200 and edited.json()["description"] == "Names and roles"
    assert [s["id"] for s in ordered.json()] == [second["id"], first["id"]]
    assert client.delete(f"/api/play-steps/{second['id']}/").status_code == 204
    assert list(PlayStep.objects.values_list("title", flat=True)) == ["Map the committee"]


def test_a_step_edit_reaches_the_open_plan_lines(api_client, ops, play, deal):
    step = play_step_add(play=play, by=ops, title="Map the committee")
    deal_plays_evaluate(deal_id=deal.id)

    api_client(ops).patch(f"/api/play-steps/{step.id}/", {"title": "Map the buying committee"}, format="json")

    assert DealStep.objects.get(deal=deal, play_step=step).title == "Map the buying committee"


def test_a_step_stage_of_another_process_is_400(api_client, ops, play, other_org_world):
    response = api_client(ops).post(
        f"/api/plays/{play.id}/steps/",
        {"title": "Elsewhere", "stage": other_org_world["process"].stages.first().id},
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {"stage": ["Choose a stage of the playbook's process."]}
    assert not PlayStep.objects.exists()


# ---------------------------------------------------------------------------------------------------
# Query counts: the same for a few rows as for many.

# token + membership + the page of playbooks (owner, counts in one GROUP BY).
PLAYBOOK_LIST_QUERIES = 3
# token + membership + the playbook + the page of plays + the stages and owners their conditions name.
PLAY_LIST_QUERIES = 6
# token + membership + the play + its questions / resources / steps.
CONTENT_LIST_QUERIES = 4


@pytest.mark.parametrize("n", [1, 12])
def test_list_query_counts_do_not_grow_with_rows(
    api_client, django_assert_num_queries, org, rep, ops, process, stages, n
):
    for i in range(n):
        playbook = playbook_create(org=org, by=ops, name=f"Playbook {i}", process=process)
        play_create(
            playbook=playbook,
            by=ops,
            name="Stage play",
            condition={
                "all": [
                    {"field": "stage", "op": "eq", "value": stages[i % len(stages)].id},
                    {"field": "owner", "op": "eq", "value": rep.user_id},
                ]
            },
        )
    playbook = Playbook.objects.order_by("id").first()
    for i in range(n - 1):
        play_create(
            playbook=playbook,
            by=ops,
            name=f"Play {i}",
            condition={"field": "stage", "op": "in", "value": [s.id for s in stages]},
        )
    play = playbook.plays.first()
    for i in range(n):
        play_question_add(play=play, by=ops, text=f"Question {i}?")
        play_resource_add(play=play, by=ops, title=f"Link {i}", url=f"https://example.com/{i}")
        play_step_add(play=play, by=ops, title=f"Step {i}")
    client = api_client(rep)

    with django_assert_num_queries(PLAYBOOK_LIST_QUERIES):
        playbooks = client.get("/api/playbooks/")
    with django_assert_num_queries(PLAY_LIST_QUERIES):
        plays = client.get(f"/api/playbooks/{playbook.id}/plays/")
    for kind in ("questions", "resources", "steps"):
        with django_assert_num_queries(CONTENT_LIST_QUERIES):
            rows = client.get(f"/api/plays/{play.id}/{kind}/")
        assert len(rows.json()) == n

    assert len(playbooks.json()["results"]) == n
    assert len(plays.json()["results"]) == n
    texts = [p["condition_text"] for p in plays.json()["results"]]
    assert f"stage is Qualify and owner is {rep.user.display_name}" in texts


def test_plays_page_with_a_cursor_through_equal_priorities(api_client, rep, ops, playbook):
    for i, priority in enumerate([0, 0, 0, 1, 2]):
        play_create(playbook=playbook, by=ops, name=f"Play {i}", condition=BIG, priority=priority)
    client = api_client(rep)

    names, url = [], f"/api/playbooks/{playbook.id}/plays/?page_size=2"
    while url:
        page = client.get(url).json()
        names += [p["name"] for p in page["results"]]
        url = page["next"]

    assert names == ["Play 4", "Play 3", "Play 0", "Play 1", "Play 2"]


def test_a_resource_whose_file_is_gone_is_404(api_client, ops, rep, play, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    resource = play_resource_add(play=play, by=ops, title="Card", file=SimpleUploadedFile("c.pdf", b"x"))
    (tmp_path / resource.file.name).unlink()

    response = api_client(rep).get(f"/api/play-resources/{resource.id}/file/")

    assert response.status_code == 404
