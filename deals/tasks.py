"""Celery tasks for deals: thin wrappers that load by id and call a service."""

import logging
import smtplib
from datetime import date

from celery import shared_task
from django.utils import timezone

from deals.services.digest import stale_deal_digest_send
from deals.services.rollups import rollup_rebuild
from orgs.models import Organization

logger = logging.getLogger(__name__)


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


@shared_task
def reconcile_rollups_all() -> int:
    """Nightly (beat): one rollup reconciliation per organization. Returns the org count."""
    org_ids = list(Organization.objects.order_by("id").values_list("id", flat=True))
    for org_id in org_ids:
        reconcile_org_rollups.delay_on_commit(org_id)
    return len(org_ids)


@shared_task
def reconcile_org_rollups(org_id: int) -> int:
    """Recompute one organization's board totals from its open deals (idempotent). A row that had to
    be corrected means some write went around the deal services: it is logged as a warning. Returns
    the number of rows corrected."""
    org = Organization.objects.filter(pk=org_id).first()
    if org is None:
        return 0
    drift = rollup_rebuild(org=org)
    for d in drift:
        logger.warning(
            "Rollup drift in %s: stage %s, owner %s, %s: stored %s, actual %s (corrected)",
            org.slug,
            d.stage_id,
            d.owner_id,
            d.currency,
            d.stored,
            d.actual,
        )
    return len(drift)
