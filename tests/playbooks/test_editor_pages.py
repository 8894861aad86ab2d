"""The playbook editor pages: ops create playbooks and plays, build a condition row by row with a live
preview, save it (version-guarded, errors on the rows), and edit questions, resources and steps in
place. Reps and managers read the playbooks but do not edit; another organization's objects are 404."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from deals.services import deal_create
from playbooks.models import Play, Playbook, PlayEvaluationRun, PlayQuestion, PlayResource, PlayStep
from playbooks.services import play_create, playbook_create

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


@pytest.fixture
def playbook(org, ops, process):
    return playbook_create(org=org, by=ops, name="Competitive deals", process=process)


@pytest.fixture
def play(playbook, ops):
    return play_create(
        playbook=playbook,
        by=ops,
        name="Against Globex",
        condition={"all": [{"field": "competitors", "op": "contains", "value": "Globex"}]},
        active=False,
    )


def _builder_post(rows, **extra):
    """Form data of the builder: `rows` are (path, field, op, value) for rules or (path, kind) for groups."""
    data = {"node": []}
    for row in rows:
        data["node"].append(row[0])
        if len(row) == 2:
            data[f"{row[0]}:kind"] = row[1]
        else:
            data[f"{row[0]}:field"], data[f"{row[0]}:op"], data[f"{row[0]}:value"] = row[1:]
    data.update(extra)
    return data


def test_ops_create_a_playbook_and_a_play_that_starts_inactive(client, ops, process):
    client.force_login(ops.user)

    created = client.post(
        reverse("playbook_create"), {"name": "Healthcare", "process": process.id, "active": "on"}
    )
    playbook = Playbook.objects.get(name="Healthcare")
    assert created.status_code == 302 and created.url == reverse("playbook_detail", args=[playbook.id])

    response = client.post(reverse("play_create", args=[playbook.id]), {"name": "HIPAA questions"})

    play = Play.objects.get(playbook=playbook)
    assert response.status_code == 302 and response.url == reverse("play_edit", args=[play.id])
    assert play.name == "HIPAA questions" and play.active is False
    assert not PlayEvaluationRun.objects.filter(play=play).exists()


def test_a_duplicate_playbook_name_is_a_field_error_and_nothing_is_written(client, ops, playbook):
    client.force_login(ops.user)

    response = client.post(reverse("playbook_create"), {"name": "competitive DEALS"})

    assert response.status_code == 422
    assert "There is already a playbook named" in response.content.decode()
    assert Playbook.objects.count() == 1


def test_the_editor_shows_the_condition_as_rows(client, ops, play):
    client.force_login(ops.user)

    html = client.get(reverse("play_edit", args=[play.id])).content.decode()

    assert 'data-testid="condition-builder"' in html and html.count('data-testid="condition-rule"') == 1
    assert 'name="r.0:field"' in html and '<option value="competitors" selected>' in html
    assert 'name="r.0:value" value="Globex"' in html


def test_builder_actions_answer_with_the_new_rows(client, ops, play):
    client.force_login(ops.user)
    rows = [("r", "all"), ("r.0", "competitors", "contains", "Globex")]

    added = client.post(
        reverse("play_builder", args=[play.id]), _builder_post(rows, action="add_group:r"), headers=HTMX
    ).content.decode()

    assert (
        added.count('data-testid="condition-rule"') == 2 and added.count('data-testid="condition-group"') == 2
    )
    play.refresh_from_db()
    assert play.condition == {"all": [{"field": "competitors", "op": "contains", "value": "Globex"}]}


def test_the_preview_counts_the_open_deals_the_rows_match(client, ops, rep, process, account, play):
    for name, industry in (("A", "Healthcare"), ("B", "Healthcare"), ("C", "Retail")):
        deal_create(by=rep, process=process, name=name, account=account, amount="1000", industry=industry)
    client.force_login(ops.user)

    html = client.post(
        reverse("play_preview", args=[play.id]),
        _builder_post([("r", "all"), ("r.0", "industry", "eq", "healthcare")]),
        headers=HTMX,
    ).content.decode()

    assert "Matches 2 open deals now" in html and "industry is healthcare" in html


def test_a_bad_rule_is_marked_on_its_row_in_the_preview(client, ops, play):
    client.force_login(ops.user)

    html = client.post(
        reverse("play_preview", args=[play.id]),
        _builder_post([("r", "all"), ("r.0", "amount", "gt", "lots")]),
        headers=HTMX,
    ).content.decode()

    assert 'data-testid="preview-invalid"' in html


def _save_data(play, rows, **fields):
    data = _builder_post(rows)
    data.update(
        {"version": play.version, "name": play.name, "priority": 0, "talk_track": "", "description": ""}
    )
    data.update(fields)
    return data


def test_saving_stores_the_condition_and_rematches_the_play(client, ops, play):
    client.force_login(ops.user)
    rows = [("r", "any"), ("r.0", "competitors", "contains", "Globex"), ("r.1", "amount", "gte", "50000")]

    response = client.post(
        reverse("play_edit", args=[play.id]), _save_data(play, rows, talk_track="**Land** it")
    )

    assert response.status_code == 302
    play.refresh_from_db()
    assert play.condition == {
        "any": [
            {"field": "competitors", "op": "contains", "value": "Globex"},
            {"field": "amount", "op": "gte", "value": 50000},
        ]
    }
    assert play.talk_track == "**Land** it" and play.version == 2
    page = client.get(reverse("play_edit", args=[play.id])).content.decode()
    assert "<strong>Land</strong>" in page


def test_a_bad_condition_is_refused_on_its_row_and_nothing_is_written(client, ops, play):
    client.force_login(ops.user)
    rows = [("r", "all"), ("r.0", "industry", "eq", "Retail"), ("r.1", "amount", "gt", "lots")]

    response = client.post(reverse("play_edit", args=[play.id]), _save_data(play, rows, name="Renamed"))

    html = response.content.decode()
    assert response.status_code == 422
    assert "expected a number for field &quot;amount&quot;" in html
    # The rows come back as typed, not as stored.
    assert 'name="r.1:value" value="lots"' in html
    play.refresh_from_db()
    assert (play.name, play.version) == ("Against Globex", 1)


def test_a_stale_version_is_a_conflict_and_nothing_is_written(client, ops, play):
    client.force_login(ops.user)
    rows = [("r", "all"), ("r.0", "industry", "eq", "Retail")]
    client.post(reverse("play_edit", args=[play.id]), _save_data(play, rows, name="First"))

    response = client.post(reverse("play_edit", args=[play.id]), _save_data(play, rows, name="Second"))

    assert response.status_code == 409 and "changed by someone else" in response.content.decode()
    play.refresh_from_db()
    assert play.name == "First"


def test_activating_starts_a_rematch_shown_with_progress(client, ops, play):
    client.force_login(ops.user)

    client.post(reverse("play_active", args=[play.id]), {"active": "1"})

    play.refresh_from_db()
    run = PlayEvaluationRun.objects.filter(play=play).latest("id")
    assert play.active is True
    html = client.get(reverse("play_evaluation_status", args=[run.id]), headers=HTMX).content.decode()
    assert 'data-testid="evaluation-' in html


def test_questions_resources_and_steps_are_edited_in_place(client, ops, play):
    client.force_login(ops.user)

    q = client.post(reverse("play_question_add", args=[play.id]), {"text": "Who signs?"}, headers=HTMX)
    r = client.post(
        reverse("play_resource_add", args=[play.id]),
        {"title": "Battle card", "url": "https://wiki.example.test/globex"},
        headers=HTMX,
    )
    f = client.post(
        reverse("play_resource_add", args=[play.id]),
        {"title": "Pricing sheet", "file": SimpleUploadedFile("pricing.pdf", b"%PDF-1.4 data")},
        headers=HTMX,
    )
    s = client.post(reverse("play_step_add", args=[play.id]), {"title": "Send the battle card"}, headers=HTMX)

    assert [x.status_code for x in (q, r, f, s)] == [200, 200, 200, 200]
    assert "Who signs?" in q.content.decode() and "Battle card" in r.content.decode()
    assert "Send the battle card" in s.content.decode()
    assert PlayResource.objects.filter(play=play).count() == 2
    step = PlayStep.objects.get(play=play)

    removed = client.post(reverse("play_step_delete", args=[play.id, step.id]), headers=HTMX)
    assert removed.status_code == 200 and not PlayStep.objects.filter(play=play).exists()


def test_a_resource_needs_a_link_or_a_file_and_nothing_is_written(client, ops, play):
    client.force_login(ops.user)

    response = client.post(reverse("play_resource_add", args=[play.id]), {"title": "Empty"}, headers=HTMX)

    assert response.status_code == 422 and "Give a link or a file" in response.content.decode()
    assert not PlayResource.objects.filter(play=play).exists()


def test_reps_and_managers_read_the_playbooks_but_do_not_edit(client, rep, manager, playbook, play):
    for member in (rep, manager):
        client.force_login(member.user)
        assert client.get(reverse("playbook_list")).status_code == 200
        assert client.get(reverse("playbook_detail", args=[playbook.id])).status_code == 200
        assert client.get(reverse("play_edit", args=[play.id])).status_code == 403
        refused = client.post(reverse("play_question_add", args=[play.id]), {"text": "Sneaky?"}, headers=HTMX)
        assert refused.status_code == 403
    assert not PlayQuestion.objects.filter(play=play).exists()


def test_another_organizations_play_is_a_404(client, other_org_world, play):
    client.force_login(other_org_world["member"].user)

    assert client.get(reverse("play_edit", args=[play.id])).status_code == 404
    assert client.post(reverse("play_active", args=[play.id]), {"active": "1"}).status_code == 404
    play.refresh_from_db()
    assert play.active is False


def test_the_editor_query_count_does_not_grow_with_content(client, ops, play, rep, process, account):
    client.force_login(ops.user)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    url = reverse("play_edit", args=[play.id])
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for i in range(5):
        PlayQuestion.objects.create(organization=play.organization, play=play, text=f"Q{i}?", order=i)
        PlayStep.objects.create(organization=play.organization, play=play, title=f"S{i}", order=i)
        deal_create(by=rep, process=process, name=f"D{i}", account=account, amount="10")
    with CaptureQueriesContext(connection) as many:
        client.get(url)

    assert len(many.captured_queries) == len(few.captured_queries)


def test_a_scorecard_rule_offers_the_results_to_choose_from(client, ops, play):
    client.force_login(ops.user)
    rows = [("r", "all"), ("r.0", "scorecard_result", "eq", "")]

    html = client.post(
        reverse("play_builder", args=[play.id]), _builder_post(rows, action="field:r.0"), headers=HTMX
    ).content.decode()

    assert '<option value="no_go">no-go</option>' in html and '<option value="go">go</option>' in html
