"""Every write to playbooks and plays, and a deal's answers to their questions. Pages, API and the demo
seeder call these. Which plays are attached to which deals is `playbooks.triggering`'s job."""

from playbooks.services.answers import play_answer_set
from playbooks.services.common import StalePlay
from playbooks.services.content import (
    MAX_RESOURCE_BYTES,
    play_question_add,
    play_question_delete,
    play_question_reorder,
    play_question_update,
    play_resource_add,
    play_resource_delete,
    play_step_add,
    play_step_delete,
    play_step_reorder,
    play_step_update,
)
from playbooks.services.plays import (
    play_create,
    play_delete,
    play_set_active,
    play_update,
    playbook_create,
    playbook_delete,
    playbook_update,
)

__all__ = [
    "MAX_RESOURCE_BYTES",
    "StalePlay",
    "play_answer_set",
    "play_create",
    "play_delete",
    "play_question_add",
    "play_question_delete",
    "play_question_reorder",
    "play_question_update",
    "play_resource_add",
    "play_resource_delete",
    "play_set_active",
    "play_step_add",
    "play_step_delete",
    "play_step_reorder",
    "play_step_update",
    "play_update",
    "playbook_create",
    "playbook_delete",
    "playbook_update",
]
