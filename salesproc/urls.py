"""URL map: each app owns its pages; the API lives under /api/."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("salesproc.api_urls")),
    path("", include("orgs.urls")),
    path("", include("salesproc.process_urls")),
    path("", include("deals.urls")),
    path("", include("deals.urls_people")),
    path("", include("iteration.urls")),
    path("", include("playbooks.urls")),
    path("", include("strategy.urls")),
    path("", include("scorecards.urls")),
    path("", include("journey.urls")),
    path("", include("upstream.urls")),
]
