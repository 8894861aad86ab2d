"""The process pages: list, create, import and export, and the editor with its version history."""

import json
import re
from datetime import datetime
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import get_resolver, reverse

from deals.services import deal_create
from salesproc.lib.errors import NotAllowed
from salesproc.models import ExitCriterion, Process, ProcessVersion, Stage
from salesproc.process_schema import dump_process_data
from salesproc.services import criterion_add, process_export, process_import, stage_add
from tests.fixtures import SIMPLE_PROCESS

HTMX = {"HX-Request": "true"}


def url(name, *args):
    return reverse(name, args=args)


def text(response) -> str:
    return unescape(response.content.decode())


def stage_names(process) -> list[str]:
    return list(Stage.objects.filter(process=process).order_by("order").values_list("name", flat=True))


def latest_version(process) -> ProcessVersion:
    return ProcessVersion.objects.filter(process=process).order_by("-number").first()


def snapshot(process) -> tuple:
    """Everything an edit could write: stages, criteria and versions."""
    return (
        list(Stage.objects.filter(process=process).order_by("id").values()),
        list(ExitCriterion.objects.filter(stage__process=process).order_by("id").values()),
        ProcessVersion.objects.filter(process=process).count(),
    )


# Who may edit


@pytest.mark.parametrize("who", ["rep", "manager"])
def test_reps_and_managers_get_403_and_write_nothing(client, request, who, process, stages):
    membership = request.getfixturevalue(who)
    crit = criterion_add(stage=stages[0], by=None, kind="step", label="Budget", importance="mandatory")
    client.force_login(membership.user)
    before = snapshot(process)
    p = process.id

    assert client.get(url("process_list")).status_code == 403
    assert client.get(url("process_detail", p)).status_code == 403
    assert client.get(url("process_export", p)).status_code == 403
    posts = [
        (url("process_create"), {"name": "Mine"}),
        (url("stage_add", p), {"name": "Sneaky", "phase": "change", "probability": "5"}),
        (url("stage_update", p, stages[0].id), {"name": "Renamed", "phase": "change", "probability": "5"}),
        (url("stage_move", p, stages[0].id), {"direction": "down"}),
        (url("stage_reorder", p), {"stage_ids": [s.id for s in reversed(stages)]}),
        (url("stage_delete", p, stages[3].id), {}),
        (url("criterion_add", p, stages[0].id), {"kind": "step", "label": "x", "importance": "optional"}),
        (url("criterion_update", p, crit.id), {"importance": "critical"}),
        (url("criterion_delete", p, crit.id), {}),
    ]
    for target, data in posts:
        assert client.post(target, data, headers=HTMX).status_code == 403, target
    assert snapshot(process) == before
    assert not Process.objects.filter(name="Mine").exists()


def test_the_services_refuse_a_rep_too(rep, process):
    with pytest.raises(NotAllowed):
        stage_add(process=process, by=rep, name="Sneaky")


def test_reps_do_not_see_the_process_nav_item_and_ops_do(client, rep, ops, process):
    client.force_login(rep.user)
    assert url("process_list") not in text(client.get(url("account_list")))
    client.force_login(ops.user)
    assert url("process_list") in text(client.get(url("account_list")))


def test_admins_edit_the_process_too(client, admin, process):
    client.force_login(admin.user)

    assert client.get(url("process_detail", process.id)).status_code == 200


# Another organization's ids


def _editor_patterns():
    """Every editor URL pattern with an id, and the kwargs it takes."""
    for pattern in get_resolver().url_patterns:
        for sub in getattr(pattern, "url_patterns", [pattern]):
            name = getattr(sub, "name", None)
            if name and str(sub.pattern).startswith("process/<int:"):
                yield name, list(sub.pattern.converters)


def test_every_editor_url_with_another_orgs_ids_is_404(client, ops, process, other_org_world):
    foreign = other_org_world["process"]
    foreign_stage = foreign.stages.first()
    foreign_crit = criterion_add(stage=foreign_stage, by=None, kind="step", label="X", importance="optional")
    ids = {"process_id": foreign.id, "stage_id": foreign_stage.id, "criterion_id": foreign_crit.id}
    client.force_login(ops.user)
    before = snapshot(foreign)

    # The process editor's own pages; pages of other apps under /process/ (the scorecard) take ids of
    # their own objects and are walked by tests/test_tenancy_urls.py.
    names = [(name, params) for name, params in _editor_patterns() if set(params) <= set(ids)]
    assert len(names) >= 9
    for name, params in names:
        target = reverse(name, kwargs={k: ids[k] for k in params})
        assert client.get(target).status_code == 404, target
        assert (
            client.post(target, {"name": "x", "importance": "critical"}, headers=HTMX).status_code == 404
        ), target
    assert snapshot(foreign) == before


def test_a_stage_of_another_process_of_the_org_is_404(client, ops, org, process, stages):
    other = Process.objects.create(organization=org, name="Renewals")
    client.force_login(ops.user)

    assert client.get(url("stage_update", other.id, stages[0].id)).status_code == 404
    assert client.post(url("stage_delete", other.id, stages[3].id)).status_code == 404
    assert stages[3].name in stage_names(process)


@pytest.mark.parametrize(
    "bad", ["/process/99999999999999999999999/", "/process/0/", "/process/1/stages/abc/edit/"]
)
def test_ids_that_are_not_ids_are_404(client, ops, process, bad):
    client.force_login(ops.user)

    assert client.get(bad).status_code == 404


# The process list


def test_process_list_shows_stage_counts_versions_and_open_deals(client, ops, process, deal, other_org_world):
    client.force_login(ops.user)

    page = text(client.get(url("process_list")))

    assert page.count('data-testid="process-row"') == 1
    row = re.search(r'data-testid="process-row".*?</tr>', page, re.S).group(0)
    assert "New business" in row
    assert '<td class="text-end" data-testid="stage-count">4</td>' in row
    assert '<td class="text-end">1</td>' in row  # open deals
    assert "v1" in row


def test_process_list_query_count_does_not_grow(client, ops, org, django_assert_num_queries):
    client.force_login(ops.user)
    client.get(url("process_list"))
    # session, user with memberships + processes with stage counts + open deals per process + the unread notifications badge (strategy: one COUNT on every page)
    with django_assert_num_queries(5):
        client.get(url("process_list"))
    for i in range(4):
        Process.objects.create(organization=org, name=f"P{i}")
    with django_assert_num_queries(5):
        client.get(url("process_list"))


def test_create_a_process_opens_it_in_the_editor(client, ops):
    client.force_login(ops.user)

    response = client.post(url("process_create"), {"name": "Expansion"}, headers=HTMX)

    process = Process.objects.get(name="Expansion")
    assert response.status_code == 200
    assert response["HX-Redirect"] == url("process_detail", process.id)
    assert stage_names(process) == ["Qualify"]


@pytest.mark.parametrize(
    ("name", "message"), [("", "A process needs a name."), ("New business", "already exists")]
)
def test_create_a_process_with_a_bad_name_is_a_field_message(client, ops, process, name, message):
    client.force_login(ops.user)

    response = client.post(url("process_create"), {"name": name}, headers=HTMX)

    assert response.status_code == 422
    assert message in text(response)
    assert Process.objects.count() == 1


def test_export_downloads_the_process_file(client, ops, process, stages):
    criterion_add(
        stage=stages[0], by=ops, kind="field", field_name="amount", label="Amount", importance="critical"
    )
    client.force_login(ops.user)

    response = client.get(url("process_export", process.id))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert 'filename="new-business.json"' in response["Content-Disposition"]
    assert response.content.decode() == dump_process_data(process_export(process=process))
    assert json.loads(response.content)["stages"][0]["criteria"][0]["field_name"] == "amount"


def _upload(data, name="process.json") -> SimpleUploadedFile:
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    return SimpleUploadedFile(name, body, content_type="application/json")


def test_import_a_bad_file_lists_the_errors_by_path_and_writes_nothing(client, ops, process):
    client.force_login(ops.user)
    bad = {
        "name": "New business",
        "stages": [
            {"name": "Qualify", "phase": "maybe", "probability": 10, "expected_days": 10},
            {"name": "Discover", "phase": "change", "probability": 150, "expected_days": 14},
            {
                "name": "Pitch",
                "phase": "decision",
                "probability": 50,
                "criteria": [{"kind": "field", "label": "x"}],
            },
        ],
    }
    before = snapshot(process)

    response = client.post(url("process_import"), {"file": _upload(bad)}, headers=HTMX)

    assert response.status_code == 422
    errors = re.findall(r'data-testid="import-error">(.*?)</li>', text(response))
    assert any(e.startswith("stages[0].phase:") for e in errors)
    assert any(e.startswith("stages[1].probability:") for e in errors)
    assert any(e.startswith("stages[2].criteria[0].field_name:") for e in errors)
    assert snapshot(process) == before
    assert Process.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "Not valid JSON"),
        (b"\xff\xfe\x00", "not UTF-8"),
        (b"[1, 2]", "(root): expected an object"),
        (b"", "The file is empty."),
    ],
)
def test_import_of_a_file_that_is_not_a_process_says_why(client, ops, body, message):
    client.force_login(ops.user)

    response = client.post(url("process_import"), {"file": _upload(body)}, headers=HTMX)

    assert response.status_code == 422
    assert message in text(response)
    assert not Process.objects.exists()


def test_import_without_a_file_says_so(client, ops):
    client.force_login(ops.user)

    response = client.post(url("process_import"), {}, headers=HTMX)

    assert response.status_code == 422
    assert "Choose a process file" in text(response)


def test_import_a_good_file_creates_the_process_and_opens_it(client, ops):
    client.force_login(ops.user)

    response = client.post(url("process_import"), {"file": _upload(SIMPLE_PROCESS, "nb.json")}, headers=HTMX)

    process = Process.objects.get(name="New business")
    assert response["HX-Redirect"] == url("process_detail", process.id)
    assert stage_names(process) == ["Qualify", "Discover", "Propose", "Negotiate"]
    assert latest_version(process).author == ops.user


def test_export_then_import_changes_nothing(client, ops, process):
    client.force_login(ops.user)
    exported = client.get(url("process_export", process.id)).content

    client.post(url("process_import"), {"file": _upload(exported)}, headers=HTMX)

    assert ProcessVersion.objects.filter(process=process).count() == 1
    assert client.get(url("process_export", process.id)).content == exported


# The editor page


def test_editor_shows_stages_criteria_and_history(client, ops, process, stages):
    criterion_add(
        stage=stages[1],
        by=ops,
        kind="stakeholder_role",
        role="champion",
        label="Champion",
        importance="critical",
    )
    client.force_login(ops.user)

    page = text(client.get(url("process_detail", process.id)))

    names = re.findall(r'data-testid="stage-name">(.*?)</h3>', page)
    assert names == ["Qualify", "Discover", "Propose", "Negotiate"]
    assert "Stakeholder: Champion" in page
    assert page.count('data-testid="version"') == 2
    assert 'Discover: added critical criterion "Champion"' in page
    assert "Sortable.min.js" in page


def test_history_shows_times_in_the_users_time_zone(client, ops, process):
    ops.user.time_zone = "America/New_York"
    ops.user.save()
    ProcessVersion.objects.filter(process=process).update(
        created_at=datetime(2026, 1, 15, 17, 30, tzinfo=ZoneInfo("UTC"))
    )
    client.force_login(ops.user)

    page = text(client.get(url("process_detail", process.id)))

    assert "Jan 15, 2026 12:30 EST" in page


def test_editor_query_count_does_not_grow_with_stages_and_versions(
    client, ops, process, stages, django_assert_num_queries
):
    client.force_login(ops.user)
    client.get(url("process_detail", process.id))
    # session, user with memberships + process + stages with counts + criteria + versions + the unread notifications badge (strategy: one COUNT on every page)
    with django_assert_num_queries(7):
        client.get(url("process_detail", process.id))
    for i in range(3):
        stage = stage_add(process=process, by=ops, name=f"Extra {i}")
        criterion_add(stage=stage, by=ops, kind="step", label="Do it", importance="optional")
    # + once the process has exit criteria, which of them came from promoted steps (upstream's
    # "Promoted from …": one query for the whole process, whatever the number of criteria)
    with django_assert_num_queries(8):
        client.get(url("process_detail", process.id))


# Stages


def test_ops_adds_a_stage_and_it_shows_in_the_list_and_the_history(client, ops, process):
    client.force_login(ops.user)

    response = client.post(
        url("stage_add", process.id),
        {
            "name": "Contract",
            "phase": "decision",
            "probability": "90",
            "expected_days": "7",
            "guidance": "Redlines.",
        },
        headers=HTMX,
    )

    assert response.status_code == 200
    stage = Stage.objects.get(process=process, name="Contract")
    assert (stage.order, stage.phase, stage.probability, stage.expected_days) == (5, "decision", 90, 7)
    version = latest_version(process)
    assert (version.number, version.author, version.changes) == (2, ops.user, ['Added stage "Contract"'])
    body = text(response)
    assert 'id="stage-add"' in body  # a fresh form in place
    assert 'id="stage-list"' in body and 'hx-swap-oob="true"' in body
    assert 'data-testid="stage-name">Contract</h3>' in body
    assert 'Added stage "Contract"' in body  # the history, out of band
    assert 'Added stage "Contract".' in body  # the confirmation
    assert re.search(r'Version 2</strong>\s*<span class="badge text-bg-primary">current', body)


def test_probability_defaults_when_left_blank(client, ops, process):
    client.force_login(ops.user)

    client.post(
        url("stage_add", process.id), {"name": "Later", "phase": "value", "probability": ""}, headers=HTMX
    )

    assert Stage.objects.get(process=process, name="Later").probability == 10


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"name": "", "phase": "change", "probability": "10"}, "name", "A stage needs a name."),
        ({"name": "   ", "phase": "change", "probability": "10"}, "name", "A stage needs a name."),
        ({"name": "discover", "phase": "change", "probability": "10"}, "name", "already has a stage named"),
        ({"name": "x" * 81, "phase": "change", "probability": "10"}, "name", "At most 80 characters."),
        ({"name": "X", "phase": "change", "probability": "abc"}, "probability", "Enter a whole number."),
        (
            {"name": "X", "phase": "change", "probability": "150"},
            "probability",
            "A whole number from 0 to 100.",
        ),
        (
            {"name": "X", "phase": "change", "probability": "-1"},
            "probability",
            "A whole number from 0 to 100.",
        ),
        ({"name": "X", "phase": "change", "probability": "1e99"}, "probability", "Enter a whole number."),
        (
            {"name": "X", "phase": "change", "probability": "10", "expected_days": "0"},
            "expected_days",
            "from 1 to 3650",
        ),
        ({"name": "X", "phase": "later", "probability": "10"}, "phase", "Select a valid choice."),
    ],
)
def test_add_stage_with_bad_input_is_a_field_message_and_writes_nothing(
    client, ops, process, data, field, message
):
    client.force_login(ops.user)
    before = snapshot(process)

    response = client.post(url("stage_add", process.id), data, headers=HTMX)

    assert response.status_code == 422
    body = text(response)
    assert message in body
    # The message sits under its field, and the field is marked invalid.
    assert re.search(
        rf'name="{field}"[^>]*class="[^"]*is-invalid|class="[^"]*is-invalid[^"]*"[^>]*name="{field}"', body
    )
    assert snapshot(process) == before


def test_edit_form_opens_in_place(client, ops, process, stages):
    client.force_login(ops.user)

    response = client.get(url("stage_update", process.id, stages[1].id), headers=HTMX)

    assert response.status_code == 200
    assert f'id="stage-{stages[1].id}"' in text(response)
    assert 'value="Discover"' in text(response)


def test_rename_and_edit_a_stage(client, ops, process, stages):
    client.force_login(ops.user)

    response = client.post(
        url("stage_update", process.id, stages[1].id),
        {"name": "Discovery", "phase": "change", "probability": "30", "expected_days": "14", "guidance": ""},
        headers=HTMX,
    )

    assert response.status_code == 200
    assert 'data-testid="stage-name">Discovery</h3>' in text(response)
    stages[1].refresh_from_db()
    assert (stages[1].name, stages[1].probability) == ("Discovery", 30)
    assert latest_version(process).changes == [
        'Renamed stage "Discover" to "Discovery"',
        "Discovery: probability 25 → 30",
    ]


def test_edit_stage_with_bad_input_re_renders_the_form_and_writes_nothing(client, ops, process, stages):
    client.force_login(ops.user)
    before = snapshot(process)

    response = client.post(
        url("stage_update", process.id, stages[1].id),
        {"name": "Qualify", "phase": "change", "probability": "101"},
        headers=HTMX,
    )

    assert response.status_code == 422
    body = text(response)
    assert 'already has a stage named "Qualify"' in body
    assert "A whole number from 0 to 100." in body
    assert f'hx-post="{url("stage_update", process.id, stages[1].id)}"' in body
    assert snapshot(process) == before


def test_move_a_stage_down_and_up(client, ops, process, stages):
    client.force_login(ops.user)

    response = client.post(url("stage_move", process.id, stages[0].id), {"direction": "down"}, headers=HTMX)

    assert response.status_code == 200
    assert stage_names(process) == ["Discover", "Qualify", "Propose", "Negotiate"]
    assert latest_version(process).changes == ["Reordered stages: Discover → Qualify → Propose → Negotiate"]
    assert re.findall(r'data-testid="stage-name">(.*?)</h3>', text(response)) == [
        "Discover",
        "Qualify",
        "Propose",
        "Negotiate",
    ]
    client.post(url("stage_move", process.id, stages[0].id), {"direction": "up"}, headers=HTMX)
    assert stage_names(process) == ["Qualify", "Discover", "Propose", "Negotiate"]


def test_move_with_a_bad_direction_writes_nothing(client, ops, process, stages):
    client.force_login(ops.user)
    before = snapshot(process)

    response = client.post(
        url("stage_move", process.id, stages[0].id), {"direction": "sideways"}, headers=HTMX
    )

    assert response.status_code == 422
    assert snapshot(process) == before


def test_drag_and_drop_posts_the_new_order(client, ops, process, stages):
    client.force_login(ops.user)
    new_order = [stages[2].id, stages[0].id, stages[1].id, stages[3].id]

    response = client.post(url("stage_reorder", process.id), {"stage_ids": new_order}, headers=HTMX)

    assert response.status_code == 200
    assert stage_names(process) == ["Propose", "Qualify", "Discover", "Negotiate"]
    assert latest_version(process).changes == ["Reordered stages: Propose → Qualify → Discover → Negotiate"]


@pytest.mark.parametrize("ids", ["missing", "duplicate", "foreign", "junk", "none"])
def test_reorder_with_a_wrong_list_shows_the_current_order_and_writes_nothing(
    client, ops, process, stages, other_org_world, ids
):
    client.force_login(ops.user)
    all_ids = [s.id for s in stages]
    data = {
        "missing": all_ids[:3],
        "duplicate": [*all_ids, all_ids[0]],
        "foreign": [*all_ids[:3], other_org_world["process"].stages.first().id],
        "junk": [*all_ids[:3], "abc"],
        "none": [],
    }[ids]
    before = snapshot(process)

    response = client.post(url("stage_reorder", process.id), {"stage_ids": data}, headers=HTMX)

    assert response.status_code == 422
    assert "current order" in text(response)
    assert 'id="stage-list"' in text(response)
    assert snapshot(process) == before


def test_delete_a_stage_without_deals(client, ops, process, stages):
    client.force_login(ops.user)

    response = client.post(url("stage_delete", process.id, stages[3].id), headers=HTMX)

    assert response.status_code == 200
    assert stage_names(process) == ["Qualify", "Discover", "Propose"]
    assert latest_version(process).changes == ['Removed stage "Negotiate"']
    assert "Negotiate" not in re.findall(r'data-testid="stage-name">(.*?)</h3>', text(response))


def test_delete_a_stage_with_deals_is_refused_with_a_message(client, ops, process, stages, deal):
    client.force_login(ops.user)
    before = snapshot(process)

    response = client.post(url("stage_delete", process.id, stages[0].id), headers=HTMX)

    assert response.status_code == 422
    assert "has deals or history" in text(response)
    assert response["HX-Retarget"] == f"#stage-{stages[0].id}"
    assert snapshot(process) == before


def test_delete_without_htmx_redirects_with_the_message(client, ops, process, stages, deal):
    client.force_login(ops.user)

    response = client.post(url("stage_delete", process.id, stages[0].id), follow=True)

    assert "has deals or history" in text(response)
    assert "Qualify" in stage_names(process)


def test_get_on_an_action_is_405_and_writes_nothing(client, ops, process, stages):
    client.force_login(ops.user)

    assert client.get(url("stage_delete", process.id, stages[3].id)).status_code == 405
    assert "Negotiate" in stage_names(process)


# Exit criteria


@pytest.mark.parametrize(
    ("data", "label", "detail"),
    [
        ({"kind": "step", "label": "Confirm budget owner"}, "Confirm budget owner", "Step to complete"),
        ({"kind": "field", "field_name": "amount"}, "Amount filled in", "Deal field: Amount"),
        (
            {"kind": "stakeholder_role", "role": "economic_buyer"},
            "Economic buyer on the deal",
            "Stakeholder: Economic buyer",
        ),
        (
            {"kind": "activity_kind", "activity_kind": "meeting"},
            "Meeting logged in this stage",
            "Activity logged: Meeting",
        ),
        (
            {"kind": "answer", "question": "What happens if they do nothing?"},
            "What happens if they do nothing?",
            "Question:",
        ),
        (
            {"kind": "field", "field_name": "budget", "label": "Budget known"},
            "Budget known",
            "Deal field: Budget",
        ),
    ],
)
def test_add_a_criterion_of_each_kind(client, ops, process, stages, data, label, detail):
    client.force_login(ops.user)

    response = client.post(
        url("criterion_add", process.id, stages[0].id), {**data, "importance": "mandatory"}, headers=HTMX
    )

    assert response.status_code == 200
    crit = ExitCriterion.objects.get(stage=stages[0])
    assert (crit.kind, crit.label, crit.importance) == (data["kind"], label, "mandatory")
    assert latest_version(process).changes == [f'Qualify: added mandatory criterion "{label}"']
    body = text(response)
    assert f'id="criteria-{stages[0].id}"' in body
    assert detail in body
    assert 'id="version-history" hx-swap-oob="true"' in body


def test_the_parameter_of_another_kind_is_not_stored(client, ops, process, stages):
    client.force_login(ops.user)

    client.post(
        url("criterion_add", process.id, stages[0].id),
        {"kind": "step", "label": "Call", "importance": "optional", "role": "champion", "question": "Why?"},
        headers=HTMX,
    )

    crit = ExitCriterion.objects.get(stage=stages[0])
    assert (crit.role, crit.question) == ("", "")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"kind": "step", "label": ""}, "A criterion needs a label."),
        ({"kind": "field", "field_name": ""}, "Required for this kind of criterion."),
        ({"kind": "field", "field_name": "salary"}, "Select a valid choice."),
        ({"kind": "stakeholder_role", "role": "king"}, "Select a valid choice."),
        ({"kind": "answer", "question": ""}, "Required for this kind of criterion."),
        ({"kind": "magic", "label": "x"}, "Select a valid choice."),
        ({"kind": "step", "label": "x", "importance": "vital"}, "Select a valid choice."),
        ({"kind": "step", "label": "y" * 201}, "At most 200 characters."),
    ],
)
def test_add_criterion_with_bad_input_is_a_field_message_and_writes_nothing(
    client, ops, process, stages, data, message
):
    client.force_login(ops.user)
    before = snapshot(process)

    response = client.post(
        url("criterion_add", process.id, stages[0].id), {"importance": "mandatory", **data}, headers=HTMX
    )

    assert response.status_code == 422
    body = text(response)
    assert message in body
    assert 'data-testid="field-error"' in body
    assert f'id="criterion-add-{stages[0].id}" class="collapse show"' in body
    assert snapshot(process) == before


def test_the_same_criterion_twice_is_a_field_message(client, ops, process, stages):
    criterion_add(stage=stages[0], by=ops, kind="step", label="Budget", importance="mandatory")
    client.force_login(ops.user)

    response = client.post(
        url("criterion_add", process.id, stages[0].id),
        {"kind": "step", "label": "budget", "importance": "optional"},
        headers=HTMX,
    )

    assert response.status_code == 422
    assert "already has that criterion" in text(response)
    assert ExitCriterion.objects.filter(stage=stages[0]).count() == 1


@pytest.mark.parametrize(
    ("kind", "input_name"),
    [
        ("field", "field_name"),
        ("stakeholder_role", "role"),
        ("activity_kind", "activity_kind"),
        ("answer", "question"),
    ],
)
def test_choosing_a_kind_shows_its_input(client, ops, process, stages, kind, input_name):
    client.force_login(ops.user)

    response = client.get(
        url("criterion_add", process.id, stages[0].id), {"kind": kind, "label": "Kept"}, headers=HTMX
    )

    body = text(response)
    assert response.status_code == 200
    assert f'name="{input_name}"' in body
    assert 'value="Kept"' in body
    assert sum(f'name="{n}"' in body for n in ("field_name", "role", "activity_kind", "question")) == 1


def test_change_a_criterions_importance(client, ops, process, stages):
    crit = criterion_add(stage=stages[1], by=ops, kind="step", label="Pain found", importance="mandatory")
    client.force_login(ops.user)

    response = client.post(
        url("criterion_update", process.id, crit.id), {"importance": "critical"}, headers=HTMX
    )

    assert response.status_code == 200
    crit.refresh_from_db()
    assert crit.importance == "critical"
    assert latest_version(process).changes == ['Discover: criterion "Pain found" mandatory → critical']
    assert '"Pain found" is now critical.' in text(response)


def test_a_bad_importance_writes_nothing(client, ops, process, stages):
    crit = criterion_add(stage=stages[1], by=ops, kind="step", label="Pain found", importance="mandatory")
    client.force_login(ops.user)
    before = snapshot(process)

    response = client.post(url("criterion_update", process.id, crit.id), {"importance": "huge"}, headers=HTMX)

    assert response.status_code == 422
    assert snapshot(process) == before


def test_delete_a_criterion(client, ops, process, stages):
    crit = criterion_add(stage=stages[1], by=ops, kind="step", label="Pain found", importance="mandatory")
    client.force_login(ops.user)

    response = client.post(url("criterion_delete", process.id, crit.id), headers=HTMX)

    assert response.status_code == 200
    assert not ExitCriterion.objects.filter(pk=crit.pk).exists()
    assert latest_version(process).changes == ['Discover: removed criterion "Pain found"']


def test_a_criterion_of_another_process_is_404(client, ops, org, process, stages):
    other, _ = process_import(org=org, data={**SIMPLE_PROCESS, "name": "Renewals"}, by=None)
    crit = criterion_add(stage=other.stages.first(), by=ops, kind="step", label="X", importance="optional")
    client.force_login(ops.user)

    assert client.post(url("criterion_delete", process.id, crit.id)).status_code == 404
    assert ExitCriterion.objects.filter(pk=crit.pk).exists()


# Without htmx the forms still work


def test_add_stage_without_htmx_redirects_back_with_a_message(client, ops, process):
    client.force_login(ops.user)

    response = client.post(
        url("stage_add", process.id), {"name": "Pilot", "phase": "decision", "probability": "60"}, follow=True
    )

    assert response.redirect_chain[-1][0] == url("process_detail", process.id)
    assert 'Added stage "Pilot".' in text(response)


def test_bad_input_without_htmx_renders_the_page_with_the_message(client, ops, process):
    client.force_login(ops.user)

    response = client.post(url("stage_add", process.id), {"name": "", "phase": "change", "probability": "10"})

    assert response.status_code == 422
    assert "A stage needs a name." in text(response)
    assert 'data-testid="version-history"' in text(response)


def test_a_deal_in_a_stage_shows_as_an_open_deal_and_blocks_removal(
    client, ops, rep, process, stages, account
):
    deal_create(by=rep, process=process, name="One", account=account)
    client.force_login(ops.user)

    page = text(client.get(url("process_detail", process.id)))

    card = re.search(rf'<li id="stage-{stages[0].id}".*?</li>', page, re.S).group(0)
    assert "1 open deal" in card
    assert 'disabled title="Deals are or were in this stage' in card


def test_a_kind_with_a_parameter_left_blank_asks_for_the_parameter_not_a_label(client, ops, process, stages):
    client.force_login(ops.user)

    response = client.post(
        url("criterion_add", process.id, stages[0].id),
        {"kind": "stakeholder_role", "role": "", "label": "", "importance": "mandatory"},
        headers=HTMX,
    )

    assert response.status_code == 422
    assert "Required for this kind of criterion." in text(response)
    assert "A criterion needs a label." not in text(response)
