"""Celery tasks of the playbooks pillar: thin wrappers that load by id and call the triggering."""

from celery import shared_task

from playbooks.triggering import play_evaluation_run_execute, time_based_plays_reevaluate


@shared_task
def reevaluate_play(run_id: int) -> bool:
    """Run one queued PlayEvaluationRun: the play re-evaluated across the open deals of its processes.
    Idempotent: a run already claimed (a duplicate or redelivered task) is left alone."""
    return play_evaluation_run_execute(run_id)


@shared_task
def reevaluate_time_based_plays() -> int:
    """Nightly (CELERY_BEAT_SCHEDULE): queue a bulk re-evaluation of every active play whose condition
    reads a field that changes with time alone (days in stage, stakeholder gaps). Returns how many
    plays were queued. Harmless if run twice: a second request joins the run already queued, and a
    run that finds nothing to change changes nothing."""
    return len(time_based_plays_reevaluate())
