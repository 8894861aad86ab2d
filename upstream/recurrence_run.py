"""The nightly recurring-steps job for one organization: read its custom steps, group them
(upstream.recurrence), measure each group (upstream.evidence) and bring its proposed recurrence
promotions in line with the groups.

- **Input**: the organization's custom steps (`DealStep.source == "custom"`) written in the last
  LOOKBACK_DAYS days, except steps already linked to an accepted promotion (their idea is upstream
  already).
- **Which promotion is a group**: a proposed (or recently dismissed) recurrence promotion is the group
  with its signature, or else the group holding at least OVERLAP_SHARE of the promotion's linked steps.
  So a promotion keeps its identity — and its signature — when new steps join and shift the group's
  most frequent words.
- **Per group**, largest first: a signature that was accepted is never proposed again; one dismissed
  within DISMISSED_QUIET_DAYS (by signature or by its steps) is left alone; a proposed promotion that is
  the group is refreshed (title, description, target, process, stage, condition, evidence, step links);
  otherwise a new proposed promotion is written (origin recurrence, signature = the group's).
- **At most MAX_OPEN_PROPOSALS open**: new groups beyond it (the smallest) wait (`skip_limit`).
- **Groups that fell apart**: a proposed recurrence promotion that is no group any more (its steps
  regrouped, dropped below MIN_DEALS, left the window or were deleted) is deleted, as iteration's
  suggestions are withdrawn: nobody decided on it, and the next run proposes it again if it comes back.
  A decided promotion is never touched.
- **Cost**: a fixed number of queries per organization (12 reads, then a few bulk statements), whatever the
  number of steps or deals; all writes in one transaction, touching only promotions still proposed
  (locked), so an accept or dismiss that lands during the run wins.
- **One run per organization at a time**: on PostgreSQL a session advisory lock per organization; a
  second run that finds it held returns at once with `skipped=True` (the nightly task and a manual
  `find_recurring_steps` cannot both write). SQLite serializes writers by itself and runs tasks eagerly.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from deals.models import Deal, DealStep, StepSource
from upstream.evidence import GroupEvidence, group_evidence, load_deal_facts, load_population, load_stages
from upstream.models import Promotion, PromotionOrigin, PromotionStatus, PromotionStep
from upstream.recurrence import KEY_TERMS, Group, StepText, find_groups

LOOKBACK_DAYS = 365
DISMISSED_QUIET_DAYS = 90
# A promotion is the group that holds at least this share of its linked steps.
OVERLAP_SHARE = 0.5
# At most this many recurrence proposals open at once: new groups are proposed, largest first, only up
# to it (the ones already proposed keep being refreshed). Ops review a short list; a smaller group gets
# its turn when a proposal is decided or falls apart.
MAX_OPEN_PROPOSALS = 50
# First key of the two-int advisory lock: this job's namespace (the second is the organization id).
LOCK_NAMESPACE = 0x5570  # "Up"


class Action:
    CREATE = "create"
    UPDATE = "update"
    SKIP_ACCEPTED = "skip_accepted"
    SKIP_DISMISSED = "skip_dismissed"
    SKIP_LIMIT = "skip_limit"


@dataclass
class PlannedGroup:
    """One group and what the run does (or, dry, would do) about it."""

    group: Group
    signature: str
    action: str
    promotion_id: int | None = None
    # For the skips: the promotion that decided it.
    decided_promotion_id: int | None = None
    measured: GroupEvidence | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "promotion_id": self.promotion_id,
            "decided_promotion_id": self.decided_promotion_id,
            "signature": self.signature,
            "title": self.group.title,
            "key_terms": list(self.group.key_terms()),
            "target": self.measured.target,
            "process_id": self.measured.process_id,
            "stage_id": self.measured.stage_id,
            "condition": self.measured.condition,
            "step_ids": self.group.step_ids,
            "evidence": self.measured.evidence,
        }


@dataclass
class RunResult:
    organization_id: int
    dry_run: bool = False
    # Another run of the same organization held the lock: nothing was read or written.
    skipped: bool = False
    steps: int = 0
    groups: list[PlannedGroup] = field(default_factory=list)
    created: int = 0
    updated: int = 0
    removed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "organization_id": self.organization_id,
            "dry_run": self.dry_run,
            "skipped": self.skipped,
            "steps": self.steps,
            "created": self.created,
            "updated": self.updated,
            "removed": self.removed,
            "groups": [g.as_dict() for g in self.groups],
        }


@contextlib.contextmanager
def organization_lock(organization_id: int):
    """Yields True when this run may go on: it holds the organization's advisory lock (PostgreSQL), or
    the database has no such locks. The lock is a session lock, released on exit (or when the
    connection dies with the worker)."""
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [LOCK_NAMESPACE, organization_id])
        acquired = cursor.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_NAMESPACE, organization_id])


def recurring_steps_refresh(*, organization, now: datetime | None = None, dry_run: bool = False) -> RunResult:
    """Find the organization's recurring custom steps and bring its proposed recurrence promotions in
    line with them (module docstring). With `dry_run` nothing is written and no lock is taken; the
    result says what would be done. Idempotent: a second run with the same data changes nothing but
    the evidence's `computed_at`."""
    now = now or timezone.now()
    if dry_run:
        return _run(organization, now, dry_run=True)
    with organization_lock(organization.id) as acquired:
        if not acquired:
            return RunResult(organization_id=organization.id, skipped=True)
        return _run(organization, now, dry_run=False)


def _run(organization, now: datetime, *, dry_run: bool) -> RunResult:
    since = now - timedelta(days=LOOKBACK_DAYS)
    accepted_steps = PromotionStep.objects.filter(
        organization=organization, promotion__status=PromotionStatus.ACCEPTED
    ).values("step_id")
    steps = DealStep.objects.filter(
        organization=organization, source=StepSource.CUSTOM, created_at__gte=since
    ).exclude(id__in=accepted_steps)
    rows = list(steps.values_list("id", "deal_id", "title", "created_at"))
    result = RunResult(organization_id=organization.id, dry_run=dry_run, steps=len(rows))
    groups = find_groups(StepText(id=i, deal_id=d, title=t) for i, d, t, _ in rows) if rows else []
    created_at = {i: (d, c) for i, d, _, c in rows}

    promotions = list(
        Promotion.objects.filter(organization=organization, origin=PromotionOrigin.RECURRENCE)
        .filter(
            Q(status__in=[PromotionStatus.PROPOSED, PromotionStatus.ACCEPTED])
            | Q(status=PromotionStatus.DISMISSED, decided_at__gte=now - timedelta(days=DISMISSED_QUIET_DAYS))
        )
        .values("id", "status", "signature")
    )
    # The steps of the proposed and recently dismissed ones: how a group is recognised by its steps.
    links: dict[int, set[int]] = {p["id"]: set() for p in promotions}
    link_ids: dict[tuple[int, int], int] = {}
    open_or_quiet = [p["id"] for p in promotions if p["status"] != PromotionStatus.ACCEPTED]
    if open_or_quiet:
        rows_of_links = PromotionStep.objects.filter(promotion_id__in=open_or_quiet).values_list(
            "id", "promotion_id", "step_id"
        )
        for link_id, promotion_id, step_id in rows_of_links:
            links[promotion_id].add(step_id)
            link_ids[(promotion_id, step_id)] = link_id

    planned = _plan(groups, promotions, links)
    if planned:
        deals = load_deal_facts(
            Deal.objects.filter(organization=organization, id__in=steps.values("deal_id"))
        )
        population = load_population(organization=organization, since=since)
        stages = load_stages(organization=organization)
    for item in planned:
        item.measured = group_evidence(
            titles=item.group.titles,
            steps=[created_at[s] for s in item.group.step_ids],
            deals=deals,
            population=population,
            stages=stages,
        )
        item.measured.evidence.update(
            key_terms=list(item.group.key_terms()), window_days=LOOKBACK_DAYS, computed_at=now.isoformat()
        )
    result.groups = planned
    matched = {p.promotion_id for p in planned if p.action == Action.UPDATE}
    stale = [
        p["id"] for p in promotions if p["status"] == PromotionStatus.PROPOSED and p["id"] not in matched
    ]
    result.created = sum(1 for p in planned if p.action == Action.CREATE)
    result.updated = len(matched)
    result.removed = len(stale)
    if not dry_run:
        _write(organization, planned, stale, links, link_ids, now)
    return result


def _plan(
    groups: list[Group], promotions: list[dict[str, Any]], links: dict[int, set[int]]
) -> list[PlannedGroup]:
    """Decide, group by group (largest first), which promotion each one is and what to do."""
    accepted = {p["signature"]: p["id"] for p in promotions if p["status"] == PromotionStatus.ACCEPTED}
    dismissed = [p for p in promotions if p["status"] == PromotionStatus.DISMISSED]
    proposed = [p for p in promotions if p["status"] == PromotionStatus.PROPOSED]
    taken_signatures = {p["signature"] for p in proposed}
    used: set[int] = set()
    planned: list[PlannedGroup] = []

    def holds(promotion: dict[str, Any], members: set[int]) -> bool:
        linked = links.get(promotion["id"], set())
        return bool(linked) and len(linked & members) >= OVERLAP_SHARE * len(linked)

    for group in groups:
        signature = group.signature()
        members = set(group.step_ids)
        item = PlannedGroup(group=group, signature=signature, action=Action.CREATE)
        if signature in accepted:
            item.action, item.decided_promotion_id = Action.SKIP_ACCEPTED, accepted[signature]
        elif quiet := next((p for p in dismissed if p["signature"] == signature or holds(p, members)), None):
            item.action, item.decided_promotion_id = Action.SKIP_DISMISSED, quiet["id"]
        else:
            same = next((p for p in proposed if p["id"] not in used and p["signature"] == signature), None)
            same = same or next((p for p in proposed if p["id"] not in used and holds(p, members)), None)
            if same is not None:
                used.add(same["id"])
                item.action, item.promotion_id, item.signature = Action.UPDATE, same["id"], same["signature"]
            else:
                # Two groups named by the same top words (or a proposal of another group holding that
                # signature): more words tell them apart.
                limit = KEY_TERMS
                while item.signature in taken_signatures and limit < len(group.term_counts):
                    limit += 1
                    item.signature = group.signature(limit)
                if item.signature in taken_signatures:
                    continue
        taken_signatures.add(item.signature)
        planned.append(item)
    room = MAX_OPEN_PROPOSALS - sum(1 for p in planned if p.action == Action.UPDATE)
    for item in planned:
        if item.action == Action.CREATE:
            if room <= 0:
                item.action = Action.SKIP_LIMIT
            room -= 1
    return planned


def _description(group: Group, deals: int) -> str:
    text = f"Written as a custom step on {deals} deals in the last {LOOKBACK_DAYS} days"
    others = [f"“{title}”" for title, _ in group.titles[1:4]]
    return f"{text}, also as {', '.join(others)}." if others else f"{text}."


def _fields(item: PlannedGroup) -> dict[str, Any]:
    m = item.measured
    return {
        "title": item.group.title[:200],
        "description": _description(item.group, m.evidence["deals"]),
        "target": m.target,
        "process_id": m.process_id,
        "stage_id": m.stage_id,
        "condition": m.condition,
        "evidence": m.evidence,
    }


@transaction.atomic
def _write(
    organization,
    planned: list[PlannedGroup],
    stale: list[int],
    links: dict[int, set[int]],
    link_ids: dict[tuple[int, int], int],
    now: datetime,
) -> None:
    touched = [p.promotion_id for p in planned if p.action == Action.UPDATE] + stale
    # Only promotions still proposed: one accepted or dismissed since the read stays as decided.
    still_proposed = set(
        Promotion.objects.select_for_update()
        .filter(id__in=touched, status=PromotionStatus.PROPOSED)
        .values_list("id", flat=True)
    )
    if stale and still_proposed.intersection(stale):
        Promotion.objects.filter(id__in=[i for i in stale if i in still_proposed]).delete()
    new = [
        Promotion(
            organization=organization,
            origin=PromotionOrigin.RECURRENCE,
            status=PromotionStatus.PROPOSED,
            signature=item.signature,
            created_at=now,
            updated_at=now,
            **_fields(item),
        )
        for item in planned
        if item.action == Action.CREATE
    ]
    Promotion.objects.bulk_create(new)
    for item, promotion in zip((p for p in planned if p.action == Action.CREATE), new, strict=True):
        item.promotion_id = promotion.id
    updates = []
    for item in planned:
        if item.action == Action.UPDATE and item.promotion_id in still_proposed:
            updates.append(Promotion(id=item.promotion_id, updated_at=now, **_fields(item)))
    if updates:
        Promotion.objects.bulk_update(
            updates,
            [
                "title",
                "description",
                "target",
                "process_id",
                "stage_id",
                "condition",
                "evidence",
                "updated_at",
            ],
        )
    departed: list[int] = []
    arriving: list[PromotionStep] = []
    for item in planned:
        if item.action == Action.CREATE or (
            item.action == Action.UPDATE and item.promotion_id in still_proposed
        ):
            had = links.get(item.promotion_id, set()) if item.action == Action.UPDATE else set()
            wanted = set(item.group.step_ids)
            departed += [link_ids[(item.promotion_id, s)] for s in had - wanted]
            arriving += [
                PromotionStep(organization=organization, promotion_id=item.promotion_id, step_id=s)
                for s in sorted(wanted - had)
            ]
    if departed:
        PromotionStep.objects.filter(id__in=departed).delete()
    if arriving:
        PromotionStep.objects.bulk_create(arriving)
