"""The playbooks pillar's pages: the playbook editor (ops), a play's page, and the plays on a deal."""

from django.urls import include, path

urlpatterns = [
    path("", include("playbooks.urls_editor")),
    path("", include("playbooks.urls_deal")),
]
