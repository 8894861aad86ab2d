"""The history import over the API: POST the two files → 202 and a status URL; GET it → status,
progress, problems or counts. Ops and admins only; another organization's process or import is a 404."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from deals.models import Deal
from iteration.models import HistoryImport
from tests.iteration.test_history_import import (
    DEALS,
    DEALS_HEADER,
    HISTORY,
    HISTORY_HEADER,
    csv,
    history_with,
)
from tests.iteration.test_import_pages import queued


def api(member) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=member.user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def files(deals: bytes | None = None, history: bytes | None = None) -> dict:
    return {
        "deals": SimpleUploadedFile("deals.csv", csv(DEALS_HEADER, DEALS) if deals is None else deals),
        "history": SimpleUploadedFile(
            "history.csv", csv(HISTORY_HEADER, HISTORY) if history is None else history
        ),
    }


def create_url(process) -> str:
    return f"/api/processes/{process.id}/history-imports/"


def test_post_queues_the_import_and_the_status_url_reports_its_counts(
    ops, org, process, rep, account, django_capture_on_commit_callbacks
):
    client = api(ops)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(create_url(process), files(), format="multipart")

    assert response.status_code == 202
    job = HistoryImport.objects.get()
    body = response.json()
    assert body["id"] == job.id
    assert body["status_url"] == f"http://testserver/api/history-imports/{job.id}/"
    assert response["Location"] == body["status_url"]

    status = client.get(body["status_url"])

    assert status.status_code == 200
    data = status.json()
    assert (data["status"], data["progress"], data["phase"], data["errors"]) == ("succeeded", 100, "Done", [])
    assert data["process"] == process.id and data["deals_filename"] == "deals.csv"
    assert data["result"] == {
        "deals_created": 3,
        "deals_updated": 0,
        "deals_unchanged": 0,
        "history_rows": 6,
        "members_created": 1,
        "users_created": 1,
        "accounts_created": 2,
    }
    assert data["errors_truncated"] is False and data["finished_at"]
    assert Deal.objects.filter(organization=org).count() == 3


def test_a_refused_import_reports_each_problem(ops, process, django_capture_on_commit_callbacks):
    client = api(ops)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            create_url(process),
            files(history=history_with("D-3,Demo,2024-02-05T10:00:00Z")),
            format="multipart",
        )

    data = client.get(response.json()["status_url"]).json()

    assert data["status"] == "failed" and data["result"] is None
    assert data["errors"] == [
        {
            "file": "history.csv",
            "line": 8,
            "column": "stage",
            "message": 'Unknown stage "Demo"; the stages are: Qualify, Discover, Propose, Negotiate.',
        }
    ]
    assert Deal.objects.count() == 0


def test_a_queued_import_has_no_result_yet(ops, org, process):
    job = queued(org, process, ops)

    data = api(ops).get(f"/api/history-imports/{job.id}/").json()

    assert (data["status"], data["progress"], data["result"], data["started_at"]) == ("queued", 0, None, None)


def test_both_files_are_required(ops, process):
    response = api(ops).post(create_url(process), {"deals": files()["deals"]}, format="multipart")

    assert response.status_code == 400
    assert "history" in response.json()
    assert not HistoryImport.objects.exists()


@pytest.mark.parametrize("who", ["rep", "manager"])
def test_reps_and_managers_are_refused(request, org, process, ops, who):
    job = queued(org, process, ops)
    client = api(request.getfixturevalue(who))

    post = client.post(create_url(process), files(), format="multipart")
    get = client.get(f"/api/history-imports/{job.id}/")

    assert (post.status_code, get.status_code) == (403, 403)
    assert post.json()["code"] == "not_allowed"
    assert HistoryImport.objects.count() == 1


def test_another_orgs_process_and_import_are_404(admin, other_org_world):
    other = other_org_world
    job = queued(other["member"].organization, other["process"], other["member"])
    client = api(admin)

    assert client.post(create_url(other["process"]), files(), format="multipart").status_code == 404
    assert client.get(f"/api/history-imports/{job.id}/").status_code == 404
    assert HistoryImport.objects.count() == 1


def test_the_schema_documents_the_endpoints(db):
    schema = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    assert "/api/processes/{process_id}/history-imports/" in schema["paths"]
    assert "/api/history-imports/{import_id}/" in schema["paths"]
