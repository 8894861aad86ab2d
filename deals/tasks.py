"""Celery tasks for deals: thin wrappers that load by id and call a service."""

import smtplib
from datetime import date

from celery import shared_task
from django.utils import timezone

from deals.services.digest import stale_deal_digest_send
from orgs.models import Organization


@shared_task
def send_stale_deal_digests(day: str | None = None) -> int:
    """Daily (beat): one digest task per organization, all for the same day. Returns the org count."""
    # The day is fixed here, so a per-org task that runs (or is redelivered) after midnight still
    # counts as the day it was meant for.
    day = day or timezone.localdate().isoformat()
    org_ids = list(Organization.objects.order_by("id").values_list("id", flat=True))
    for org_id in org_ids:
        send_org_stale_deal_digest.delay_on_commit(org_id, day)
    return len(org_ids)


@shared_task(
    autoretry_for=(smtplib.SMTPException, ConnectionError, TimeoutError),
    retry_backoff=60,
    retry_jitter=True,
    max_retries=5,
)
def send_org_stale_deal_digest(org_id: int, day: str | None = None) -> int:
    """Email one organization's idle-deal digests for `day` (ISO date; default today). Idempotent:
    a redelivered task sends nothing new. Returns the number of emails sent."""
    org = Organization.objects.filter(pk=org_id).first()
    if org is None:
        return 0
    return stale_deal_digest_send(org=org, day=date.fromisoformat(day) if day else timezone.localdate())
