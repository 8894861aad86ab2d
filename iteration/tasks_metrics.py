"""Celery tasks for metrics (thin wrappers: load by id, call a service)."""

__all__: list[str] = []
