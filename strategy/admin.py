"""Django admin for the strategy pillar: for support, read-only.

Every write here goes through the services on the deal page or the API: a strategy save bumps its
version and records a revision, a comment resolves its @mentions and notifies people. Editing these
rows in the admin would skip all of that, so the admin lists and shows them only."""

from django.contrib import admin

from salesproc.admin import ReadOnlyAdmin
from strategy.models import DealComment, DealStrategy, Notification, StrategyRevision


@admin.register(DealStrategy)
class DealStrategyAdmin(ReadOnlyAdmin):
    list_display = ("deal", "version", "updated_by", "updated_at", "organization")
    list_filter = ("organization",)
    search_fields = ("deal__name", "situation", "risks")
    list_select_related = ("deal", "updated_by", "organization")


@admin.register(StrategyRevision)
class StrategyRevisionAdmin(ReadOnlyAdmin):
    list_display = ("strategy", "version", "by", "at", "organization")
    list_filter = ("organization",)
    search_fields = ("strategy__deal__name",)
    list_select_related = ("strategy", "by", "organization")


@admin.register(DealComment)
class DealCommentAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "deal", "author", "is_coaching", "created_at", "organization")
    list_filter = ("is_coaching", "organization")
    search_fields = ("body", "deal__name")
    list_select_related = ("deal", "author", "organization")


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = (
        "recipient",
        "kind",
        "deal",
        "actor",
        "created_at",
        "read_at",
        "emailed_at",
        "organization",
    )
    list_filter = ("kind", "organization")
    search_fields = ("recipient__email", "deal__name")
    list_select_related = ("recipient", "deal", "actor", "organization")
