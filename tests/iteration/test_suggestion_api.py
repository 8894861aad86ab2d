"""The suggestions API: reading by role, applying and dismissing through the services, errors by name."""

import pytest

from iteration.models import Suggestion, SuggestionStatus
from iteration.suggestions import suggestions_refresh
from tests.api.conftest import api_client  # noqa: F401
from tests.iteration.test_metrics import NOW, make_builder

pytestmark = pytest.mark.django_db


@pytest.fixture
def suggestion(org, process, account, rep):
    build = make_builder(org=org, process=process, account=account, owner=rep)
    for i in range(30):  # Qualify expects 10 days; these deals stayed 20
        build([("Qualify", i * 0.1), ("Discover", i * 0.1 + 20)])
    suggestions_refresh(process=process, now=NOW)
    return Suggestion.objects.get(process=process)


def test_managers_read_the_open_suggestions(api_client, manager, process, suggestion):  # noqa: F811
    response = api_client(manager).get(f"/api/processes/{process.id}/suggestions/")

    assert response.status_code == 200
    [row] = response.json()
    assert (row["id"], row["kind"], row["change"]) == (suggestion.id, "expected_days", {"expected_days": 20})
    assert row["evidence"]["left"] == 30 and row["status"] == "open"


def test_reps_do_not_read_suggestions(api_client, rep, process, suggestion):  # noqa: F811
    assert api_client(rep).get(f"/api/processes/{process.id}/suggestions/").status_code == 403
    assert api_client(rep).get(f"/api/suggestions/{suggestion.id}/").status_code == 403


def test_a_bad_status_is_named(api_client, manager, process, suggestion):  # noqa: F811
    response = api_client(manager).get(f"/api/processes/{process.id}/suggestions/?status=maybe")

    assert response.status_code == 400 and "status" in response.json()


def test_ops_apply_and_get_the_new_version(api_client, ops, process, suggestion):  # noqa: F811
    before = process.versions.count()

    response = api_client(ops).post(f"/api/suggestions/{suggestion.id}/apply/")

    assert response.status_code == 200
    body = response.json()
    assert body["suggestion"]["status"] == "applied"
    assert body["version"]["number"] == before + 1 == body["suggestion"]["applied_version"]
    assert body["version"]["note"].startswith(f"Suggestion #{suggestion.id}:")
    assert process.stages.get(name="Qualify").expected_days == 20


def test_managers_cannot_apply(api_client, manager, process, suggestion):  # noqa: F811
    response = api_client(manager).post(f"/api/suggestions/{suggestion.id}/apply/")

    assert response.status_code == 403
    suggestion.refresh_from_db()
    assert suggestion.status == SuggestionStatus.OPEN
    assert process.stages.get(name="Qualify").expected_days == 10


def test_applying_twice_is_a_clear_400(api_client, ops, suggestion):  # noqa: F811
    client = api_client(ops)
    client.post(f"/api/suggestions/{suggestion.id}/apply/")

    response = client.post(f"/api/suggestions/{suggestion.id}/apply/")

    assert response.status_code == 400
    assert response.json() == {"non_field_errors": ["This suggestion was already applied."]}


def test_dismiss_needs_a_reason(api_client, ops, suggestion):  # noqa: F811
    client = api_client(ops)

    missing = client.post(f"/api/suggestions/{suggestion.id}/dismiss/", {}, format="json")
    suggestion.refresh_from_db()
    assert missing.status_code == 400 and "reason" in missing.json()
    assert suggestion.status == SuggestionStatus.OPEN

    done = client.post(f"/api/suggestions/{suggestion.id}/dismiss/", {"reason": "Seasonal"}, format="json")
    assert done.status_code == 200
    assert (done.json()["status"], done.json()["dismiss_reason"]) == ("dismissed", "Seasonal")


def test_refresh_is_for_ops(api_client, ops, manager, process, suggestion):  # noqa: F811
    assert api_client(manager).post(f"/api/processes/{process.id}/suggestions/refresh/").status_code == 403

    response = api_client(ops).post(f"/api/processes/{process.id}/suggestions/refresh/")

    assert response.status_code == 200
    # The entries are from early 2025: outside today's window, so the open suggestion is withdrawn.
    assert response.json() == {"created": 0, "updated": 0, "withdrawn": 1}
    assert not Suggestion.objects.filter(process=process).exists()


def test_another_organizations_suggestion_is_a_404(api_client, other_org, suggestion):  # noqa: F811
    from orgs.models import Role
    from tests.factories import MembershipFactory

    stranger = MembershipFactory(organization=other_org, role=Role.OPS)

    assert api_client(stranger).get(f"/api/suggestions/{suggestion.id}/").status_code == 404
    assert api_client(stranger).post(f"/api/suggestions/{suggestion.id}/apply/").status_code == 404
    suggestion.refresh_from_db()
    assert suggestion.status == SuggestionStatus.OPEN
