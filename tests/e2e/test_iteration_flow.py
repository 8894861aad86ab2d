"""The iteration loop in a real browser, on a real Celery worker: ops imports a history file and watches
the import's progress bar until a worker picks the job up and finishes it; the finished import
recomputes the metrics and suggestions; ops opens the insights page, applies a suggestion and finds the
new process version in the process's history."""

import time
from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django.db import connections
from django.utils import timezone
from playwright.sync_api import expect

from iteration.models import MetricRun, Suggestion
from salesproc.celery import app as celery_app
from tests.e2e.conftest import login
from tests.fixtures import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

DEALS_HEADER = (
    "external_id,name,account,industry,owner_email,amount,currency,created_at,status,closed_at,"
    "lost_reason,competitors,objections"
)


def _files(owner_email: str) -> tuple[bytes, bytes]:
    """40 open deals that each spent 25 days in Qualify (which expects 10) before moving to Discover."""
    start = timezone.now() - timedelta(days=90)
    deals, history = [DEALS_HEADER], ["external_id,stage,entered_at"]
    for i in range(40):
        created = start + timedelta(hours=i * 6)
        deals.append(
            f"OLD-{i},Old deal {i},Account {i % 7},Software,{owner_email},{1000 + i},EUR,"
            f"{created.isoformat()},open,,,,"
        )
        history.append(f"OLD-{i},Qualify,{created.isoformat()}")
        history.append(f"OLD-{i},Discover,{(created + timedelta(days=25)).isoformat()}")
    return ("\n".join(deals) + "\n").encode(), ("\n".join(history) + "\n").encode()


def _close_connections(**kwargs):
    connections.close_all()


@pytest.fixture
def queued_tasks_wait():
    """Celery out of eager mode: tasks go to Redis and wait there until a worker is started."""
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    task_postrun.connect(_close_connections)
    yield
    task_postrun.disconnect(_close_connections)
    celery_app.conf.task_always_eager = eager


def _wait_for(predicate, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_ops_import_history_then_apply_a_suggestion(page, ops, rep, process, queued_tasks_wait):
    deals_csv, history_csv = _files(rep.user.email)
    login(page, ops.user.email, PASSWORD)

    page.goto("/history-imports/")
    page.get_by_label("Into the process").select_option(str(process.id))
    page.get_by_label("Deals (.csv)").set_input_files(
        {"name": "old-deals.csv", "mimeType": "text/csv", "buffer": deals_csv}
    )
    page.get_by_label("Stage history (.csv)").set_input_files(
        {"name": "old-history.csv", "mimeType": "text/csv", "buffer": history_csv}
    )
    page.get_by_role("button", name="Upload and import").click()

    # No worker yet: the job waits, and the page shows its progress bar, polling.
    progress = page.get_by_test_id("import-progress")
    expect(progress).to_be_visible()
    expect(progress.get_by_role("progressbar")).to_be_visible()

    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        # The poll swaps the bar for the outcome once the worker has run the import.
        expect(page.get_by_test_id("import-succeeded")).to_be_visible(timeout=30_000)
        expect(page.get_by_test_id("import-succeeded")).to_contain_text("40")
        # The finished import queued a metrics run on the same worker; it writes the suggestions.
        assert _wait_for(lambda: MetricRun.objects.filter(process=process, status="succeeded").exists()), (
            "the metrics run after the import did not finish"
        )

    suggestion = Suggestion.objects.get(process=process, kind="expected_days", status="open")
    assert suggestion.title == "Qualify: set expected days to 25"

    page.get_by_test_id("open-insights").click()
    expect(page.get_by_test_id("funnel-chart").locator("svg")).to_be_visible()
    expect(page.get_by_test_id("monthly-chart").locator("svg").first).to_be_visible()
    card = page.get_by_test_id("suggestion").filter(has_text="Qualify: set expected days to 25")
    expect(card).to_contain_text("40 deals left Qualify")
    card.get_by_test_id("apply-suggestion").click()

    message = page.get_by_test_id("suggestion-message")
    expect(message).to_contain_text("the process is now at version 2")
    message.get_by_role("link", name="Open the process").click()

    latest = page.get_by_test_id("version-history").get_by_test_id("version").first
    expect(latest).to_contain_text("Version 2")
    expect(latest).to_contain_text(f"Suggestion #{suggestion.id}: Qualify: set expected days to 25")
    assert process.stages.get(name="Qualify").expected_days == 25
