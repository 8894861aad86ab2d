"""The iteration pillar's pages: history import, insights, stalls."""

from django.urls import include, path

urlpatterns = [
    path("", include("iteration.views.urls_imports")),
    path("", include("iteration.views.urls_metrics")),
    path("", include("iteration.views.urls_stalls")),
]
