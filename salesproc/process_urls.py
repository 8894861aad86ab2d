"""The process pages (ops and admins): the list with create, import and export, and the editor."""

from django.urls import path

from salesproc import views

urlpatterns = [
    path("process/", views.process_list, name="process_list"),
    path("process/new/", views.process_create_view, name="process_create"),
    path("process/import/", views.process_import_view, name="process_import"),
    path("process/<int:process_id>/", views.process_detail, name="process_detail"),
    path("process/<int:process_id>/export/", views.process_export_view, name="process_export"),
    path("process/<int:process_id>/stages/", views.stage_add_view, name="stage_add"),
    path("process/<int:process_id>/stages/order/", views.stage_reorder_view, name="stage_reorder"),
    path("process/<int:process_id>/stages/<int:stage_id>/", views.stage_card, name="stage_card"),
    path(
        "process/<int:process_id>/stages/<int:stage_id>/edit/", views.stage_update_view, name="stage_update"
    ),
    path("process/<int:process_id>/stages/<int:stage_id>/move/", views.stage_move_view, name="stage_move"),
    path(
        "process/<int:process_id>/stages/<int:stage_id>/delete/", views.stage_delete_view, name="stage_delete"
    ),
    path(
        "process/<int:process_id>/stages/<int:stage_id>/criteria/",
        views.criterion_add_view,
        name="criterion_add",
    ),
    path(
        "process/<int:process_id>/criteria/<int:criterion_id>/",
        views.criterion_update_view,
        name="criterion_update",
    ),
    path(
        "process/<int:process_id>/criteria/<int:criterion_id>/delete/",
        views.criterion_delete_view,
        name="criterion_delete",
    ),
]
