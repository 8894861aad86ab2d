"""One deal: every play that applies to it, evaluated in Python after the deal changes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.db.models import (
    DateTimeField,
    Q,
    Value,
    prefetch_related_objects,
)
from django.db.models.functions import Greatest
from django.utils import timezone

from deals.lock_objects import deal_for_update
from deals.models import Deal, DealStatus, DealStep, StepSource
from playbooks.conditions import evaluate, explain
from playbooks.models import DealPlay, Play, PlayStep
from playbooks.triggering.conditions import play_conditions, with_labels


@dataclass
class DealPlaysResult:
    """What one evaluation of a deal changed."""

    deal_id: int
    attached: list[int] = field(default_factory=list)  # play ids
    detached: list[int] = field(default_factory=list)  # play ids
    steps_added: int = 0
    steps_removed: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.attached or self.detached or self.steps_added or self.steps_removed)


def _applicable_plays(deal: Deal) -> list[tuple[int, int, datetime]]:
    """(id, version, updated_at) of the active plays of active playbooks for the deal's process, in the order plays
    are shown (priority first). One query."""
    return list(
        Play.objects.filter(organization_id=deal.organization_id, active=True, playbook__active=True)
        .filter(Q(playbook__process__isnull=True) | Q(playbook__process_id=deal.process_id))
        .order_by("-priority", "name", "id")
        .values_list("id", "version", "updated_at")
    )


# The deal's relations the condition fields read: one query each, whatever the number of plays.
_FACTS = (
    ("tags", frozenset({"competitors", "objections"})),
    ("stakeholders", frozenset({"stakeholder_roles", "stakeholder_gaps"})),
    ("stage", frozenset({"phase"})),
)


def deal_plays_evaluate(*, deal_id: int, now: datetime | None = None) -> DealPlaysResult:
    """Evaluate every play that applies to the deal and bring its attachments and plan in line: newly
    matching plays attach and add their steps, plays that stop matching detach and take back their
    open steps, a closed deal keeps no play. Idempotent; a deal that no longer exists is no error.

    Holds the deal's row lock for the transaction, so two evaluations of one deal never interleave.
    Costs a fixed number of queries (at most 15) whatever the number of plays (on SQLite, whose limit
    on query parameters splits a bulk insert of many rows, one more per ~80 new plan steps)."""
    now = now or timezone.now()
    result = DealPlaysResult(deal_id=deal_id)
    with transaction.atomic():
        try:
            deal = deal_for_update(deal_id)
        except Deal.DoesNotExist:
            return result
        plays = _applicable_plays(deal) if deal.status == DealStatus.OPEN else []
        open_rows = dict(
            DealPlay.objects.filter(deal_id=deal_id, detached_at__isnull=True).values_list("play_id", "id")
        )
        conds = play_conditions(plays)
        # The deal's facts, loaded once for every play (evaluate() uses prefetched lists as they are).
        read = frozenset().union(*(c.fields for c in conds.values()))
        prefetch = [rel for rel, fields in _FACTS if read & fields]
        if prefetch:
            prefetch_related_objects([deal], *prefetch)
        matching = [pid for pid, cond in conds.items() if evaluate(cond, deal, now=now)]

        matched = set(matching)
        new = [pid for pid in matching if pid not in open_rows]
        gone = [pid for pid in open_rows if pid not in matched]
        if new:
            labelled = with_labels([conds[pid] for pid in new], deal.organization_id)
            DealPlay.objects.bulk_create(
                [
                    DealPlay(
                        organization_id=deal.organization_id,
                        deal_id=deal_id,
                        play_id=pid,
                        attached_at=now,
                        why=explain(cond, deal, now=now),
                    )
                    for pid, cond in zip(new, labelled, strict=True)
                ],
                ignore_conflicts=True,
            )
            result.attached = new
        if gone:
            DealPlay.objects.filter(pk__in=[open_rows[pid] for pid in gone]).update(
                detached_at=Greatest("attached_at", Value(now, output_field=DateTimeField()))
            )
            result.steps_removed, _ = DealStep.objects.filter(
                deal_id=deal_id, play_step__play_id__in=gone, completed_at__isnull=True
            ).delete()
            result.detached = gone
        if matching:
            result.steps_added = _add_missing_steps(deal, matching, now)
    return result


def _add_missing_steps(deal: Deal, play_ids: list[int], now: datetime) -> int:
    """Put the steps of the deal's matching plays that are not in its plan yet after the plan's last
    step, plays in display order, each play's steps in order. Two queries, three when adding: the
    deal's plan is read whole (a few dozen rows) rather than probed per step, which leaves the planner
    no way to a scan per step."""
    rank = {pid: i for i, pid in enumerate(play_ids)}
    steps = sorted(
        PlayStep.objects.filter(play_id__in=play_ids).values_list(
            "id", "play_id", "order", "title", "description", "stage_id"
        ),
        key=lambda s: (rank[s[1]], s[2], s[0]),
    )
    if not steps:
        return 0
    plan = list(DealStep.objects.filter(deal_id=deal.pk).order_by().values_list("play_step_id", "position"))
    present = {ps for ps, _ in plan if ps is not None}
    top = max((pos for _, pos in plan), default=-1)
    missing = [s for s in steps if s[0] not in present]
    if not missing:
        return 0
    DealStep.objects.bulk_create(
        [
            DealStep(
                organization_id=deal.organization_id,
                deal_id=deal.pk,
                title=title,
                description=description,
                source=StepSource.PLAY,
                stage_id=stage_id,
                play_step_id=step_id,
                position=top + 1 + i,
                created_at=now,
            )
            for i, (step_id, _, _, title, description, stage_id) in enumerate(missing)
        ],
        ignore_conflicts=True,
    )
    return len(missing)


def deal_plays_refresh_on_commit(deal_id: int) -> None:
    """Evaluate the deal's plays once the current transaction commits (at once outside one), in this
    process: the rep sees the play right after saving. A failure is logged, never raised: the deal
    write it follows has committed, and the next change evaluates again."""

    def refresh_deal_plays() -> None:
        deal_plays_evaluate(deal_id=deal_id)

    transaction.on_commit(refresh_deal_plays, robust=True)
