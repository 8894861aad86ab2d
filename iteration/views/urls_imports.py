"""Pages for imports: the history import (ops and admins)."""

from django.urls import path

from iteration.views import imports

urlpatterns = [
    path("history-imports/", imports.history_import_list, name="history_import_list"),
    path("history-imports/new/", imports.history_import_create, name="history_import_create"),
    path("history-imports/<int:import_id>/", imports.history_import_detail, name="history_import_detail"),
    path(
        "history-imports/<int:import_id>/progress/",
        imports.history_import_progress,
        name="history_import_progress",
    ),
]
