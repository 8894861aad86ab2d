"""The daily idle-deal digest: claim, then send, each person's email once per day."""

import uuid
from datetime import date, datetime

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.utils import timezone

from deals.models import DigestKind, DigestRun
from deals.selectors_digest import IdleDeal, StaleDealDigest, stale_deal_digests
from orgs.models import Organization


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# An email stays readable: the most idle deals of each list, then how many more there are.
MAX_LISTED = 25


def _deal_lines(deals: list[IdleDeal]) -> list[str]:
    lines = [
        f"- {d.name} · {d.account} · {d.stage} · {_plural(d.days_idle, 'day')} idle\n  {d.url}"
        for d in deals[:MAX_LISTED]
    ]
    if len(deals) > MAX_LISTED:
        lines.append(f"  … and {len(deals) - MAX_LISTED} more")
    return lines


def digest_message(digest: StaleDealDigest, *, org: Organization, stale_days: int) -> EmailMessage:
    """The plain-text email of one person's digest."""
    if digest.own and digest.team:
        summary = f"{_plural(len(digest.own), 'idle deal')} of yours and {len(digest.team)} in your team"
    elif digest.own:
        summary = f"{_plural(len(digest.own), 'idle deal')} of yours"
    else:
        summary = f"{_plural(len(digest.team), 'idle deal')} in your team"
    subject = f"[{org.name}] {summary}"
    lines = [
        f"Hello {digest.name},",
        "",
        f"These open deals in {org.name} have had no activity and no stage change for "
        f"{stale_days} days or more. A call, a meeting or a next step gets them moving again.",
    ]
    if digest.own:
        lines += ["", "Your deals", *_deal_lines(digest.own)]
    if digest.team:
        lines += ["", "Your team's deals"]
        by_owner: dict[int, list[IdleDeal]] = {}
        for d in digest.team:  # already ordered by owner, most idle first
            by_owner.setdefault(d.owner_id, []).append(d)
        for deals in by_owner.values():
            lines += [f"{deals[0].owner_name}:", *_deal_lines(deals)]
    lines += ["", f"Open the pipeline: {settings.SITE_URL}/", ""]
    return EmailMessage(subject=subject, body="\n".join(lines), to=[digest.email])


def stale_deal_digest_send(*, org: Organization, day: date, now: datetime | None = None) -> int:
    """Email the org's idle-deal digests for `day`; returns how many emails this call sent.

    Idempotent: each (person, day) is claimed with a DigestRun row before its email goes out, and only
    rows carrying this call's claim are sent, so a redelivered or concurrent task sends nothing twice.
    An email that fails releases its claim (and the ones not yet tried) and the error propagates, so a
    retry sends exactly those. A worker killed mid-send leaves its claims: at most once, never twice.
    A constant number of queries whatever the number of members and deals."""
    now = now or timezone.now()
    stale_days = settings.STALE_DEAL_DAYS
    digests = stale_deal_digests(org=org, now=now, stale_days=stale_days)
    if not digests:
        return 0
    claim = uuid.uuid4()
    DigestRun.objects.bulk_create(
        [
            DigestRun(
                organization=org,
                kind=DigestKind.STALE_DEALS,
                day=day,
                recipient_id=d.recipient_id,
                claim=claim,
                deal_count=d.deal_count,
                created_at=now,
            )
            for d in digests
        ],
        ignore_conflicts=True,
    )
    mine = set(
        DigestRun.objects.filter(
            organization=org, kind=DigestKind.STALE_DEALS, day=day, claim=claim
        ).values_list("recipient_id", flat=True)
    )
    to_send = [d for d in digests if d.recipient_id in mine]
    sent: list[int] = []
    try:
        # One connection for the whole run; slow I/O, outside any transaction.
        with get_connection() as connection:
            for digest in to_send:
                connection.send_messages([digest_message(digest, org=org, stale_days=stale_days)])
                sent.append(digest.recipient_id)
    finally:
        unsent = sorted(mine - set(sent))
        if unsent:
            DigestRun.objects.filter(claim=claim, recipient_id__in=unsent).delete()
        if sent:
            DigestRun.objects.filter(claim=claim, recipient_id__in=sent).update(sent_at=timezone.now())
    return len(sent)
