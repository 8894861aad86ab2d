"""Triggering: which plays are attached to which deals, kept true as deals and plays change.

Two paths that reach the same state (a test checks it on a mixed set of deals and plays):

- `deal_plays_evaluate` — one deal, every play that applies to it, in Python (`conditions.evaluate`).
  Called after commit whenever a deal's relevant data changes (`deal_plays_refresh_on_commit`, from the
  deal services). A fixed number of queries however many plays the organization has.
- `play_reevaluate` — one play, every open deal of its processes, in SQL (`conditions.to_q`): one query
  finds the matching deals, then the differences are written in chunks with set-based statements. Run
  as a Celery job (`PlayEvaluationRun`, polled for progress) after a play or its playbook changes,
  and nightly for the plays whose conditions read a field that changes with time alone (days in
  stage, stakeholder gaps: `time_based_plays_reevaluate`).

What "attached" means on both paths:
- a play applies to a deal when the play and its playbook are active and the playbook's process is the
  deal's (or empty: every process). Only open deals have plays: closing a deal detaches them all;
- a newly matching play gets a `DealPlay` (with `why` = `conditions.explain`) and its steps join the
  plan as `DealStep(source="play")`, after the steps already there;
- a play that stops matching is detached (`detached_at`); its open steps leave the plan, completed
  ones stay with their history;
- steps a play gained while attached are added; re-running changes nothing (the unique constraints
  `deal_play_one_open_per_deal_play` and `deal_step_once_per_play_step` back this under concurrency).

Concurrency: `deal_plays_evaluate` holds the deal's row lock (FOR UPDATE); each chunk of
`play_reevaluate` takes a key-share lock on its deals, which conflicts with that lock but not with
ordinary deal edits. A deal edited while a chunk holds it is evaluated again after the chunk commits,
by the edit's own after-commit evaluation, so the last word is always from the latest data. Chunks of
one play are serialized by the play's row lock, and a run whose play changed under it stops
(superseded by the run the change queued).
"""

from playbooks.triggering.bulk import CHUNK_SIZE, PlayReevaluation, play_reevaluate
from playbooks.triggering.conditions import play_condition
from playbooks.triggering.deal import DealPlaysResult, deal_plays_evaluate, deal_plays_refresh_on_commit
from playbooks.triggering.runs import (
    play_evaluation_request,
    play_evaluation_run_execute,
    time_based_plays_reevaluate,
)

__all__ = [
    "CHUNK_SIZE",
    "DealPlaysResult",
    "PlayReevaluation",
    "deal_plays_evaluate",
    "deal_plays_refresh_on_commit",
    "play_condition",
    "play_evaluation_request",
    "play_evaluation_run_execute",
    "play_reevaluate",
    "time_based_plays_reevaluate",
]
