"""Celery tasks for stalls (thin wrappers: load by id, call a service)."""

__all__: list[str] = []
