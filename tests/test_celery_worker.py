"""A digest task through a real Celery worker on the real Redis broker (not eager)."""

import time
from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django.core import mail
from django.db import connections
from django.utils import timezone

from deals.models import DigestRun
from deals.services import deal_create
from deals.tasks import send_stale_deal_digests
from salesproc.celery import app as celery_app


def _close_worker_connections(**kwargs):
    # The worker thread opens its own database connections; close them after each task so the test
    # database can be flushed and dropped.
    connections.close_all()


@pytest.fixture
def real_worker():
    """An in-process worker thread consuming from the broker, with eager mode off meanwhile."""
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    task_postrun.connect(_close_worker_connections)
    try:
        with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=30) as worker:
            yield worker
    finally:
        task_postrun.disconnect(_close_worker_connections)
        celery_app.conf.task_always_eager = eager


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_the_daily_digest_runs_on_a_real_worker(rep, manager, process, account, real_worker):
    deal_create(
        by=rep,
        process=process,
        name="Globex rollout",
        account=account,
        amount="1000",
        at=timezone.now() - timedelta(days=30),
    )
    day = timezone.localdate().isoformat()

    send_stale_deal_digests.delay(day)  # through Redis: the fan-out, then the org's digest task

    deadline = time.monotonic() + 30
    while len(mail.outbox) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sorted(m.to[0] for m in mail.outbox) == ["manager@acme.test", "rep@acme.test"]
    assert all("Globex rollout" in m.body for m in mail.outbox)
    assert set(DigestRun.objects.values_list("recipient__email", "day")) == {
        ("rep@acme.test", timezone.localdate()),
        ("manager@acme.test", timezone.localdate()),
    }
