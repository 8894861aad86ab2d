"""The process over the API: read-only lists and details, and the JSON import for ops."""

import copy

from salesproc.models import Process, ProcessVersion
from tests.fixtures import SIMPLE_PROCESS


def test_process_list_shows_the_orgs_processes_only(api_client, rep, process, other_org_world):
    response = api_client(rep).get("/api/processes/")

    assert response.status_code == 200
    assert [p["id"] for p in response.json()["results"]] == [process.id]
    assert response.json()["results"][0]["current_version"] == 1


def test_process_detail_has_stages_in_order_with_their_criteria(api_client, rep, process, gates):
    response = api_client(rep).get(f"/api/processes/{process.id}/")

    assert response.status_code == 200
    body = response.json()
    assert [s["name"] for s in body["stages"]] == ["Qualify", "Discover", "Propose", "Negotiate"]
    assert [c["label"] for c in body["stages"][0]["criteria"]] == [
        "Budget known",
        "Pain stated",
        "Close date",
    ]
    pain = body["stages"][0]["criteria"][1]
    assert pain["kind"] == "answer" and pain["question"] == "What hurts today?"
    assert body["stages"][1]["criteria"] == []


def test_process_detail_of_another_org_is_404(api_client, rep, other_org_world):
    response = api_client(rep).get(f"/api/processes/{other_org_world['process'].id}/")

    assert response.status_code == 404


def test_processes_cannot_be_edited_through_the_api(api_client, ops, process):
    client = api_client(ops)

    assert client.patch(f"/api/processes/{process.id}/", {"name": "X"}, format="json").status_code == 405
    assert client.delete(f"/api/processes/{process.id}/").status_code == 405
    assert Process.objects.get(pk=process.pk).name == "New business"


def test_ops_imports_a_new_process(api_client, ops):
    data = copy.deepcopy(SIMPLE_PROCESS)
    data["name"] = "Renewals"
    data["stages"][0]["criteria"] = [{"kind": "answer", "label": "Why renew", "question": "Why?"}]

    response = api_client(ops).post("/api/processes/import/", data, format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["version"] == 1
    assert body["process"]["name"] == "Renewals"
    assert body["process"]["stages"][0]["criteria"][0]["question"] == "Why?"
    assert Process.objects.get(name="Renewals").organization == ops.organization


def test_importing_an_existing_process_updates_it_with_a_new_version(api_client, ops, process):
    data = copy.deepcopy(SIMPLE_PROCESS)
    data["stages"][1]["expected_days"] = 30

    response = api_client(ops).post("/api/processes/import/", data, format="json")

    assert response.status_code == 200
    assert response.json()["version"] == 2
    assert response.json()["changes"] == ["Discover: expected days 14 → 30"]
    assert response.json()["process"]["id"] == process.id


def test_an_invalid_process_file_is_400_with_the_error_paths(api_client, ops, process):
    data = copy.deepcopy(SIMPLE_PROCESS)
    data["stages"][2]["phase"] = "maybe"
    data["stages"][0]["probability"] = 300

    response = api_client(ops).post("/api/processes/import/", data, format="json")

    assert response.status_code == 400
    errors = response.json()["file"]
    assert any(e.startswith("stages[2].phase") for e in errors)
    assert any(e.startswith("stages[0].probability") for e in errors)
    assert ProcessVersion.objects.filter(process=process).count() == 1


def test_malformed_json_import_is_400(api_client, ops):
    response = api_client(ops).post(
        "/api/processes/import/", data='{"name": "Broken", ', content_type="application/json"
    )

    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]
    assert not Process.objects.filter(name="Broken").exists()


def test_reps_and_managers_cannot_import(api_client, rep, manager):
    data = dict(SIMPLE_PROCESS, name="Sneaky")

    for member in (rep, manager):
        response = api_client(member).post("/api/processes/import/", data, format="json")
        assert response.status_code == 403
        assert response.json()["code"] == "not_allowed"
    assert not Process.objects.filter(name="Sneaky").exists()
