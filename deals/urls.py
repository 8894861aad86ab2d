"""The rep-facing deal pages: pipeline board, deal list, deal page and its actions."""

from django.urls import path

from deals.views import board, deal_page, edit, plan

urlpatterns = [
    path("pipeline/", board.board_default, name="board_default"),
    path("pipeline/<int:process_id>/", board.board, name="board"),
    path(
        "pipeline/<int:process_id>/stages/<int:stage_id>/cards/",
        board.board_column,
        name="board_column",
    ),
    path("deals/", edit.deal_list, name="deal_list"),
    path("deals/new/", edit.deal_create_view, name="deal_create"),
    path("deals/new/accounts/", edit.deal_account_options, name="deal_account_options"),
    path("deals/<int:deal_id>/", deal_page.deal_detail, name="deal_detail"),
    path("deals/<int:deal_id>/edit/", edit.deal_edit, name="deal_edit"),
    path("deals/<int:deal_id>/move/", deal_page.deal_move_view, name="deal_move"),
    path("deals/<int:deal_id>/win/", deal_page.deal_win_view, name="deal_win"),
    path("deals/<int:deal_id>/lose/", deal_page.deal_lose_view, name="deal_lose"),
    path("deals/<int:deal_id>/steps/", plan.step_add_view, name="step_add"),
    path("deals/<int:deal_id>/steps/assignees/", plan.step_assignee_options, name="step_assignee_options"),
    path("deals/<int:deal_id>/steps/reorder/", plan.steps_reorder_view, name="steps_reorder"),
    path("deals/<int:deal_id>/steps/<int:step_id>/done/", plan.step_toggle, name="step_toggle"),
    path("deals/<int:deal_id>/steps/<int:step_id>/edit/", plan.step_edit, name="step_edit"),
    path("deals/<int:deal_id>/steps/<int:step_id>/delete/", plan.step_delete_view, name="step_delete"),
    path("deals/<int:deal_id>/steps/<int:step_id>/move/", plan.step_move_view, name="step_move"),
    path("deals/<int:deal_id>/steps/<int:step_id>/comments/", plan.step_thread, name="step_thread"),
    path(
        "deals/<int:deal_id>/steps/<int:step_id>/comments/<int:comment_id>/delete/",
        plan.step_comment_delete_view,
        name="step_comment_delete",
    ),
    path("deals/<int:deal_id>/stakeholders/", plan.stakeholder_add_view, name="stakeholder_add"),
    path(
        "deals/<int:deal_id>/stakeholders/contacts/",
        plan.stakeholder_contact_options,
        name="stakeholder_contact_options",
    ),
    path(
        "deals/<int:deal_id>/stakeholders/<int:stakeholder_id>/",
        plan.stakeholder_edit,
        name="stakeholder_edit",
    ),
    path(
        "deals/<int:deal_id>/stakeholders/<int:stakeholder_id>/remove/",
        plan.stakeholder_remove_view,
        name="stakeholder_remove",
    ),
    path("deals/<int:deal_id>/activities/", plan.activity_add, name="activity_add"),
    path("deals/<int:deal_id>/answers/<int:criterion_id>/", plan.answer_set_view, name="answer_set"),
]
