"""The scorecard pages: a process's scorecard (ops) and the deal page's qualification section."""

from django.urls import path

from scorecards import views

urlpatterns = [
    path("process/<int:process_id>/scorecard/", views.scorecard_page, name="process_scorecard"),
    path("process/<int:process_id>/scorecard/save/", views.scorecard_save, name="scorecard_save"),
    path(
        "process/<int:process_id>/scorecard/criteria/",
        views.criterion_add_view,
        name="scorecard_criterion_add",
    ),
    path(
        "process/<int:process_id>/scorecard/criteria/<int:scorecard_criterion_id>/",
        views.criterion_update_view,
        name="scorecard_criterion_update",
    ),
    path(
        "process/<int:process_id>/scorecard/criteria/<int:scorecard_criterion_id>/delete/",
        views.criterion_delete_view,
        name="scorecard_criterion_delete",
    ),
    path(
        "process/<int:process_id>/scorecard/criteria/<int:scorecard_criterion_id>/move/",
        views.criterion_move_view,
        name="scorecard_criterion_move",
    ),
    path("deals/<int:deal_id>/scorecard/", views.deal_scorecard_section, name="deal_scorecard"),
    path(
        "deals/<int:deal_id>/scorecard/<int:scorecard_criterion_id>/answer/",
        views.deal_scorecard_answer_view,
        name="deal_scorecard_answer",
    ),
]
