"""Celery tasks of the upstream app: thin wrappers around upstream.recurrence_run.

Nightly (beat "upstream-recurrence"), `find_recurring_steps_all` fans out one
`find_recurring_steps_org` per organization. A per-org task that finds another run of the same
organization holding its lock returns at once; a redelivered one recomputes the same groups and writes
nothing new."""

from celery import shared_task

from orgs.models import Organization
from upstream.recurrence_run import recurring_steps_refresh

__all__: list[str] = ["find_recurring_steps_all", "find_recurring_steps_org"]


@shared_task
def find_recurring_steps_all() -> int:
    """Nightly (beat): one recurring-steps run per organization. Returns the org count."""
    org_ids = list(Organization.objects.order_by("id").values_list("id", flat=True))
    for org_id in org_ids:
        find_recurring_steps_org.delay_on_commit(org_id)
    return len(org_ids)


@shared_task
def find_recurring_steps_org(org_id: int) -> dict:
    """Bring one organization's recurring-step promotions up to date; returns the counts (empty for an
    organization that no longer exists)."""
    org = Organization.objects.filter(pk=org_id).first()
    if org is None:
        return {}
    result = recurring_steps_refresh(organization=org)
    return {
        "skipped": result.skipped,
        "steps": result.steps,
        "groups": len(result.groups),
        "created": result.created,
        "updated": result.updated,
        "removed": result.removed,
    }
