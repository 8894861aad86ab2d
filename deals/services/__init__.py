"""Every write that matters to a deal. Pages, API, importers and the demo seeder all call these."""

from deals.services.moves import (
    deal_create,
    deal_lose,
    deal_move,
    deal_update,
    deal_win,
)
from deals.services.people import account_create, account_update, contact_create, contact_update
from deals.services.plan import (
    activity_log,
    answer_set,
    stakeholder_add,
    stakeholder_remove,
    stakeholder_update,
    step_add,
    step_comment_add,
    step_comment_delete,
    step_delete,
    step_move,
    step_set_done,
    step_update,
    steps_reorder,
)

__all__ = [
    "account_create",
    "account_update",
    "activity_log",
    "answer_set",
    "contact_create",
    "contact_update",
    "deal_create",
    "deal_lose",
    "deal_move",
    "deal_update",
    "deal_win",
    "stakeholder_add",
    "stakeholder_remove",
    "stakeholder_update",
    "step_add",
    "step_comment_add",
    "step_comment_delete",
    "step_delete",
    "step_move",
    "step_set_done",
    "step_update",
    "steps_reorder",
]
