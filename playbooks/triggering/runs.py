"""Runs: the Celery job behind `play_reevaluate`, with a row the play page polls."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from orgs.models import Membership
from playbooks.conditions.language import TIME_BASED_FIELDS
from playbooks.models import Play, PlayEvaluationRun, PlayEvaluationStatus
from playbooks.triggering.bulk import play_reevaluate
from playbooks.triggering.conditions import play_conditions


def _abandon_stuck_runs(play_id: int) -> None:
    limit = timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT * 2)
    PlayEvaluationRun.objects.filter(
        play_id=play_id, status=PlayEvaluationStatus.RUNNING, started_at__lt=limit
    ).update(
        status=PlayEvaluationStatus.FAILED,
        error="Abandoned: the run did not finish within the task time limit.",
        finished_at=timezone.now(),
    )


def play_evaluation_request(*, play: Play, by: Membership | None = None) -> PlayEvaluationRun:
    """Queue a re-evaluation of the play across its open deals, after the current transaction commits;
    or join the run already queued for it (which has not read the play yet, so it covers this change
    too). Returns the run to poll."""
    _abandon_stuck_runs(play.pk)
    try:
        with transaction.atomic():
            run = PlayEvaluationRun.objects.create(
                organization_id=play.organization_id,
                play_id=play.pk,
                requested_by_id=by.user_id if by is not None else None,
            )
    except IntegrityError:
        # Lock the queued run until this transaction commits: its task cannot claim it (and read the
        # play) before this change is visible.
        queued = (
            PlayEvaluationRun.objects.select_for_update()
            .filter(play_id=play.pk, status=PlayEvaluationStatus.QUEUED)
            .first()
        )
        if queued is not None:
            return queued
        raise
    from playbooks.tasks import reevaluate_play

    reevaluate_play.delay_on_commit(run.pk)
    return run


def play_evaluation_run_execute(run_id: int) -> bool:
    """Run a queued PlayEvaluationRun. False when there was nothing to do (claimed already by another
    delivery of the task, or gone): a redelivered task is harmless."""
    claimed = PlayEvaluationRun.objects.filter(pk=run_id, status=PlayEvaluationStatus.QUEUED).update(
        status=PlayEvaluationStatus.RUNNING, started_at=timezone.now()
    )
    if not claimed:
        return False
    run = PlayEvaluationRun.objects.get(pk=run_id)

    def report(done: int, total: int) -> None:
        PlayEvaluationRun.objects.filter(pk=run_id).update(done=done, total=total)

    try:
        result = play_reevaluate(play_id=run.play_id, progress=report)
    except Exception as exc:
        PlayEvaluationRun.objects.filter(pk=run_id).update(
            status=PlayEvaluationStatus.FAILED,
            error=f"{type(exc).__name__}: {exc}"[:2000],
            finished_at=timezone.now(),
        )
        raise
    PlayEvaluationRun.objects.filter(pk=run_id).update(
        status=PlayEvaluationStatus.SUPERSEDED if result.superseded else PlayEvaluationStatus.DONE,
        attached=result.attached,
        detached=result.detached,
        finished_at=timezone.now(),
    )
    return True


# Finished runs are kept this long for the play page and the API; the nightly job prunes older ones
# (a play's latest run is always kept).
RUN_KEEP_DAYS = 30


def evaluation_runs_prune(*, now=None) -> int:
    """Delete finished runs (done, superseded, failed) older than RUN_KEEP_DAYS, except each play's
    latest run. One statement; returns how many were deleted."""
    limit = (now or timezone.now()) - timedelta(days=RUN_KEEP_DAYS)
    latest = PlayEvaluationRun.objects.filter(play_id=OuterRef("play_id")).order_by("-created_at", "-id")
    deleted, _ = (
        PlayEvaluationRun.objects.filter(
            status__in=[
                PlayEvaluationStatus.DONE,
                PlayEvaluationStatus.SUPERSEDED,
                PlayEvaluationStatus.FAILED,
            ],
            created_at__lt=limit,
        )
        .exclude(pk=Subquery(latest.values("pk")[:1]))
        .delete()
    )
    return deleted


def time_based_plays_reevaluate() -> list[int]:
    """Queue a bulk re-evaluation (`play_evaluation_request`) of every active play of an active
    playbook whose condition reads a field that changes with time alone (TIME_BASED_FIELDS: days in
    stage, stakeholder gaps — a deal becomes single-threaded when an activity turns 31 days old, with
    no edit to re-evaluate it). Run nightly by Celery beat; it first prunes old finished runs
    (evaluation_runs_prune). Each run is the set-based job a play edit
    starts, so a night costs one run per such play, not a task per deal; a run already queued for a
    play is joined. Returns the ids of the plays queued."""
    plays = list(
        Play.objects.filter(active=True, playbook__active=True)
        .order_by("id")
        .values_list("id", "version", "updated_at")
    )
    conds = play_conditions(plays)
    queued = [pid for pid, cond in conds.items() if cond.fields & TIME_BASED_FIELDS]
    # A run a night per such play adds up: old finished runs go.
    evaluation_runs_prune()
    for play in Play.objects.filter(pk__in=queued).order_by("id"):
        # Its own transaction: joining a queued run locks it (select_for_update), and the run's task
        # is sent when this commits.
        with transaction.atomic():
            play_evaluation_request(play=play)
    return queued
