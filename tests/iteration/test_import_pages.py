"""The history import pages: upload → job (eager here) → the import's page with its counts or its
problems; the progress fragment polls while the job runs and stops when it has finished; ops and
admins only; another organization's import is a 404."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from deals.models import Deal
from iteration.history_import import history_import_start
from iteration.models import HistoryImport, JobStatus
from tests.iteration.test_history_import import (
    DEALS,
    DEALS_HEADER,
    HISTORY,
    HISTORY_HEADER,
    csv,
    history_with,
)


def upload(process, deals: bytes | None = None, history: bytes | None = None) -> dict:
    data = {"process": process.id}
    if deals is not False:
        data["deals"] = SimpleUploadedFile(
            "old-crm-deals.csv", csv(DEALS_HEADER, DEALS) if deals is None else deals
        )
    if history is not False:
        data["history"] = SimpleUploadedFile(
            "old-crm-history.csv", csv(HISTORY_HEADER, HISTORY) if history is None else history
        )
    return data


def queued(org, process, by, **files) -> HistoryImport:
    """An import that is queued and stays so (its task is only enqueued on commit, which tests skip)."""
    return history_import_start(
        organization=org,
        process=process,
        by=by,
        deals_file=files.get("deals", csv(DEALS_HEADER, DEALS)),
        history_file=files.get("history", csv(HISTORY_HEADER, HISTORY)),
        deals_filename="deals.csv",
        history_filename="history.csv",
    )


@pytest.fixture
def ops_client(client, ops):
    client.force_login(ops.user)
    return client


def test_the_upload_page_shows_the_form_and_an_empty_list(ops_client, process):
    response = ops_client.get(reverse("history_import_list"))

    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-testid="import-list-empty"' in body
    assert 'name="deals"' in body and 'name="history"' in body
    assert f'<option value="{process.id}">New business</option>' in body


def test_upload_runs_the_import_and_its_page_shows_the_counts(
    ops_client, org, process, rep, account, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = ops_client.post(reverse("history_import_create"), upload(process))

    job = HistoryImport.objects.get()
    assert response.status_code == 302 and response.url == reverse("history_import_detail", args=[job.id])
    # The import's task, then the metrics refresh the finished import queues.
    assert [c.func.__self__.name for c in callbacks] == [
        "iteration.tasks_imports.run_history_import",
        "iteration.tasks_metrics.refresh_metrics",
    ]
    assert Deal.objects.filter(organization=org).count() == 3

    page = ops_client.get(response.url)

    assert page.status_code == 200
    body = page.content.decode()
    assert 'data-testid="import-succeeded"' in body and "hx-trigger" not in body
    assert "old-crm-deals.csv" in body and "old-crm-history.csv" in body
    counts = dict(page.context["counts"])
    assert counts == {
        "Deals created": 3,
        "Deals updated": 0,
        "Deals unchanged": 0,
        "Stage entries written": 6,
        "Accounts created": 2,
        "Inactive members added": 1,
    }
    listing = ops_client.get(reverse("history_import_list")).content.decode()
    assert listing.count('data-testid="import-row"') == 1
    assert "3 created · 0 updated · 0 unchanged" in listing


def test_an_htmx_upload_is_sent_to_the_import_page(ops_client, process, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = ops_client.post(reverse("history_import_create"), upload(process), HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    assert response["HX-Redirect"] == reverse("history_import_detail", args=[HistoryImport.objects.get().id])


def test_a_missing_file_is_a_field_error_and_nothing_is_queued(ops_client, process):
    response = ops_client.post(
        reverse("history_import_create"), upload(process, history=False), HTTP_HX_REQUEST="true"
    )

    assert response.status_code == 422
    body = response.content.decode()
    assert 'id="upload-card"' in body and "Choose the stage history file." in body
    assert not HistoryImport.objects.exists()


def test_a_refused_import_lists_every_problem_with_file_line_and_column(
    ops_client, process, django_capture_on_commit_callbacks
):
    bad = history_with("D-3,Demo,2024-02-05T10:00:00Z", "D-9,Qualify,2024-02-05T10:00:00Z")
    with django_capture_on_commit_callbacks(execute=True):
        response = ops_client.post(reverse("history_import_create"), upload(process, history=bad))

    page = ops_client.get(response.url)

    body = page.content.decode()
    assert 'data-testid="import-failed"' in body and "Nothing was imported." in body
    assert body.count('data-testid="import-error"') == 2
    assert "old-crm-history.csv" in body and "Unknown stage &quot;Demo&quot;" in body
    assert '<td class="text-end font-monospace">8</td>' in body
    assert '<td class="font-monospace">stage</td>' in body
    assert '<td class="font-monospace">external_id</td>' in body
    assert Deal.objects.count() == 0


def test_the_progress_fragment_polls_while_running_and_stops_when_finished(org, process, ops, ops_client):
    job = queued(org, process, ops)
    HistoryImport.objects.filter(pk=job.pk).update(
        status=JobStatus.RUNNING, progress=42, phase="Reading the history file"
    )
    progress_url = reverse("history_import_progress", args=[job.id])

    page = ops_client.get(reverse("history_import_detail", args=[job.id])).content.decode()
    running = ops_client.get(progress_url, HTTP_HX_REQUEST="true")

    for body in (page, running.content.decode()):
        assert f'hx-get="{progress_url}" hx-trigger="every 1s"' in body
        assert 'aria-valuenow="42"' in body and "Reading the history file" in body
    assert "<html" not in running.content.decode()  # the fragment alone

    HistoryImport.objects.filter(pk=job.pk).update(
        status=JobStatus.SUCCEEDED, progress=100, result={"deals_created": 3, "history_rows": 6}
    )
    done = ops_client.get(progress_url, HTTP_HX_REQUEST="true").content.decode()

    assert "hx-trigger" not in done and 'data-testid="import-succeeded"' in done
    assert 'id="import-status"' in done


@pytest.mark.parametrize("who", ["rep", "manager"])
def test_reps_and_managers_are_refused(request, client, org, process, ops, who):
    job = queued(org, process, ops)
    member = request.getfixturevalue(who)
    client.force_login(member.user)

    responses = [
        client.get(reverse("history_import_list")),
        client.post(reverse("history_import_create"), upload(process)),
        client.get(reverse("history_import_detail", args=[job.id])),
        client.get(reverse("history_import_progress", args=[job.id])),
    ]

    assert [r.status_code for r in responses] == [403, 403, 403, 403]
    assert HistoryImport.objects.count() == 1


def test_admins_may_import(client, admin, process):
    client.force_login(admin.user)
    assert client.get(reverse("history_import_list")).status_code == 200


def test_another_orgs_import_is_a_404(client, admin, other_org_world):
    other = other_org_world
    job = queued(other["member"].organization, other["process"], other["member"])
    client.force_login(admin.user)

    for name in ("history_import_detail", "history_import_progress"):
        url = reverse(name, args=[job.id])
        assert client.get(url).status_code == 404
        assert client.post(url).status_code == 404


def test_another_orgs_process_cannot_be_chosen(ops_client, process, other_org_world):
    response = ops_client.post(reverse("history_import_create"), upload(other_org_world["process"]))

    assert response.status_code == 422
    assert "Choose one of your processes." in response.content.decode()
    assert not HistoryImport.objects.exists()


def test_the_list_page_query_count_does_not_grow_with_imports(
    ops_client, org, process, ops, django_assert_num_queries
):
    queued(org, process, ops)
    ops_client.get(reverse("history_import_list"))  # warm the session

    # 7 with the unread notifications badge (strategy: one COUNT on every page).
    with django_assert_num_queries(7) as first:
        ops_client.get(reverse("history_import_list"))
    for _ in range(5):
        queued(org, process, ops)
    with django_assert_num_queries(len(first.captured_queries)):
        response = ops_client.get(reverse("history_import_list"))

    assert response.content.decode().count('data-testid="import-row"') == 6
    # The stored files are never read for the pages.
    assert not any("deals_data" in q["sql"] for q in first.captured_queries)


def test_the_detail_page_does_not_read_the_stored_files(
    ops_client, org, process, ops, django_assert_max_num_queries
):
    job = queued(org, process, ops)

    # 6 with the unread notifications badge (strategy: one COUNT on every page).
    with django_assert_max_num_queries(6) as queries:
        ops_client.get(reverse("history_import_detail", args=[job.id]))

    assert not any("deals_data" in q["sql"] for q in queries.captured_queries)
