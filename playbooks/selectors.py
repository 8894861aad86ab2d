"""Reads of the playbooks pillar that need care: what a deal's attached plays carry, where a play is
attached, and what a condition would match before it is saved."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from deals.models import Deal, DealStatus
from orgs.models import Organization
from playbooks.conditions import parse, to_q
from playbooks.models import DealPlay, Play, PlayAnswer, PlayEvaluationRun, PlayQuestion
from salesproc.models import Process


def deal_plays_attached(*, deal: Deal) -> list[DealPlay]:
    """The plays attached to the deal now, highest priority first, each with its playbook, questions
    (each carrying `answer`: this deal's PlayAnswer or None), resources and steps loaded. Five queries,
    whatever the number of plays, questions or answers."""
    rows = list(
        DealPlay.objects.filter(deal_id=deal.pk, detached_at__isnull=True)
        .select_related("play__playbook")
        .prefetch_related(
            Prefetch("play__questions", queryset=PlayQuestion.objects.order_by("order", "id")),
            "play__resources",
            "play__steps",
        )
        .order_by("-play__priority", "play__name", "play_id")
    )
    question_ids = [q.pk for row in rows for q in row.play.questions.all()]
    answers = {}
    if question_ids:
        answers = {
            a.question_id: a
            for a in PlayAnswer.objects.filter(deal_id=deal.pk, question_id__in=question_ids).select_related(
                "answered_by"
            )
        }
    for row in rows:
        for question in row.play.questions.all():
            question.answer = answers.get(question.pk)
    return rows


def play_attachments(*, play: Play, attached: bool | None = True) -> QuerySet[DealPlay]:
    """Where the play is attached: now (`attached=True`, newest first), its history of detachments
    (`False`), or both (`None`); each row with its deal, the deal's stage and owner. A queryset: the
    caller slices or paginates it (a play may be attached to many thousands of deals)."""
    rows = DealPlay.objects.filter(play_id=play.pk).select_related("deal__stage", "deal__owner")
    if attached is True:
        rows = rows.filter(detached_at__isnull=True)
    elif attached is False:
        rows = rows.filter(detached_at__isnull=False)
    return rows.order_by("-attached_at", "-id")


def play_evaluation_latest(*, play: Play) -> PlayEvaluationRun | None:
    """The play's latest re-evaluation run, for the progress bar. One query."""
    return PlayEvaluationRun.objects.filter(play_id=play.pk).order_by("-created_at", "-id").first()


@dataclass(frozen=True)
class PlayPreview:
    """What a condition would match now: how many open deals, and a few of them."""

    count: int
    sample: list[Deal]
    description: str


def play_preview(
    *,
    org: Organization,
    condition,
    process: Process | None = None,
    sample: int = 10,
    now: datetime | None = None,
) -> PlayPreview:
    """The open deals of the organization (of `process`, when given) that `condition` matches, before a
    play is saved: one COUNT and one query for the sample (newest first), plus at most two to check the
    stage and owner ids the condition names. An invalid condition raises InvalidCondition (an
    InvalidInput with its problems under "condition")."""
    from playbooks.conditions import describe

    cond = parse(condition, organization=org)
    deals = Deal.objects.filter(organization=org, status=DealStatus.OPEN)
    if process is not None:
        deals = deals.filter(process_id=process.pk)
    deals = deals.filter(to_q(cond, now=now or timezone.now()))
    count = deals.count()
    rows = list(deals.select_related("stage", "owner", "account").order_by("-id")[:sample]) if count else []
    return PlayPreview(count=count, sample=rows, description=describe(cond))
