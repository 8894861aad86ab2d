"""Celery tasks for suggestions (thin wrappers around iteration.suggestions)."""

from celery import shared_task

from iteration.suggestions import suggestions_refresh_all

__all__: list[str] = ["refresh_all_suggestions"]


@shared_task
def refresh_all_suggestions() -> int:
    """Nightly (beat): refresh the suggestions of every active process. Idempotent: a second run in a
    row refreshes the same suggestions and writes nothing new."""
    return suggestions_refresh_all()
