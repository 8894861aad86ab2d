"""Pages of the playbook editor (ops and admins edit; every member may read)."""

from django.urls import path

from playbooks.views import editor

urlpatterns = [
    path("playbooks/", editor.playbook_list, name="playbook_list"),
    path("playbooks/new/", editor.playbook_create_view, name="playbook_create"),
    path("playbooks/<int:playbook_id>/", editor.playbook_detail, name="playbook_detail"),
    path("playbooks/<int:playbook_id>/delete/", editor.playbook_delete_view, name="playbook_delete"),
    path("playbooks/<int:playbook_id>/plays/new/", editor.play_create_view, name="play_create"),
    path("plays/<int:play_id>/edit/", editor.play_edit, name="play_edit"),
    path("plays/<int:play_id>/edit/condition/", editor.play_builder, name="play_builder"),
    path("plays/<int:play_id>/edit/preview/", editor.play_preview_view, name="play_preview"),
    path("plays/<int:play_id>/edit/active/", editor.play_active_view, name="play_active"),
    path("plays/<int:play_id>/delete/", editor.play_delete_view, name="play_delete"),
    path("plays/<int:play_id>/questions/", editor.question_add_view, name="play_question_add"),
    path(
        "plays/<int:play_id>/questions/<int:question_id>/delete/",
        editor.question_delete_view,
        name="play_question_delete",
    ),
    path("plays/<int:play_id>/resources/", editor.resource_add_view, name="play_resource_add"),
    path(
        "plays/<int:play_id>/resources/<int:resource_id>/delete/",
        editor.resource_delete_view,
        name="play_resource_delete",
    ),
    path("plays/<int:play_id>/steps/", editor.step_add_view, name="play_step_add"),
    path(
        "plays/<int:play_id>/steps/<int:play_step_id>/delete/",
        editor.step_delete_view,
        name="play_step_delete",
    ),
    path("play-evaluations/<int:evaluation_run_id>/", editor.play_run_status, name="play_evaluation_status"),
]
