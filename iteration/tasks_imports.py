"""Celery tasks for imports (thin wrappers: load by id, call a service)."""

from celery import shared_task

from iteration.history_import import history_import_execute

__all__: list[str] = ["run_history_import"]


@shared_task
def run_history_import(import_id: int) -> str | None:
    """Run one queued history import. Idempotent: a redelivered task finds the import claimed or
    finished and does nothing. Returns the import's final status (None when there was nothing to do)."""
    job = history_import_execute(import_id=import_id)
    return job.status if job is not None else None
