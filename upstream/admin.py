"""Django admin for promotions: for support, read-only. Promotions are proposed, accepted and dismissed
through upstream.services (the deal plan, /upstream/ or the API), which check roles and states and write
the play or the exit criterion through their own services."""

from django.contrib import admin

from salesproc.admin import ReadOnlyAdmin
from upstream.models import Promotion, PromotionStep


@admin.register(Promotion)
class PromotionAdmin(ReadOnlyAdmin):
    list_display = ("title", "origin", "target", "status", "created_at", "decided_at", "organization")
    list_filter = ("status", "origin", "target", "organization")
    search_fields = ("title", "description", "signature")
    list_select_related = ("organization",)


@admin.register(PromotionStep)
class PromotionStepAdmin(ReadOnlyAdmin):
    list_display = ("promotion", "step", "organization")
    list_filter = ("organization",)
    search_fields = ("promotion__title", "step__title")
    list_select_related = ("promotion", "step", "organization")
