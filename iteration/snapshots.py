"""Metric snapshots: a run computes a process's metrics (overall and per process version) and replaces
the process's snapshot in one transaction, only once everything is computed.

- At most one run per process is queued or running (a partial unique constraint): a second request
  gets the active run back, so two runs never both write.
- A run is claimed with a conditional UPDATE (queued → running): a duplicated or redelivered task
  finds it claimed and does nothing.
- A run that fails (or is killed) leaves the previous snapshot as it was; a run still "running" after
  the task time limit is treated as abandoned and marked failed by the next request.
- A run that succeeded then refreshes the process's suggestions (iteration.suggestions).
"""

import logging
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from deals.models import StageChange
from iteration.metrics import MetricFilters, process_metrics
from iteration.models import ACTIVE_JOB_STATUSES, JobStatus, MetricRun, MetricSnapshot
from iteration.suggestions import suggestions_refresh
from orgs.models import Membership
from salesproc.lib.errors import NotAllowed
from salesproc.models import Process, ProcessVersion

logger = logging.getLogger(__name__)


def _abandon_stuck_runs(process: Process) -> None:
    limit = timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT * 2)
    MetricRun.objects.filter(process=process, status__in=ACTIVE_JOB_STATUSES, created_at__lt=limit).update(
        status=JobStatus.FAILED,
        error="Abandoned: the run did not finish within the task time limit.",
        finished_at=timezone.now(),
    )


def metric_run_request(*, process: Process, by: Membership | None) -> MetricRun:
    """Queue a refresh of the process's metrics, or return the one already queued or running.
    `by=None` is the nightly job; people need the ops or admin role."""
    if by is not None and not by.can_edit_process:
        raise NotAllowed("Only ops and admins refresh the metrics.")
    _abandon_stuck_runs(process)
    try:
        with transaction.atomic():
            run = MetricRun.objects.create(
                organization_id=process.organization_id,
                process=process,
                requested_by=by.user if by is not None else None,
            )
    except IntegrityError:
        active = MetricRun.objects.filter(process=process, status__in=ACTIVE_JOB_STATUSES).first()
        if active is not None:
            return active
        raise
    from iteration.tasks_metrics import refresh_metrics

    refresh_metrics.delay_on_commit(run.id)
    return run


def _versions_with_entries(process: Process) -> list[ProcessVersion]:
    ids = (
        StageChange.objects.filter(deal__process=process, process_version__isnull=False)
        .values("process_version_id")
        .distinct()
    )
    return list(ProcessVersion.objects.filter(process=process, id__in=ids).order_by("number"))


def metric_run_execute(run_id: int, *, compute: Callable = process_metrics) -> bool:
    """Run a queued MetricRun. Returns False when there was nothing to do (already claimed, or gone)."""
    claimed = MetricRun.objects.filter(pk=run_id, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING, started_at=timezone.now(), progress=1
    )
    if not claimed:
        return False
    run = MetricRun.objects.select_related("process").get(pk=run_id)
    process = run.process
    try:
        now = timezone.now()
        versions = _versions_with_entries(process)
        steps = len(versions) + 1
        overall = compute(process=process, now=now)
        MetricRun.objects.filter(pk=run.pk).update(progress=int(100 / steps * 1) if steps > 1 else 90)
        by_version = {}
        for i, version in enumerate(versions, start=2):
            by_version[str(version.number)] = compute(
                process=process, filters=MetricFilters(process_version=version), now=now
            )
            MetricRun.objects.filter(pk=run.pk).update(progress=min(95, int(100 / steps * i)))
        with transaction.atomic():
            MetricSnapshot.objects.update_or_create(
                process=process,
                defaults={
                    "organization_id": process.organization_id,
                    "run": run,
                    "computed_at": now,
                    "overall": overall,
                    "by_version": by_version,
                },
            )
            MetricRun.objects.filter(pk=run.pk).update(
                status=JobStatus.SUCCEEDED, progress=100, finished_at=timezone.now()
            )
    except Exception as exc:
        MetricRun.objects.filter(pk=run.pk).update(
            status=JobStatus.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000], finished_at=timezone.now()
        )
        raise
    # Fresh numbers, fresh suggestions. The snapshot stands on its own: a failure here is logged and
    # left to the nightly suggestions job rather than failing the run.
    try:
        suggestions_refresh(process=process, now=now)
    except Exception:
        logger.exception("Refreshing the suggestions of process %s failed", process.pk)
    return True


def metrics_refresh_now(*, process: Process, by: Membership | None) -> MetricSnapshot:
    """Compute synchronously (the compute_metrics command) through the same run and snapshot path."""
    if by is not None and not by.can_edit_process:
        raise NotAllowed("Only ops and admins refresh the metrics.")
    _abandon_stuck_runs(process)
    run = MetricRun.objects.create(
        organization_id=process.organization_id,
        process=process,
        requested_by=by.user if by is not None else None,
    )
    metric_run_execute(run.id)
    return MetricSnapshot.objects.get(process=process)


def metrics_refresh_all() -> int:
    """Nightly: queue a refresh of every active process. Returns how many were queued."""
    count = 0
    for process in Process.objects.filter(is_active=True).order_by("id"):
        metric_run_request(process=process, by=None)
        count += 1
    return count
