"""Celery tasks for metric snapshots (thin wrappers: load by id, call a service)."""

from celery import shared_task

from iteration.snapshots import metric_run_execute, metrics_refresh_all

__all__: list[str] = ["refresh_all_metrics", "refresh_metrics"]


@shared_task
def refresh_metrics(run_id: int) -> bool:
    """Compute one queued MetricRun and replace its process's snapshot. Idempotent: a run already
    claimed (a duplicate or redelivered task) is left alone."""
    return metric_run_execute(run_id)


@shared_task
def refresh_all_metrics() -> int:
    """Nightly (beat): queue a refresh of every active process."""
    return metrics_refresh_all()
