"""Celery tasks of the playbooks pillar: thin wrappers that load by id and call the triggering."""

from celery import shared_task

from playbooks.triggering import play_evaluation_run_execute


@shared_task
def reevaluate_play(run_id: int) -> bool:
    """Run one queued PlayEvaluationRun: the play re-evaluated across the open deals of its processes.
    Idempotent: a run already claimed (a duplicate or redelivered task) is left alone."""
    return play_evaluation_run_execute(run_id)
