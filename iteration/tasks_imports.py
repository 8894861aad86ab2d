"""Celery tasks for imports (thin wrappers: load by id, call a service)."""

__all__: list[str] = []
