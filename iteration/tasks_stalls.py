"""Celery tasks for stalls (thin wrappers: load by id, call a service).

Hourly, `detect_stalls_all` fans out one `detect_org_stalls` per organization; daily,
`send_stall_digests` fans out one `send_org_stall_digest` per organization, all for the same day. Both
per-org tasks are idempotent: a redelivered refresh writes nothing new, a redelivered digest sends
nothing twice."""

import smtplib
from datetime import date

from celery import shared_task
from django.utils import timezone

from iteration.stall_digest import stall_digest_send
from iteration.stalls import stall_flags_refresh
from orgs.models import Organization

__all__: list[str] = [
    "detect_org_stalls",
    "detect_stalls_all",
    "send_org_stall_digest",
    "send_stall_digests",
]


@shared_task
def detect_stalls_all() -> int:
    """Hourly (beat): one stall refresh per organization. Returns the org count."""
    org_ids = list(Organization.objects.order_by("id").values_list("id", flat=True))
    for org_id in org_ids:
        detect_org_stalls.delay_on_commit(org_id)
    return len(org_ids)


@shared_task
def detect_org_stalls(org_id: int) -> dict:
    """Bring one organization's stall flags up to date; returns what changed."""
    org = Organization.objects.filter(pk=org_id).first()
    if org is None:
        return {}
    result = stall_flags_refresh(organization=org)
    return {
        "open_deals": result.open_deals,
        "flags": result.flags,
        "created": result.created,
        "updated": result.updated,
        "deleted": result.deleted,
    }


@shared_task
def send_stall_digests(day: str | None = None) -> int:
    """Daily (beat): one stall digest task per organization, all for the same day. Returns the org count."""
    # The day is fixed here, so a per-org task that runs (or is redelivered) after midnight still
    # counts as the day it was meant for.
    day = day or timezone.localdate().isoformat()
    org_ids = list(Organization.objects.order_by("id").values_list("id", flat=True))
    for org_id in org_ids:
        send_org_stall_digest.delay_on_commit(org_id, day)
    return len(org_ids)


@shared_task(
    autoretry_for=(smtplib.SMTPException, ConnectionError, TimeoutError),
    retry_backoff=60,
    retry_jitter=True,
    max_retries=5,
)
def send_org_stall_digest(org_id: int, day: str | None = None) -> int:
    """Email one organization's stall digests for `day` (ISO date; default today). Returns the number of
    emails sent; a redelivered task sends nothing new."""
    org = Organization.objects.filter(pk=org_id).first()
    if org is None:
        return 0
    return stall_digest_send(org=org, day=date.fromisoformat(day) if day else timezone.localdate())
