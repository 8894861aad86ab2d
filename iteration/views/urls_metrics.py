"""Pages for the insights of a process."""

from django.urls import path

from iteration.views import insights, suggestions

urlpatterns = [
    path("insights/", insights.insights_default, name="insights_default"),
    path("processes/<int:process_id>/insights/", insights.insights, name="insights"),
    path("processes/<int:process_id>/insights/refresh/", insights.insights_refresh, name="insights_refresh"),
    path("insights/runs/<int:run_id>/", insights.insights_run, name="insights_run"),
    path(
        "suggestions/<int:suggestion_id>/apply/", suggestions.suggestion_apply_view, name="suggestion_apply"
    ),
    path(
        "suggestions/<int:suggestion_id>/dismiss/",
        suggestions.suggestion_dismiss_view,
        name="suggestion_dismiss",
    ),
]
