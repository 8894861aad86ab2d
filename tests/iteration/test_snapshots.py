"""Metric snapshots: runs, atomic replacement, one active run per process, the command, the API and a
real worker."""

import json
import threading
import time
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connections
from django.urls import reverse
from django.utils import timezone

from deals.services import deal_create, deal_lose, deal_move, deal_win
from iteration.models import MetricRun, MetricSnapshot
from iteration.snapshots import metric_run_execute, metric_run_request, metrics_refresh_now
from iteration.tasks_metrics import refresh_metrics
from salesproc.lib.errors import NotAllowed
from salesproc.services import stage_update
from tests.api.conftest import api_client  # noqa: F401 (a fixture)
from tests.test_celery_worker import real_worker  # noqa: F401 (a fixture)


def _history(rep, process, stages, account):
    """Five deals: two won from the second stage, one lost in the first, two open; a process edit in
    between, so there are two versions with entries."""
    start = timezone.now() - timedelta(days=60)
    deals = [
        deal_create(by=rep, process=process, name=f"Deal {i}", account=account, amount="1000", at=start)
        for i in range(5)
    ]
    for deal in deals[:2]:
        deal = deal_move(
            deal=deal, to_stage=stages[1], by=rep, expected_version=deal.version, at=start + timedelta(days=5)
        )
        deal_win(deal=deal, by=rep, expected_version=deal.version, at=start + timedelta(days=9))
    deal_lose(
        deal=deals[2],
        by=rep,
        expected_version=deals[2].version,
        reason="No budget",
        at=start + timedelta(days=3),
    )
    stage_update(stage=stages[0], by=None, expected_days=12)
    deal_move(deal=deals[3], to_stage=stages[1], by=rep, expected_version=deals[3].version)
    return deals


@pytest.fixture
def history(rep, process, stages, account):
    return _history(rep, process, stages, account)


def test_a_requested_run_computes_and_stores_the_snapshot(
    ops, process, stages, history, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        run = metric_run_request(process=process, by=ops)  # eager in tests: runs on commit

    run.refresh_from_db()
    snapshot = MetricSnapshot.objects.get(process=process)
    assert run.status == "succeeded" and run.progress == 100
    assert snapshot.run_id == run.id
    first = snapshot.overall["stages"][0]
    assert first["stage_id"] == stages[0].id
    assert (first["entered"], first["advanced"], first["dropped"], first["open"]) == (5, 3, 1, 1)
    assert sorted(snapshot.by_version) == sorted(
        str(n)
        for n in process.versions.filter(number__gte=1).values_list("number", flat=True)
        if str(n) in snapshot.by_version
    )
    assert len(snapshot.by_version) == 2


def test_a_second_request_returns_the_active_run_instead_of_starting_another(ops, process):
    active = MetricRun.objects.create(organization=process.organization, process=process, status="running")

    again = metric_run_request(process=process, by=ops)

    assert again.id == active.id
    assert MetricRun.objects.filter(process=process).count() == 1
    assert not MetricSnapshot.objects.filter(process=process).exists()


def test_a_run_stuck_past_the_time_limit_no_longer_blocks(ops, process, settings):
    stuck = MetricRun.objects.create(
        organization=process.organization,
        process=process,
        status="running",
        created_at=timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT * 3),
    )

    run = metric_run_request(process=process, by=ops)

    stuck.refresh_from_db()
    assert stuck.status == "failed" and "Abandoned" in stuck.error
    assert run.id != stuck.id


def test_a_failure_half_way_leaves_the_previous_snapshot(ops, process, history):
    previous = metrics_refresh_now(process=process, by=ops)
    calls = []

    def failing_compute(**kwargs):
        calls.append(kwargs)
        if kwargs.get("filters") is not None:  # the per-version pass, after the overall numbers
            raise RuntimeError("database went away")
        return {"stages": [], "marker": "half-done"}

    run = MetricRun.objects.create(organization=process.organization, process=process)
    with pytest.raises(RuntimeError):
        metric_run_execute(run.id, compute=failing_compute)

    run.refresh_from_db()
    snapshot = MetricSnapshot.objects.get(process=process)
    assert len(calls) == 2
    assert run.status == "failed" and "database went away" in run.error
    assert snapshot.run_id == previous.run_id
    assert snapshot.overall == previous.overall
    assert "marker" not in snapshot.overall


def test_a_duplicate_task_for_a_finished_run_does_nothing(ops, process, history):
    snapshot = metrics_refresh_now(process=process, by=ops)

    assert refresh_metrics(snapshot.run_id) is False

    again = MetricSnapshot.objects.get(process=process)
    assert again.computed_at == snapshot.computed_at
    assert MetricRun.objects.filter(process=process).count() == 1


def test_a_rep_may_not_refresh_and_nothing_is_written(rep, process):
    with pytest.raises(NotAllowed):
        metric_run_request(process=process, by=rep)

    assert not MetricRun.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_executing_the_same_run_compute_it_once(rep, ops, process, stages, account):
    _history(rep, process, stages, account)
    run = MetricRun.objects.create(organization=process.organization, process=process)
    results, computed = [], []
    barrier = threading.Barrier(2)

    def compute(**kwargs):
        computed.append(1)
        time.sleep(0.2)
        from iteration.metrics import process_metrics

        return process_metrics(**kwargs)

    def work():
        try:
            barrier.wait()
            results.append(metric_run_execute(run.id, compute=compute))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(results) == [False, True]
    assert MetricSnapshot.objects.filter(process=process).count() == 1
    # One overall pass plus one per version with entries, by the one worker that claimed the run.
    assert len(computed) == 1 + len(MetricSnapshot.objects.get(process=process).by_version)


def test_compute_metrics_json_is_exactly_the_api_body(api_client, ops, process, history):
    out = StringIO()
    call_command(
        "compute_metrics",
        "--org",
        process.organization.slug,
        "--process",
        process.name,
        "--format",
        "json",
        stdout=out,
    )
    printed = json.loads(out.getvalue())

    response = api_client(ops).get(reverse("api:process_metrics", args=[process.id]))

    assert response.status_code == 200
    assert response.json() == printed
    assert set(printed) >= {"process", "computed_at", "stages"}
    stage = printed["stages"][0]
    assert set(stage) >= {
        "stage",
        "stage_id",
        "entered",
        "advanced",
        "dropped",
        "open",
        "conversion_rate",
        "conversion_ci",
        "win_rate",
        "days_in_stage",
        "stalled",
    }
    assert set(stage["days_in_stage"]) >= {"median", "p75", "p90", "km_median"}


def test_compute_metrics_table_and_bad_names(ops, process, history):
    out = StringIO()
    call_command("compute_metrics", "--org", process.organization.slug, stdout=out)
    assert process.name in out.getvalue() and "CONV" in out.getvalue()

    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match='No process named "Nope"'):
        call_command("compute_metrics", "--org", process.organization.slug, "--process", "Nope")
    with pytest.raises(CommandError, match='No organization with the slug "nope"'):
        call_command("compute_metrics", "--org", "nope")


def test_api_filters_compute_live_and_bad_values_are_400s(api_client, manager, process, stages, history):
    client = api_client(manager)
    url = reverse("api:process_metrics", args=[process.id])

    live = client.get(url, {"amount_min": "5000"})
    bad_date = client.get(url, {"from": "yesterday"})
    bad_range = client.get(url, {"amount_min": "10", "amount_max": "5"})
    unknown_team = client.get(url, {"team": "999999"})

    assert live.status_code == 200 and live.json()["stages"][0]["entered"] == 0
    assert bad_date.status_code == 400 and "from" in bad_date.json()
    assert bad_range.status_code == 400 and "amount_max" in bad_range.json()
    assert unknown_team.status_code == 400 and "team" in unknown_team.json()


def test_api_versions_refresh_and_runs(
    api_client, ops, rep, process, history, django_capture_on_commit_callbacks
):
    client = api_client(ops)
    with django_capture_on_commit_callbacks(execute=True):
        refresh = client.post(reverse("api:process_metrics_refresh", args=[process.id]))
    assert refresh.status_code == 202
    run = client.get(refresh.json()["status_url"])
    assert run.status_code == 200 and run.json()["status"] == "succeeded"

    version = process.versions.order_by("number").first()
    by_version = client.get(reverse("api:process_version_metrics", args=[process.id, version.id]))
    assert by_version.status_code == 200
    assert by_version.json() == MetricSnapshot.objects.get(process=process).by_version[str(version.number)]

    rep_client = api_client(rep)
    assert rep_client.get(reverse("api:process_metrics", args=[process.id])).status_code == 403
    assert rep_client.post(reverse("api:process_metrics_refresh", args=[process.id])).status_code == 403
    assert MetricRun.objects.filter(process=process).count() == 1


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_refresh_runs_on_a_real_worker(rep, ops, process, stages, account, real_worker):
    _history(rep, process, stages, account)

    run = metric_run_request(process=process, by=ops)  # through Redis to the worker thread

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.status in ("succeeded", "failed"):
            break
        time.sleep(0.1)
    assert run.status == "succeeded", run.error
    assert MetricSnapshot.objects.get(process=process).overall["stages"][0]["entered"] == 5
